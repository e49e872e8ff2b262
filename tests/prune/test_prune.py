"""Depth pruning: exact removal, scores, selection modes, and a model that is never modified."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from resnet_edge._tf import keras
from resnet_edge.config import PruneConfig
from resnet_edge.errors import ConfigError
from resnet_edge.models.config import ModelConfig
from resnet_edge.models.flops import count_keras
from resnet_edge.models.resnet import build_resnet
from resnet_edge.prune import PruneError, prune, remove_blocks, residual_blocks, score_blocks, zero_residual

CONFIG = ModelConfig(depth=14, classes=5, input_mean=(128.0,) * 3, input_std=(50.0,) * 3)  # 2 blocks per stage


def _random_model(config: ModelConfig = CONFIG, seed: int = 0) -> keras.Model:
    """Random weights everywhere, BatchNorm statistics included, so removal is tested on a non-trivial net."""
    model = build_resnet(config)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, g.shape), rng.normal(0, 0.1, b.shape),
                               rng.normal(0, 0.1, m.shape), rng.uniform(0.5, 1.5, v.shape)])  # fmt: skip
    return model


def _x(n: int = 8) -> np.ndarray:
    return np.random.default_rng(1).uniform(0, 255, (n, 32, 32, 3)).astype("float32")


@pytest.mark.parametrize("block", ["stage1_block1", "stage2_block2", "stage3_block2"])
def test_a_zeroed_block_is_removed_without_changing_the_outputs(block: str) -> None:
    model = _random_model()
    zero_residual(model, block)
    pruned, config = remove_blocks(model, CONFIG, {block})
    assert len(residual_blocks(pruned)) == len(residual_blocks(model)) - 1
    assert config.arch.depth == CONFIG.arch.depth - 2
    np.testing.assert_allclose(pruned.predict(_x(), verbose=0), model.predict(_x(), verbose=0), atol=1e-5)
    assert count_keras(pruned).macs < count_keras(model).macs


def test_exactness_holds_for_bottleneck_blocks() -> None:
    config = ModelConfig(depth=50, input_size=32, classes=5, blocks=(2, 2, 2, 2))
    model = _random_model(config)
    zero_residual(model, "stage3_block2")
    pruned, _ = remove_blocks(model, config, {"stage3_block2"})
    np.testing.assert_allclose(pruned.predict(_x(2), verbose=0), model.predict(_x(2), verbose=0), atol=1e-5)


def test_survivors_are_renumbered_with_their_weights() -> None:
    model = _random_model()
    pruned, config = remove_blocks(model, CONFIG, {"stage1_block1"})
    assert config.blocks == (1, 2, 2)
    np.testing.assert_array_equal(pruned.get_layer("stage1_block1_conv1").get_weights()[0],
                                  model.get_layer("stage1_block2_conv1").get_weights()[0])  # fmt: skip


def test_down_sampling_blocks_and_unknown_blocks_are_refused() -> None:
    model = _random_model()
    with pytest.raises(PruneError, match="change the shape"):
        remove_blocks(model, CONFIG, {"stage2_block1"})
    with pytest.raises(PruneError, match="not in model"):
        remove_blocks(model, CONFIG, {"stage9_block1"})


def test_models_without_blocks_are_refused() -> None:
    with pytest.raises(PruneError, match="no addressable residual blocks"):
        residual_blocks(keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3)))
    with pytest.raises(PruneError, match="no addressable residual blocks"):
        residual_blocks(build_resnet(ModelConfig(depth=14, plain=True)))


def test_scores_see_a_dead_block_and_restore_every_weight(tiny_data) -> None:
    model = _random_model()
    zero_residual(model, "stage2_block2")
    before = [w.copy() for w in model.get_weights()]
    scores = {s.name: s for s in score_blocks(model, tiny_data, calibration=32)}
    assert scores["stage2_block2"].residual_ratio == 0.0 and scores["stage2_block2"].accuracy_drop == 0.0
    assert scores["stage1_block2"].residual_ratio > 0 and not scores["stage2_block1"].identity
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 1.5}, "threshold 1.5 is outside [0, 1]"),
        ({"threshold": -0.1}, "outside [0, 1]"),
        ({"target_macs": 0.0}, "target MACs 0.0 is outside (0, 1]"),
        ({"target_macs": 1.2}, "outside (0, 1]"),
        ({}, "give exactly one of"),
        ({"threshold": 0.1, "target_macs": 0.5}, "give exactly one of"),
    ],
)
def test_prune_config_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        PruneConfig(**kwargs)
    assert message in str(info.value)


def test_target_macs_mode_end_to_end(tmp_path: Path, tiny_data) -> None:
    model = _random_model()
    before = [w.copy() for w in model.get_weights()]
    result = prune(model, CONFIG, tiny_data, PruneConfig(target_macs=0.8, finetune_epochs=1, batch_size=16),
                   out=tmp_path)  # fmt: skip
    assert result.final_macs <= 0.8 * result.base_macs
    for a, b in zip(before, model.get_weights(), strict=True):  # the unpruned model is untouched
        np.testing.assert_array_equal(a, b)
    report = json.loads((tmp_path / "prune.json").read_text())
    assert [s["step"] for s in report["steps"]] == [0, 1]
    assert all(s["p50_ms"] > 0 for s in report["steps"])
    assert {"block_scores.json", "block_scores.png", "pareto.png", "model.keras", "model_config.json"} <= {
        p.name for p in tmp_path.iterdir()
    }
    latency = tmp_path / "latency"  # the steps on the latency runtime (TFLite int8 by default)
    assert (latency / "step1.tflite").stat().st_size < (latency / "step0.tflite").stat().st_size


def test_distilled_fine_tuning_runs_and_keeps_a_plain_student(tmp_path: Path, tiny_data) -> None:
    model = _random_model()
    config = PruneConfig(target_macs=0.8, finetune_epochs=1, batch_size=16, distill=True)
    result = prune(model, CONFIG, tiny_data, config, out=tmp_path)
    assert result.removed and (tmp_path / "finetune" / "history.csv").exists()
    from resnet_edge.models.io import load_keras

    student = load_keras(result.model_path)
    assert student.name.startswith("resnet") and len(residual_blocks(student)) < len(residual_blocks(model))


def test_cli_prune_errors_leave_the_model_alone(tmp_path: Path, capsys) -> None:
    from resnet_edge.cli import main

    run = tmp_path / "run"
    run.mkdir()
    model_path = run / "model.keras"
    _random_model().save(model_path)
    stamp = model_path.stat().st_mtime_ns
    cases = [
        (["--threshold", "1.5"], "threshold 1.5 is outside [0, 1]"),
        (["--target-macs", "0"], "target MACs 0.0 is outside (0, 1]"),
        (["--threshold", "0.1", "--out", str(run)], "is the unpruned model's folder"),
        (["--threshold", "0.1"], "model_config.json"),  # no config beside the model
    ]
    for args, message in cases:
        out = ["--out", str(tmp_path / "pruned")] if "--out" not in args else []
        code = main(["prune", "--model", str(model_path), *out, *args])
        err = capsys.readouterr().err
        assert code == 2 and message in err and err.count("\n") == 1, (args, err)
    plain = tmp_path / "plain.keras"
    build_resnet(ModelConfig(depth=14, plain=True)).save(plain)
    (tmp_path / "model_config.json").write_text(json.dumps(ModelConfig(depth=14, plain=True).to_dict()))
    assert main(["prune", "--model", str(plain), "--out", str(tmp_path / "p2"), "--threshold", "0.1"]) == 2
    assert "no addressable residual blocks" in capsys.readouterr().err
    assert model_path.stat().st_mtime_ns == stamp


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_a_down_sampling_block_reduced_to_its_shortcut_is_exact(shortcut: str) -> None:
    config = replace(CONFIG, shortcut=shortcut)
    model = _random_model(config)
    zero_residual(model, "stage2_block1")
    with pytest.raises(PruneError, match="--prune-downsample"):
        remove_blocks(model, config, {"stage2_block1"})
    pruned, new_config = remove_blocks(model, config, {"stage2_block1"}, downsample=True)
    assert new_config.shortcut_only == (2,) and new_config.blocks == (2, 2, 2)
    np.testing.assert_allclose(pruned.predict(_x(), verbose=0), model.predict(_x(), verbose=0), atol=1e-5)
    # a later removal in the same stage keeps the reduced block in place
    zero_residual(pruned, "stage2_block2")
    again, third = remove_blocks(pruned, new_config, {"stage2_block2"})
    assert third.blocks == (2, 1, 2) and third.shortcut_only == (2,)
    np.testing.assert_allclose(again.predict(_x(), verbose=0), pruned.predict(_x(), verbose=0), atol=1e-5)


def test_residual_scales_fold_exactly_into_the_branch() -> None:
    from resnet_edge.prune import fold_residual_scales, residual_scales

    config = replace(CONFIG, residual_l1=0.01)
    model = _random_model(config)
    rng = np.random.default_rng(3)
    for name in residual_scales(model):
        model.get_layer(f"{name}_scale").set_weights([np.float32(rng.uniform(-0.5, 1.5))])
    assert sum(layer.losses != [] for layer in model.layers) > 0  # the L1 penalty is in the loss
    folded, folded_config = fold_residual_scales(model, config)
    assert folded_config.residual_l1 is None and not any("scale" in layer.name for layer in folded.layers)
    np.testing.assert_allclose(folded.predict(_x(), verbose=0), model.predict(_x(), verbose=0), atol=1e-5)


def test_sparsify_phase_runs_before_scoring(tmp_path: Path, tiny_data) -> None:
    config = PruneConfig(target_macs=0.9, sparsify_epochs=2, finetune_epochs=0, batch_size=16)
    result = prune(_random_model(), CONFIG, tiny_data, config, out=tmp_path)
    scales = json.loads((tmp_path / "residual_scales.json").read_text())
    assert len(scales) == 6 and all(abs(s) < 1.0 for s in scales.values())  # the penalty pulled them down
    assert result.final_macs <= 0.9 * result.base_macs


def test_accuracy_budget_search_records_every_step_and_respects_the_budget(tmp_path: Path, tiny_data) -> None:
    config = PruneConfig(max_accuracy_drop=100.0, step_blocks=2, step_epochs=1, batch_size=16, patience=1)
    result = prune(_random_model(), CONFIG, tiny_data, config, out=tmp_path)
    report = json.loads((tmp_path / "prune.json").read_text())
    accepted = [s for s in report["steps"] if s["accepted"]]
    assert len(accepted) >= 2 and result.removed  # a 100-point budget accepts every removable block
    assert result.final_macs < result.base_macs
    assert all(s["p50_ms"] > 0 for s in accepted)  # on TFLite int8 (the default runtime), interleaved
    assert all(s["p50_ms"] is None for s in report["steps"] if not s["accepted"])  # rejected: not candidates
    assert report["latency"] == {"runtime": "tflite-int8", "threads": 2, "size": 32}
    assert {"fine-tune", "score", "latency", "total"} <= set(report["seconds"])
    assert [s["depth"] for s in accepted] == sorted((s["depth"] for s in accepted), reverse=True)


def test_interrupting_the_search_keeps_the_last_accepted_step(tmp_path: Path, tiny_data, monkeypatch) -> None:
    """Ctrl-C during a step ends the search; the last accepted model is measured and saved as usual."""
    import resnet_edge.prune as prune_module

    real, calls = prune_module._finetune, []

    def finetune_then_interrupt(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(prune_module, "_finetune", finetune_then_interrupt)
    config = PruneConfig(max_accuracy_drop=100.0, step_blocks=1, step_epochs=1, batch_size=16)
    result = prune(_random_model(), CONFIG, tiny_data, config, out=tmp_path)
    report = json.loads((tmp_path / "prune.json").read_text())
    assert report["chosen_step"] == 1 and len(result.removed) == 1 and (tmp_path / "model.keras").is_file()


def test_budget_search_undoes_retries_sets_aside_and_stops_after_patience(
    tmp_path: Path, tiny_data, monkeypatch
) -> None:
    """The search's rules (the docstring of _budget_search) on a scripted accuracy, the steps worked out by hand.

    `keras_accuracy` is replaced by an oracle that reads which blocks of the unpruned model a model holds (each
    block is recognised by its first convolution's kernel, wherever renumbering puts it: step_epochs=0, so no
    weight changes): 80 % minus, per block, its ablation cost when its branch is zeroed (what scoring sees, so
    these set the removal order) or its removal cost when it is gone (what a step sees after fine-tuning).
    Budget 2 points: a step is kept at >= 78 %.
    """
    import resnet_edge.prune as prune_module
    from resnet_edge.models.io import load_keras

    config = ModelConfig(depth=26, classes=5, input_mean=(128.0,) * 3, input_std=(50.0,) * 3)  # 4 blocks per stage
    model = _random_model(config)
    # scoring's accuracy drop per block sets the removal order; the down-sampling blocks are scored, never removed
    ablation = {"stage1_block1": 0.1, "stage2_block2": 0.2, "stage1_block2": 0.3, "stage3_block2": 0.4,
                "stage1_block3": 0.5, "stage3_block3": 0.6, "stage1_block4": 0.7, "stage2_block3": 0.8,
                "stage2_block4": 0.9, "stage3_block4": 1.0, "stage2_block1": 5.0, "stage3_block1": 5.0}  # fmt: skip
    removal = {"stage1_block1": 0.5, "stage2_block2": 2.0, "stage1_block2": 0.5, "stage3_block2": 1.2,
               "stage1_block3": 1.4, "stage3_block3": 0.1, "stage1_block4": 0.1, "stage2_block3": 0.1,
               "stage2_block4": 0.1, "stage3_block4": 0.1}  # fmt: skip
    origin_of = {model.get_layer(f"{name}_conv1").get_weights()[0].tobytes(): name for name in ablation}
    assert len(origin_of) == len(ablation) == len(residual_blocks(model)) == 12

    def held(m: keras.Model) -> dict[str, bool]:
        """{unpruned-model name: is its residual branch zeroed} of every block `m` holds."""
        found = {}
        for layer in m.layers:
            if match := re.fullmatch(r"(stage\d+_block\d+)_conv1", layer.name):
                zeroed = not m.get_layer(f"{match[1]}_bn2").get_weights()[0].any()  # gamma, as zero_residual leaves it
                found[origin_of[layer.get_weights()[0].tobytes()]] = zeroed
        return found

    judged = []

    def oracle(m: keras.Model, x, y, batch_size: int = 256) -> float:
        blocks = held(m)
        judged.append(frozenset(blocks))
        zeroed = sum(ablation[n] for n, z in blocks.items() if z)
        return 80.0 - zeroed - sum(cost for n, cost in removal.items() if n not in blocks)

    def oracle_classes(m: keras.Model, x) -> np.ndarray:
        """The scripted accuracy as predictions on VALIDATION_SIZE images (label 0): the first k right, the rest
        wrong, so two models' paired drop is exactly the difference of their accuracies."""
        right = round(oracle(m, x, None) / 100 * len(x))
        return np.where(np.arange(len(x)) < right, 0, 1)

    monkeypatch.setattr(prune_module, "val_accuracy", oracle)
    monkeypatch.setattr(prune_module, "predict_classes", oracle_classes)
    data = replace(tiny_data, x_val=np.zeros((1000, 32, 32, 3), np.uint8), y_val=np.zeros(1000, np.int32))
    # latency (a TFLite conversion per step: 26 s of 29 s at depth 20) is measured by the budget test above
    monkeypatch.setattr(prune_module, "_measure_latency",
                        lambda steps, *_: [replace(s, p50_ms=1.0 + s.step) for s in steps])  # fmt: skip
    prune_config = PruneConfig(max_accuracy_drop=2.0, step_blocks=2, patience=2, step_epochs=0, batch_size=16,
                               calibration_batches=1)  # fmt: skip
    result = prune(model, config, data, prune_config, out=tmp_path)
    report = json.loads((tmp_path / "prune.json").read_text())

    # (blocks the step removed, named as in the unpruned model; kept; accuracy; blocks per stage of its model)
    expected = [
        ((), True, 80.0, (4, 4, 4)),  # the unpruned model
        (("stage1_block1", "stage2_block2"), False, 77.5, (3, 3, 4)),  # 80 - 0.5 - 2.0 < 78: undone
        (("stage1_block1",), True, 79.5, (3, 4, 4)),  # the rejected multi-block step's first block alone
        (("stage2_block2",), False, 77.5, (3, 3, 4)),  # a single block over budget is set aside ...
        (("stage1_block2",), True, 79.0, (2, 4, 4)),  # ... and the next candidate tried (block 1 of its model)
        (("stage3_block2",), False, 77.8, (2, 4, 3)),  # set aside: 1 rejection in a row
        (("stage1_block3",), False, 77.6, (1, 4, 4)),  # set aside: 2 in a row = patience, the search ends
    ]  # five candidates (removal cost 0.1 each, within budget) are never tried
    steps = report["steps"]
    assert [s["step"] for s in steps] == list(range(len(expected)))
    for s, (removed, kept, accuracy, blocks) in zip(steps, expected, strict=True):
        assert (tuple(s["removed"]), s["accepted"], tuple(s["blocks"])) == (removed, kept, blocks), s
        assert s["val_accuracy"] == pytest.approx(accuracy) and s["depth"] == 2 * sum(blocks) + 2, s
    # each step's model held exactly the unpruned blocks less the accepted removals before it and its own
    for s in steps[1:]:
        gone = {n for t in steps[1 : s["step"]] if t["accepted"] for n in t["removed"]} | set(s["removed"])
        assert frozenset(ablation) - gone in judged, s

    # the chosen step is the last accepted one; model.keras and model_config.json are its model
    assert report["chosen_step"] == 4 and report["base_accuracy"] == 80.0
    assert result.removed == ("stage1_block1", "stage1_block2") and result.final_accuracy == pytest.approx(79.0)
    saved = load_keras(tmp_path / "model.keras")
    assert held(saved) == {n: False for n in ablation if n not in result.removed}  # the survivors, weights intact
    assert 2 * len(residual_blocks(saved)) + 2 == result.model_config.arch.depth == steps[4]["depth"] == 22
    assert json.loads((tmp_path / "model_config.json").read_text())["blocks"] == [2, 4, 4]


