"""Options are derived from the config dataclasses: a default written in one dataclass is what --help shows and
what build runs with; flags, choices and shared options follow the fields."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from resnet_edge.cli import main
from resnet_edge.config import BuildConfig, ExportConfig, PruneConfig, TrainConfig
from resnet_edge.data.config import DataConfig

ROOT = Path(__file__).resolve().parents[2]


def _run(package_root: Path, *args: str) -> str:
    """stdout of `python -m resnet_edge ARGS` run from a copy of the package, on a terminal wide enough that
    each option's help is one line."""
    env = {**os.environ, "PYTHONPATH": str(package_root), "COLUMNS": "250"}
    out = subprocess.run([sys.executable, "-m", "resnet_edge", *args], capture_output=True, text=True, env=env,
                         cwd=package_root, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout


def _option_line(help_text: str, flag: str) -> str:
    """The help line of `flag`, whitespace collapsed."""
    lines = [" ".join(line.replace("│", " ").split()) for line in help_text.splitlines()]
    return next(line for line in lines if line.startswith(flag + " "))


def _help(capsys, monkeypatch, *args: str) -> str:
    monkeypatch.setenv("COLUMNS", "250")
    assert main([*args, "--help"]) == 0
    return capsys.readouterr().out


def test_a_default_changed_in_the_dataclass_shows_in_help_and_in_build(tmp_path: Path) -> None:
    """A copy of the package whose DataConfig.per_class default is 321 instead of 1000, edited in that one place."""
    shutil.copytree(ROOT / "resnet_edge", tmp_path / "resnet_edge", ignore=shutil.ignore_patterns("__pycache__"))
    config = tmp_path / "resnet_edge" / "data" / "config.py"
    text = config.read_text()
    assert text.count("setting(1000,") == 1
    config.write_text(text.replace("setting(1000,", "setting(321,"))
    assert _option_line(_run(tmp_path, "train", "--help"), "--per-class").endswith("[default: 321]")
    assert _option_line(_run(tmp_path, "build", "--help"), "--per-class").endswith("Default: 321.")
    resolved = yaml.safe_load(_run(tmp_path, "build", "--print-config"))
    assert resolved["data"]["per_class"] == 321


def test_print_config_resolves_yaml_and_flags(capsys) -> None:
    assert main(["build", "--depth", "50", "--quantize", "int8,fp16", "--seed", "3", "--print-config"]) == 0
    resolved = yaml.safe_load(capsys.readouterr().out)
    assert resolved["model"]["depth"] == 50 and resolved["model"]["input_size"] == 64  # build's ImageNet size
    assert resolved["export"]["modes"] == ["fp32", "int8", "fp16"]
    assert {resolved[s]["seed"] for s in ("data", "train", "prune", "quantize", "bench")} == {3}
    assert resolved["train"]["epochs"] == BuildConfig().train.epochs
    assert main(["build", "--config", str(ROOT / "pipelines" / "cifar_resnet56.yaml"), "--target-macs", "0.5",
                 "--print-config"]) == 0  # fmt: skip
    prune = yaml.safe_load(capsys.readouterr().out)["prune"]
    assert prune["target_macs"] == 0.5 and prune["max_accuracy_drop"] is None  # the flag replaced the recipe's mode


def test_help_shows_every_field_default_of_its_dataclass(capsys, monkeypatch) -> None:
    text = _help(capsys, monkeypatch, "prune")
    for flag, default in (("--patience", PruneConfig.patience), ("--finetune-lr", PruneConfig.finetune_lr),
                          ("--calibration-batches", PruneConfig.calibration_batches)):  # fmt: skip
        assert _option_line(text, flag).endswith(f"[default: {default}]")
    text = _help(capsys, monkeypatch, "export")
    assert _option_line(text, "--opset").endswith(f"[default: {ExportConfig.opset}]")
    assert _option_line(text, "--per-channel").startswith("--per-channel --per-tensor")
    assert _option_line(text, "--format").endswith("[default: tflite,onnx]")
    assert _option_line(text, "--mode").endswith("[default: fp32,fp16,dynamic,int8]")


def test_enum_choices_and_case_come_from_the_enums(tmp_path: Path, capsys) -> None:
    args = ["export", "--model", str(tmp_path / "m.keras"), "--out", str(tmp_path / "e")]
    assert main([*args, "--io-type", "uint16"]) == 2
    err = capsys.readouterr().err
    assert "uint16" in err and "int8" in err and "float32" in err
    assert main(["train", "--out", str(tmp_path / "t"), "--recipe", "ADAM-PLATEAU", "--epochs", "0"]) == 2
    assert "epochs 0 is not accepted" in capsys.readouterr().err  # the recipe parsed case-insensitively first


def test_one_seed_option_sets_every_config_that_has_a_seed(monkeypatch, tmp_path: Path) -> None:
    seen = {}
    import resnet_edge.data as data_module

    def fake_load(config: DataConfig, **kwargs):
        seen["data"] = config
        raise KeyboardInterrupt  # stop before any training

    monkeypatch.setattr(data_module, "load_data", fake_load)
    assert main(["train", "--out", str(tmp_path / "t"), "--seed", "7", "--per-class", "4"]) == 130
    assert seen["data"].seed == 7 and seen["data"].per_class == 4
    assert TrainConfig.seed == 0  # the class default is untouched
