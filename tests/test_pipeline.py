"""`resnet-edge build`: the run folder, stage caching, re-running after an interruption, recipes, bad YAML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from resnet_edge.cli import main
from resnet_edge.config import BuildConfig
from resnet_edge.errors import ConfigError
from resnet_edge.pipeline import build

TINY = {
    "model": {"depth": 8},
    "data": {"per_class": 15},
    "train": {"epochs": 1, "batch_size": 32, "min_accuracy": 0.0},
    "prune": {"max_accuracy_drop": 50.0, "step_epochs": 1, "patience": 1},
    "quantize": {"representative_count": 20},
    "export": {"modes": ["fp32", "int8"], "int8_agreement": 0.0, "int8_max_drop": 100.0},
    "bench": {"threads": [1], "rounds": 5, "warmup": 1, "resamples": 100, "deploy_size": 48},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    result = build(BuildConfig.from_dict(TINY), out=out)
    assert result.ran == ("train", "prune", "export", "bench", "report")
    return out


def test_run_folder_layout(run) -> None:
    for name in ("config.yaml", "baseline/model.keras", "pruned/model.keras", "pruned/prune.json",
                 "export/model_int8.tflite", "export/model_int8.onnx", "export/labels.txt", "bench.json",
                 "manifest.json", "report.md", "report.html"):  # fmt: skip
        assert (run / name).is_file(), name
    assert BuildConfig.from_dict(yaml.safe_load((run / "config.yaml").read_text())) == BuildConfig.from_dict(TINY)


def test_bench_and_manifest_compare_against_the_uncompressed_model(run) -> None:
    bench = json.loads((run / "bench.json").read_text())
    assert bench["baseline"] and bench["rows"][0]["name"] == "baseline/model.keras"
    int8 = next(r for r in bench["rows"] if r["name"] == "export/model_int8.tflite")
    assert int8["ratio"]["1"]["speedup"] > 0 and int8["accuracy"] is not None
    assert bench["reference"] == "export/unpruned/model_fp32.tflite"  # the unpruned model, same runtime
    unpruned = next(r for r in bench["rows"] if r["name"] == bench["reference"])
    assert unpruned["macs"] > int8["macs"] and int8["reference_ratio"]["1"]["speedup"] > 0
    manifest = json.loads((run / "manifest.json").read_text())
    assert {"baseline/model.keras", "pruned/model.keras"} <= set(manifest["keras_models"])
    assert all(a["path"].startswith("export/") and len(a["sha256"]) == 64 for a in manifest["artifacts"])
    assert all(a["footprint"]["ram_bytes"] > 0 for a in manifest["artifacts"])
    assert int8["footprint"]["ram_bytes"] == next(a for a in manifest["artifacts"]
                                                  if a["path"] == int8["name"])["footprint"]["ram_bytes"]  # fmt: skip


def test_the_speedup_is_attributed_to_runtime_depth_and_int8(run) -> None:
    """Per runtime: Keras -> unpruned fp32 -> pruned fp32 -> pruned int8, factors from the same interleaved run
    whose product is the measured total (up to the median of a product not being the product of medians)."""
    bench = json.loads((run / "bench.json").read_text())
    chains = {a["factors"][-1]["to"]: a for a in bench["attribution"]}
    assert set(chains) == {"export/model_int8.tflite", "export/model_int8.onnx"}
    for suffix, a in (("tflite", chains["export/model_int8.tflite"]), ("onnx", chains["export/model_int8.onnx"])):
        assert [(f["label"], f["source"], f["to"]) for f in a["factors"]] == [
            ("runtime", "baseline/model.keras", f"export/unpruned/model_fp32.{suffix}"),
            ("depth", f"export/unpruned/model_fp32.{suffix}", f"export/model_fp32.{suffix}"),
            ("int8", f"export/model_fp32.{suffix}", f"export/model_int8.{suffix}")]  # fmt: skip
        product = 1.0
        for f in a["factors"]:
            product *= f["speedup"]
        assert product == pytest.approx(a["product_speedup"]) and a["total"]["speedup"] > 0
        assert product == pytest.approx(a["total"]["speedup"], rel=0.25)  # 5 rounds: a loose tie
    md = (run / "report.md").read_text()
    assert "Where the speed-up comes from" in md and "runtime [95 % CI]" in md


def test_deploy_size_times_each_architecture_latency_only(run) -> None:
    deploy = json.loads((run / "bench.json").read_text())["deploy"]
    assert (
        deploy["input_size"] == 48 and deploy["latency_only"] and deploy["baseline"] == "deploy48/unpruned_fp32.tflite"
    )
    names = [r["name"] for r in deploy["rows"]]
    assert names == ["deploy48/unpruned_fp32.tflite", "deploy48/pruned_fp32.tflite", "deploy48/pruned_int8.tflite"]
    assert all(r["accuracy"] is None for r in deploy["rows"])
    from resnet_edge.runtime import load_runner

    assert load_runner(run / "deploy48" / "pruned_int8.tflite").image_size == (48, 48, 3)
    assert "deploy size 48x48" in (run / "report.md").read_text()


def test_report_is_self_contained(run) -> None:
    html = (run / "report.html").read_text()
    assert "data:image/png;base64," in html and "src='baseline" not in html
    md = (run / "report.md").read_text()
    assert "export/model_int8.tflite" in md and "speed-up" in md
    assert "| flash (MB) | peak RAM (KiB) |" in md


def test_rerun_reuses_finished_stages_and_redoes_changed_ones(run) -> None:
    again = build(BuildConfig.from_dict(TINY), out=run)
    assert again.cached == ("train", "prune", "export", "bench") and again.ran == ("report",)
    changed = {**TINY, "bench": {**TINY["bench"], "rounds": 6}}
    result = build(BuildConfig.from_dict(changed), out=run)
    assert result.cached == ("train", "prune", "export") and result.ran == ("bench", "report")


def test_an_interrupted_stage_is_redone_alone(run) -> None:
    """A build killed during export has no export marker: the next run redoes export and what follows."""
    (run / ".stages" / "export.json").unlink()
    (run / "export" / "model_int8.onnx").unlink()
    result = build(BuildConfig.from_dict(TINY), out=run)
    assert result.cached == ("train", "prune") and result.ran == ("export", "bench", "report")
    assert (run / "export" / "model_int8.onnx").is_file()
    assert not [p for p in run.rglob("*") if ".tmp-" in p.name], "no half-written file"


def test_reuse_verifies_what_it_reuses(run) -> None:
    """A finished stage whose file was deleted or changed is not reused: it runs again, and so does every
    stage after it; the manifests never list a file that is not there."""
    (run / "export" / "model_int8.tflite").unlink()  # the marker stays: only the file is gone
    result = build(BuildConfig.from_dict(TINY), out=run)
    assert result.cached == ("train", "prune") and result.ran == ("export", "bench", "report")
    assert (run / "export" / "model_int8.tflite").is_file()
    with (run / "pruned" / "model.keras").open("ab") as f:
        f.write(b"tampered")
    result = build(BuildConfig.from_dict(TINY), out=run)
    assert result.cached == ("train",) and result.ran == ("prune", "export", "bench", "report")
    (run / "baseline" / "model.keras").unlink()
    result = build(BuildConfig.from_dict(TINY), out=run)
    assert result.cached == () and (run / "baseline" / "model.keras").is_file()
    manifest = json.loads((run / "manifest.json").read_text())
    assert all((run / a["path"]).is_file() for a in manifest["artifacts"])


def test_recipes_parse() -> None:
    recipes = sorted(Path("pipelines").glob("*.yaml"))
    assert len(recipes) >= 3
    for path in recipes:
        config = BuildConfig.from_dict(yaml.safe_load(path.read_text()))
        assert config.prune is not None and "int8" in config.export.modes


def test_defaults_for_depth_50_fit_a_cpu() -> None:
    config = BuildConfig.from_dict({"model": {"depth": 50}})
    assert config.model.name == "resnet50" and config.model.input_size == 64


def test_bad_yaml_is_one_line_exit_2(tmp_path, capsys) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("train:\n  epoch: 3\n")
    assert main(["build", "--config", str(recipe), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'epoch' in section 'train'" in err and len(err.strip().splitlines()) == 1
    assert main(["build", "--config", str(tmp_path / "none.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="unknown section 'modle'"):
        BuildConfig.from_dict({"modle": {"depth": 20}})


def test_build_stops_after_training_a_model_that_learned_nothing(tmp_path: Path, capsys) -> None:
    """lr 50 diverges: the chain stops after training with one line and exit 1, the baseline kept."""
    out = tmp_path / "run"
    code = main(["build", "--depth", "8", "--per-class", "20", "--epochs", "1", "--lr", "50", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1
    assert "points from chance (20.0 %" in err and "--recipe" in err and "--weights" in err
    assert (out / "baseline" / "model.keras").is_file() and (out / "baseline" / "metrics.json").is_file()
    assert not any((out / name).exists() for name in ("pruned", "export", "bench.json", "report.html"))
