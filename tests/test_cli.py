"""`resnet-edge info`: tables and JSON for the zoo and for saved models; user errors as one line, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from resnet_edge.cli import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_info_json_has_the_documented_fields(capsys) -> None:
    code, out, _ = run(capsys, "info", "--depth", "20", "--json")
    data = json.loads(out)
    assert code == 0
    assert (data["params"], data["macs"], data["flops"]) == (269_722, 40_551_040, 81_102_080)
    assert data["non_trainable_params"] == 1376
    assert len(data["blocks"]) == 9 and set(data["blocks"][0]) >= {"name", "stage", "params", "macs"}
    assert data["config"]["variant"] == "cifar" and data["config"]["shortcut"] == "A"


def test_info_table_shows_stages_and_totals(capsys) -> None:
    code, out, _ = run(capsys, "info", "--depth", "18", "--input-size", "64", "--classes", "5")
    assert code == 0
    for word in ("stem", "stage1", "stage4", "head", "total", "MACs", "FLOPs = 2 x MACs"):
        assert word in out


def test_info_per_block(capsys) -> None:
    code, out, _ = run(capsys, "info", "--depth", "20", "--blocks")
    assert code == 0 and "stage3_block3" in out


@pytest.mark.parametrize("suffix", [".keras", ".onnx"])
def test_info_reads_saved_models(capsys, tmp_path, tiny_resnet, suffix: str) -> None:
    path = tmp_path / f"model{suffix}"
    if suffix == ".onnx":
        import tf2onnx

        from resnet_edge._tf import tf

        spec = [tf.TensorSpec((None, 32, 32, 3), tf.float32, name="image")]
        tf2onnx.convert.from_keras(tiny_resnet, input_signature=spec, opset=17, output_path=str(path))
    else:
        tiny_resnet.save(path)
    code, out, _ = run(capsys, "info", "--model", str(path), "--json")
    data = json.loads(out)
    assert code == 0 and data["macs"] == 12_239_488
    assert [b["name"] for b in data["blocks"]] == ["stage1_block1", "stage2_block1", "stage3_block1"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["info", "--depth", "51"], "depth 51 is not supported; accepted: ImageNet 18, 34, 50, 101, 152"),
        (["info", "--variant", "cifar", "--depth", "21"], "depth 21 is not a CIFAR ResNet; accepted: v1 6n+2"),
        (["info", "--depth", "20", "--version", "v1.5"], "'v1.5' is ImageNet-only"),
        (["info", "--depth", "abc"], "Invalid value for '--depth'"),
        (["info", "--depth", "20", "--shortcut", "C"], "Invalid value for '--shortcut'"),
        (["info"], "give exactly one of --depth or --model"),
        (["info", "--model", "missing.keras"], "model file 'missing.keras' does not exist"),
        (["info", "--model", "pyproject.toml"], "has suffix '.toml'; accepted: .keras, .h5, .onnx"),
    ],
)
def test_user_errors_are_one_line_exit_2(capsys, args: list[str], expected: str) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2
    assert expected in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".onnx"])
def test_unreadable_model_file_is_one_line(capsys, tmp_path, suffix: str) -> None:
    bad = tmp_path / f"broken{suffix}"
    bad.write_bytes(b"not a model at all")
    code, _, err = run(capsys, "info", "--model", str(bad))
    assert code == 2
    assert f"'{bad}' could not be read as" in err and err.count("\n") == 1


def test_console_script_is_quiet_and_exits_2_without_traceback() -> None:
    """The installed command: no TensorFlow start-up noise, no traceback, exit code 2."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "RESNET_EDGE_TF_LOGS")}
    bad = subprocess.run([sys.executable, "-m", "resnet_edge", "info", "--depth", "51"],
                         capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("resnet-edge: error: depth 51") and bad.stderr.count("\n") == 1
    good = subprocess.run([sys.executable, "-m", "resnet_edge", "info", "--depth", "8"],
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert good.returncode == 0 and "resnet8" in good.stdout
    assert good.stderr == ""
