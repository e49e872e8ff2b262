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


def _result_with(samples: dict[str, list[float]]):
    """A BenchResult whose rows carry the given per-round latencies at 1 thread (nothing else measured)."""
    from resnet_edge.bench import BenchResult, Row

    rows = tuple(Row(n, n, "x", 0, 0, 0, 0, None, {}, samples={"1": v}) for n, v in samples.items())
    return BenchResult(rows, None, (1,), BenchConfig(threads=(1,)))


def test_a_speedup_chain_splits_the_total_into_factors_that_multiply_to_it() -> None:
    """Keras 12 ms -> TFLite fp32 4 ms (runtime 3x) -> pruned 2.5 ms (depth 1.6x) -> int8 1 ms (int8 2.5x): 12x in
    all, 3 x 1.6 x 2.5 = 12 written out. Each round scales every model alike (drift), which pairing cancels."""
    drift = np.random.default_rng(0).uniform(0.8, 1.3, 40)
    base = {"keras": 12.0, "fp32": 4.0, "pruned": 2.5, "int8": 1.0}
    result = _result_with({n: list(ms * drift) for n, ms in base.items()})
    chained = result.attribute(["keras", "fp32", "pruned", "int8"], ["runtime", "depth", "int8"])
    (a,) = chained.attribution
    assert [f.label for f in a.factors] == ["runtime", "depth", "int8"]
    assert [f.ratio.speedup for f in a.factors] == pytest.approx([3.0, 1.6, 2.5])
    assert a.total.speedup == pytest.approx(12.0) and 1 / a.product == pytest.approx(3.0 * 1.6 * 2.5)
    assert a.consistent and a.factors[0].ratio.low == pytest.approx(a.factors[0].ratio.high)  # drift cancelled


def test_the_product_of_median_factors_is_checked_against_the_total_with_a_paired_interval() -> None:
    """Each model with its own 3 % noise per round: the links' medians multiply to something a little off the
    median total (written out with numpy below), by no more than the rounds' noise explains; the paired interval
    of product / total says so (it holds 1), where the total's own, tighter interval alone need not."""
    rng = np.random.default_rng(3)
    base = {"keras": 12.0, "fp32": 4.0, "pruned": 2.5, "int8": 1.0}
    samples = {n: ms * rng.lognormal(0.0, 0.03, 60) for n, ms in base.items()}
    (a,) = _result_with({n: list(v) for n, v in samples.items()}).attribute(list(base)).attribution
    k, f, p, i = (samples[n] for n in base)
    by_hand = np.median(f / k) * np.median(p / f) * np.median(i / p) / np.median(i / k)
    assert a.gap.median == pytest.approx(by_hand) and a.gap.median != pytest.approx(1.0, abs=1e-6)
    assert a.gap.low < 1.0 < a.gap.high and a.consistent
    assert a.product == pytest.approx(by_hand * a.total.median)


def test_chain_factors_come_with_intervals_and_survive_bench_json(tmp_path) -> None:
    from resnet_edge.bench import BenchResult

    rng = np.random.default_rng(1)
    noisy = {n: list(ms * rng.lognormal(0, 0.05, 60)) for n, ms in {"a": 10.0, "b": 5.0, "c": 2.0}.items()}
    result = _result_with(noisy).attribute(["a", "b", "c"])
    (a,) = result.attribution
    assert [f.label for f in a.factors] == ["a -> b", "b -> c"]
    for f, true in zip(a.factors, (0.5, 0.4), strict=True):
        assert f.ratio.low < f.ratio.median < f.ratio.high and f.ratio.low < true < f.ratio.high
    assert a.total.low <= a.product <= a.total.high
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(result.to_dict()))
    assert BenchResult.read(path).attribution == result.attribution
    with pytest.raises(ValueError, match="not measured"):
        result.attribute(["a", "zzz"])


def test_cli_bench_chain(models, tmp_path, capsys) -> None:
    out = tmp_path / "bench.json"
    code = main(["bench", str(models["small"]), str(models["big"]), "--baseline", str(models["keras"]), "--chain",
                 "--threads", "1", "--rounds", "5", "--out", str(out)])  # fmt: skip
    assert code == 0
    (a,) = json.loads(out.read_text())["attribution"]
    assert [f["label"] for f in a["factors"]] == ["small.keras -> small.tflite", "small.tflite -> big.tflite"]
    assert a["factors"][1]["speedup"] < 1  # ResNet-20 is slower than ResNet-8 on the same runtime
    assert "speed-up of big.tflite over small.keras" in capsys.readouterr().out
    assert main(["bench", str(models["small"]), "--chain"]) == 2
    assert "--chain needs --baseline" in capsys.readouterr().err


def test_cli_gate_max_ram_fails_a_model_over_budget_and_passes_one_under(models, capsys) -> None:
    # ResNet-8 fp32 at 32x32: at its first block's second conv three 32x32x16 float tensors are alive (the block input,
    # conv1's and conv2's outputs): 3 x 65,536 = 196,608 bytes, which the greedy plan reaches
    pair = ["--candidate", str(models["small"]), "--baseline", str(models["copy"]), "--rounds", "10",
            "--max-slowdown", "1000%"]  # fmt: skip
    assert main(["gate", *pair, "--max-ram", "150KiB"]) == 1
    out = capsys.readouterr().out
    assert "FAIL ram_bytes: ram_bytes 196,608" in out and "limit 153,600" in out
    assert main(["gate", *pair, "--max-ram", "192KiB", "--max-flash", "+0%"]) == 0
    out = capsys.readouterr().out
    assert "pass ram_bytes" in out and "pass flash_bytes" in out
    code = main(["gate", "--candidate", str(models["keras"]), "--baseline", str(models["small"]), "--max-ram", "1MB"])
    err = capsys.readouterr().err
    assert code == 2 and "--max-ram: the candidate" in err and "has no planned peak RAM" in err


def test_bench_rows_carry_flash_and_ram_through_bench_json(models, tmp_path, capsys) -> None:
    from resnet_edge.bench import BenchResult

    code = main(["bench", str(models["small"]), "--baseline", str(models["keras"]), "--rounds", "5",
                 "--threads", "1", "--out", str(tmp_path / "bench.json")])  # fmt: skip
    assert code == 0 and "RAM KiB" in capsys.readouterr().out
    keras_row, tflite_row = BenchResult.read(tmp_path / "bench.json").rows
    assert tflite_row.ram_bytes == tflite_row.footprint.live_bytes == 3 * 64 * 1024
    assert tflite_row.footprint.flash_bytes == tflite_row.bytes and keras_row.ram_bytes is None
