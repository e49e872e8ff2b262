"""The latency-target search on a scripted accuracy and a scripted latency, the steps worked out by hand: the
candidates ranked by accuracy lost per millisecond saved, a step no larger than the costs say is needed, the
search ending when the target is met, and the accuracy budget binding first when it does."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from resnet_edge._tf import keras
from resnet_edge.bench import Ratio
from resnet_edge.config import LatencyTarget, PruneConfig, TargetRuntime
from resnet_edge.errors import ConfigError
from resnet_edge.models.config import ModelConfig
from resnet_edge.models.resnet import build_resnet
from resnet_edge.prune import prune, residual_blocks
from resnet_edge.prune.latency import Timed

CONFIG = ModelConfig(depth=26, classes=5, input_mean=(128.0,) * 3, input_std=(50.0,) * 3)  # 4 blocks per stage
COST_MS = {1: 1.0, 2: 2.0, 3: 4.0}  # a block of stage s; plus 2 ms for stem and head: (4, 4, 4) blocks = 30 ms
# scoring's accuracy drop per block; per millisecond that block saves: 0.2 0.3 0.1 0.4 | 0.1 0.25 0.3 | 0.1 0.2 0.3
ABLATION = {"stage1_block1": 0.2, "stage1_block2": 0.3, "stage1_block3": 0.1, "stage1_block4": 0.4,
            "stage2_block1": 5.0, "stage2_block2": 0.2, "stage2_block3": 0.5, "stage2_block4": 0.6,
            "stage3_block1": 5.0, "stage3_block2": 0.4, "stage3_block3": 0.8, "stage3_block4": 1.2}  # fmt: skip


def scripted_ms(blocks: tuple[int, ...]) -> float:
    return 2.0 + sum(COST_MS[s] * n for s, n in enumerate(blocks, 1))


class ScriptedProbe:
    """Stands in for LatencyProbe: a model's latency is scripted_ms of its blocks per stage, measured exactly."""

    runtime, threads, size, label = TargetRuntime.TFLITE_INT8, 2, None, "scripted"

    def __init__(self, *args) -> None:
        self.blocks: dict[str, tuple[int, ...]] = {}

    def artifact(self, name: str, model: keras.Model, model_config: ModelConfig) -> Path:
        self.blocks[name] = model_config.arch.blocks
        return Path(name)

    def measure(self, names: list[str], config=None) -> dict[str, Timed]:
        base = scripted_ms(self.blocks[names[0]])
        out = {}
        for n in names:
            r = scripted_ms(self.blocks[n]) / base
            out[n] = Timed(scripted_ms(self.blocks[n]), Ratio(r, r, r))
        return out


def _scripted(monkeypatch, tiny_data, removal: dict[str, float]):
    """Model, data and oracle as in test_prune's budget test: 80 % less each zeroed block's ablation drop, less
    each removed block's `removal` cost; latency by ScriptedProbe."""
    import resnet_edge.prune as prune_module

    model = build_resnet(CONFIG)
    origin_of = {model.get_layer(f"{n}_conv1").get_weights()[0].tobytes(): n for n in ABLATION}

    def oracle(m: keras.Model, x, y=None) -> float:
        held = {}
        for layer in m.layers:
            if match := re.fullmatch(r"(stage\d+_block\d+)_conv1", layer.name):
                zeroed = not m.get_layer(f"{match[1]}_bn2").get_weights()[0].any()
                held[origin_of[layer.get_weights()[0].tobytes()]] = zeroed
        return (
            80.0 - sum(ABLATION[n] for n, z in held.items() if z) - sum(c for n, c in removal.items() if n not in held)
        )

    def classes(m: keras.Model, x) -> np.ndarray:
        right = round(oracle(m, x) / 100 * len(x))
        return np.where(np.arange(len(x)) < right, 0, 1)

    monkeypatch.setattr(prune_module, "val_accuracy", oracle)
    monkeypatch.setattr(prune_module, "predict_classes", classes)
    monkeypatch.setattr(prune_module, "LatencyProbe", ScriptedProbe)
    monkeypatch.setattr(prune_module, "block_costs", lambda probe, variants, unpruned: dict(COST_MS))
    data = replace(tiny_data, x_val=np.zeros((1000, 32, 32, 3), np.uint8), y_val=np.zeros(1000, np.int32))
    return model, data