def test_the_escape_budget_binds_before_the_accuracy_budget(tmp_path: Path, tiny_data, monkeypatch) -> None:
    """Scripted predictions: every removed block passes 3 more defective parts as good (3 of 800 defects: +0.375
    points of escape rate, 0.3 points of accuracy). With --max-escape-increase 0.5 and a 5-point accuracy budget,
    one block may go (+0.375), a second may not (+0.75): the escape budget binds, and the log says so."""
    import resnet_edge.prune as prune_module

    model = _random_model()  # ResNet-14: 6 blocks
    labels = np.arange(1000, dtype=np.int32) % 5  # class 0 is 'good' in the built-in set
    data = replace(tiny_data, x_val=np.zeros((1000, 32, 32, 3), np.uint8), y_val=labels)
    assert data.class_names[0] == "good" and data.good == 0

    def scripted(m: keras.Model, x) -> np.ndarray:
        if len(x) == len(tiny_data.y_test):  # the test split: whatever the model, all right
            return tiny_data.y_test.copy()
        removed = 6 - sum(bool(re.fullmatch(r"stage\d+_block\d+_conv1", layer.name)) for layer in m.layers)
        pred = labels[: len(x)].copy()  # validation, or its first 500 images when re-scoring
        pred[np.flatnonzero(pred != 0)[: 3 * removed]] = 0  # escapes
        return pred

    monkeypatch.setattr(prune_module, "predict_classes", scripted)
    monkeypatch.setattr(prune_module, "_measure_latency", lambda steps, *_: steps)
    config = PruneConfig(max_accuracy_drop=5.0, max_escape_increase=0.5, step_epochs=0, patience=2, batch_size=16,
                         calibration_batches=1)  # fmt: skip
    result = prune(model, CONFIG, data, config, out=tmp_path)
    steps = json.loads((tmp_path / "prune.json").read_text())["steps"]
    assert [s["accepted"] for s in steps] == [True, True, False, False]  # patience 2 ends it
    assert len(result.removed) == 1 and result.model_config.arch.depth == CONFIG.arch.depth - 2
    rejected = steps[2]
    assert rejected["val_drop"]["value"] == pytest.approx(0.6)  # within the 5-point accuracy budget
    assert pytest.approx(0.75) == 100 * 6 / 800  # the escape increase that broke the 0.5-point budget


def test_escape_budget_needs_a_pass_class(tmp_path: Path, tiny_data, capsys) -> None:
    data = replace(tiny_data, good=None)
    with pytest.raises(ConfigError, match="needs a pass class"):
        prune(_random_model(), CONFIG, data, PruneConfig(max_accuracy_drop=1.0, max_escape_increase=0.5), out=tmp_path)
