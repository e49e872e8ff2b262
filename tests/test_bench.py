"""Benchmark and CI gate: interleaved measurement, ratio intervals, deterministic limits, JUnit, CLI errors."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from resnet_edge.bench import measure, ratio_ci
from resnet_edge.cli import main
from resnet_edge.config import BenchConfig, QuantMode
from resnet_edge.errors import ConfigError
from resnet_edge.export.tflite import export_tflite
from resnet_edge.gate import GateConfig, Limit, gate, parse_percent, write_junit
from resnet_edge.models.config import ModelConfig
from resnet_edge.models.flops import count_keras
from resnet_edge.models.resnet import build_resnet


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """TFLite ResNet-8 and ResNet-20 (2.5x the MACs), and the ResNet-8 Keras model they come from."""
    folder = tmp_path_factory.mktemp("bench")
    small, big = build_resnet(ModelConfig(depth=8, classes=5)), build_resnet(ModelConfig(depth=20, classes=5))
    small.save(folder / "small.keras")
    return {
        "keras": folder / "small.keras",
        "small": export_tflite(small, QuantMode.FP32, folder / "small.tflite"),
        "big": export_tflite(big, QuantMode.FP32, folder / "big.tflite"),
        "copy": shutil.copyfile(folder / "small.tflite", folder / "small_copy.tflite"),
        "macs": (count_keras(small).macs, count_keras(big).macs),
    }


def test_ratio_interval_covers_the_true_ratio() -> None:
    rng = np.random.default_rng(0)
    base = rng.lognormal(0, 0.2, 300)
    ratio = ratio_ci(1.25 * base * rng.lognormal(0, 0.05, 300), base, confidence=0.95, resamples=1000, seed=0)
    assert ratio.low < 1.25 < ratio.high and ratio.high - ratio.low < 0.05
    assert ratio.speedup == pytest.approx(0.8, abs=0.02)


def test_measure_reports_counts_latency_and_ratios(models, tiny_data) -> None:
    config = BenchConfig(threads=(1, 2), rounds=10, warmup=2, resamples=200)
    result = measure([models["small"], models["big"]], baseline=models["keras"], data=tiny_data, config=config)
    keras_row, small, big = result.rows
    assert result.baseline == "small.keras" and result.threads == (1, 2)
    assert small.macs == models["macs"][0] and big.macs == models["macs"][1]  # BN folding keeps MACs
    assert small.bytes < keras_row.bytes and all(r.accuracy is not None for r in result.rows)
    for row in result.rows:
        assert set(row.latency) == {"1", "2"} and row.latency["1"]["runs"] == 10
    assert big.ratio["1"].median > small.ratio["1"].median
    encoded = json.loads(json.dumps(result.to_dict()))
    assert encoded["rows"][1]["ratio"]["1"]["speedup"] > 0


def test_gate_passes_a_copy_and_fails_static_limits(models, tmp_path) -> None:
    same = gate(models["copy"], models["small"], GateConfig(rounds=60, warmup=5))
    assert same.passed, same.checks[0].message
    config = GateConfig(rounds=30, warmup=5, max_macs=Limit.parse("+0%", "macs"), max_size=Limit.parse("10MB", "s"))
    slower = gate(models["big"], models["small"], config)
    checks = {c.name: c for c in slower.checks}
    assert not checks["macs"].passed and checks["size_bytes"].passed and not slower.passed
    write_junit(slower, tmp_path / "gate.xml")
    suite = ET.parse(tmp_path / "gate.xml").getroot()
    assert suite.get("failures") == str(sum(not c.passed for c in slower.checks))
    assert suite.find("testcase/failure") is not None


def test_gate_catches_a_real_slowdown(models) -> None:
    result = gate(models["big"], models["small"], GateConfig(max_slowdown=0.10, rounds=60, warmup=5))
    assert not result.checks[0].passed, result.checks[0].message


def test_threshold_parsing() -> None:
    assert parse_percent("10%", "x") == pytest.approx(0.10) and parse_percent("2.5", "x") == pytest.approx(0.025)
    assert Limit.parse("40M", "x") == Limit(40e6) and Limit.parse("+5%", "x") == Limit(0.05, relative=True)
    assert Limit.parse("2.5MB", "x").value == pytest.approx(2.5e6)
    for bad in ("ten", "-5%", "5%%"):
        with pytest.raises(ConfigError, match="not a percentage"):
            parse_percent(bad, "--max-slowdown")
    with pytest.raises(ConfigError, match="not accepted"):
        Limit.parse("lots", "--max-macs")


def test_cli_gate_and_bench(models, tmp_path, capsys) -> None:
    code = main(["gate", "--candidate", str(models["big"]), "--baseline", str(models["small"]), "--max-macs", "+0%",
                 "--rounds", "20", "--junit", str(tmp_path / "j.xml"), "--json", str(tmp_path / "g.json")])  # fmt: skip
    assert code == 1 and json.loads((tmp_path / "g.json").read_text())["passed"] is False
    pair = ["--candidate", str(models["big"]), "--baseline", str(models["small"])]
    code = main(["gate", *pair, "--max-slowdown", "ten"])
    err = capsys.readouterr().err
    assert code == 2 and "--max-slowdown 'ten' is not a percentage" in err and len(err.strip().splitlines()) == 1
    code = main(["gate", "--candidate", str(tmp_path / "missing.tflite"), "--baseline", str(models["small"])])
    assert code == 2 and "does not exist" in capsys.readouterr().err
    code = main(["bench", str(models["small"]), "--baseline", str(models["keras"]), "--rounds", "10",
                 "--threads", "1", "--out", str(tmp_path / "bench.json")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "small.tflite" in out and "speed-up" in out
    assert json.loads((tmp_path / "bench.json").read_text())["baseline"] == "small.keras"