def _run(tmp_path: Path, model, data, **options) -> dict:
    config = PruneConfig(step_blocks=2, patience=2, step_epochs=0, batch_size=16, calibration_batches=1, **options)
    prune(model, CONFIG, data, config, out=tmp_path)
    return json.loads((tmp_path / "prune.json").read_text())


def test_the_search_removes_the_cheapest_accuracy_per_millisecond_until_the_target_is_met(
    tmp_path: Path, tiny_data, monkeypatch
) -> None:
    """Target 0.5x of 30 ms = 15 ms, no accuracy budget (every removal costs 0.1 points). Candidates by accuracy
    per ms (ties: the larger saving first): s3b2 s2b2 s1b3 | s3b3 s1b1 | s2b3 | s3b4 s2b4 s1b2 | s1b4.
    step 1: 15 ms to save, two blocks: s3b2 + s2b2 -> 24 ms (0.8x);
    step 2: 9 ms to save: s1b3 + s3b3 -> 19 ms;
    step 3: 4 ms to save: s1b1 + s2b3 -> 16 ms;
    step 4: 1 ms to save: s3b4 alone covers it -> 12 ms (0.4x): met, the search ends."""
    removal = dict.fromkeys(ABLATION, 0.1)
    log = _run(tmp_path, *_scripted(monkeypatch, tiny_data, removal), target_latency="0.5x")
    steps = log["steps"]
    assert [tuple(s["removed"]) for s in steps[1:]] == [("stage3_block2", "stage2_block2"),
                                                        ("stage1_block3", "stage3_block3"),
                                                        ("stage1_block1", "stage2_block3"),
                                                        ("stage3_block4",)]  # fmt: skip
    assert all(s["accepted"] for s in steps) and log["chosen_step"] == 4
    assert [s["p50_ms"] for s in steps] == [30.0, 24.0, 19.0, 16.0, 12.0]
    assert steps[4]["latency_ratio"]["median"] == pytest.approx(0.4)
    latency = log["latency"]
    assert latency["met"] and latency["binding"] == "latency target" and latency["target"] == "0.5x"
    assert latency["target_ratio"] == 0.5 and latency["unpruned_p50_ms"] == 30.0
    assert latency["block_costs_ms"] == {"stage1": 1.0, "stage2": 2.0, "stage3": 4.0}
    assert "met: 0.400x" in latency["outcome"]


def test_the_accuracy_budget_binds_before_the_target(tmp_path: Path, tiny_data, monkeypatch) -> None:
    """Same ranking, budget 1 point. step 1: s3b2 + s2b2 (0.4 points) kept, 24 ms; step 2: s1b3 + s3b3 (1.6)
    undone; step 3: s1b3 alone (0.7) kept, 23 ms; step 4: s3b3 (1.6) undone, set aside; step 5: s1b1 (1.2)
    undone: two rejections in a row, the search ends at 23/30 = 0.767x, the 0.5x target not met."""
    removal = {"stage3_block2": 0.2, "stage2_block2": 0.2, "stage1_block3": 0.3, "stage3_block3": 0.9,
               "stage1_block1": 0.5}  # fmt: skip
    log = _run(tmp_path, *_scripted(monkeypatch, tiny_data, removal), target_latency="0.5x", max_accuracy_drop=1.0)
    steps = log["steps"]
    assert [(tuple(s["removed"]), s["accepted"]) for s in steps[1:]] == [
        (("stage3_block2", "stage2_block2"), True), (("stage1_block3", "stage3_block3"), False),
        (("stage1_block3",), True), (("stage3_block3",), False), (("stage1_block1",), False)]  # fmt: skip
    assert log["chosen_step"] == 3
    latency = log["latency"]
    assert not latency["met"] and latency["achieved"]["median"] == pytest.approx(23 / 30)
    assert latency["binding"].startswith("the budget (accuracy drop 1.20 > 1 points")
    assert "not met" in latency["outcome"] and "0.767x" in latency["outcome"]


def test_a_target_in_milliseconds_is_a_ratio_of_the_unpruned_latency(tmp_path: Path, tiny_data, monkeypatch) -> None:
    """24 ms of 30 = 0.8x: the first step (24 ms) meets it."""
    log = _run(tmp_path, *_scripted(monkeypatch, tiny_data, dict.fromkeys(ABLATION, 0.1)), target_latency="24ms")
    assert log["latency"]["target_ratio"] == pytest.approx(0.8) and log["chosen_step"] == 1
    assert log["latency"]["met"] and len(log["steps"]) == 2


@pytest.mark.parametrize("text, value, unit", [("8ms", 8.0, "ms"), ("8 ms", 8.0, "ms"), ("0.5x", 0.5, "x"),
                                               ("1X", 1.0, "x")])  # fmt: skip
def test_latency_targets_parse(text: str, value: float, unit: str) -> None:
    assert LatencyTarget.parse(text) == LatencyTarget(value, unit)
    assert LatencyTarget(0.5, "x").ratio(40.0) == 0.5 and LatencyTarget(8, "ms").ratio(32.0) == 0.25


@pytest.mark.parametrize("text", ["8", "1.5x", "-1ms", "x", "fast", "0ms"])
def test_bad_latency_targets_are_refused_in_one_line(text: str) -> None:
    with pytest.raises(ConfigError, match=r"target latency .*'8ms'.*'0\.5x'"):
        PruneConfig(target_latency=text)


def test_a_latency_target_combines_with_an_accuracy_budget_only() -> None:
    assert PruneConfig(target_latency="0.5x").max_accuracy_drop is None
    assert PruneConfig(target_latency="0.5x", max_accuracy_drop=1.0).target_latency == "0.5x"
    with pytest.raises(ConfigError, match="combines with --max-accuracy-drop only"):
        PruneConfig(target_latency="0.5x", target_macs=0.5)
    with pytest.raises(ConfigError, match="target runtime"):
        PruneConfig(target_latency="0.5x", target_runtime="coreml")


def test_block_costs_leave_a_block_in_every_stage(tmp_path: Path) -> None:
    """The cost of a stage's block is measured with the stage's removable blocks gone but one (a stage of only
    removable blocks, like CIFAR stage 1, would otherwise vanish); the saving is shared among those removed."""
    from resnet_edge.prune import cost_variants
    from resnet_edge.prune.latency import block_costs

    probe = ScriptedProbe()
    model = build_resnet(CONFIG)
    probe.artifact("step0", model, CONFIG)
    removable = {1: [f"stage1_block{b}" for b in (1, 2, 3, 4)], 2: ["stage2_block2", "stage2_block3"]}
    variants = cost_variants(model, CONFIG, removable)
    assert {s: (v[1].arch.blocks, v[2]) for s, v in variants.items()} == {1: ((1, 4, 4), 3), 2: ((4, 2, 4), 2)}
    assert block_costs(probe, variants, "step0") == pytest.approx({1: 1.0, 2: 2.0})
    assert len(residual_blocks(model)) == 12  # the model itself untouched


def test_cli_takes_the_target_in_prune_and_build(tmp_path: Path, capsys) -> None:
    from resnet_edge.cli import main

    assert main(["build", "--target-latency", "0.5x", "--target-runtime", "onnx-int8", "--print-config"]) == 0
    printed = capsys.readouterr().out
    assert "target_latency: 0.5x" in printed and "target_runtime: onnx-int8" in printed
    assert "max_accuracy_drop: 1.0" in printed  # build's accuracy budget stays, as the second constraint
    code = main(["prune", "--model", str(tmp_path / "m.keras"), "--out", str(tmp_path / "p"), "--target-latency", "8"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "target latency '8' is not accepted" in err
