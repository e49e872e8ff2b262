"""`resnet-edge check`: an accelerator's published rules against tiny ResNets exported by the project's own functions.

Projection shortcuts (B) keep a ResNet inside both op lists; the CIFAR default, option A, subsamples with a stride-2
STRIDED_SLICE and zero-pads channels with PAD, which both lists refuse: those tests pin that down too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ai_edge_litert import schema_py_generated as schema

from resnet_edge.check import check
from resnet_edge.check.limits import TESTS
from resnet_edge.check.rules import EDGETPU_OPS, RULES, Level
from resnet_edge.cli import MAX_ERROR_CHARS, main
from resnet_edge.config import CheckConfig, ExportConfig, QuantizeConfig, QuantMode, Target
from resnet_edge.errors import ConfigError
from resnet_edge.export.tflite import export_tflite, to_tflite_fp32
from resnet_edge.models.config import ModelConfig
from resnet_edge.models.resnet import build_resnet

CALIBRATION = 16


@pytest.fixture(scope="module")
def models(tiny_data):
    """ResNet-8s with the data's normalization inside: projection shortcuts (B) and zero-pad shortcuts (A)."""
    mean, std = tiny_data.channel_stats()
    make = lambda shortcut: build_resnet(  # noqa: E731
        ModelConfig(depth=8, classes=tiny_data.num_classes, input_mean=mean, input_std=std, shortcut=shortcut)
    )
    return {"B": make("B"), "A": make("A")}


@pytest.fixture(scope="module")
def files(models, tiny_data, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("check")
    images = tiny_data.x_train[:CALIBRATION]
    int8 = lambda model, name, **q: export_tflite(  # noqa: E731
        model, QuantMode.INT8, out / name, representative=images, config=QuantizeConfig(**q)
    )
    return {
        "fp32": to_tflite_fp32(models["B"], out / "fp32.tflite"),
        "int8": int8(models["B"], "int8.tflite"),  # the converter's default: per-channel weights, int8 I/O
        "int8_a": int8(models["A"], "int8_a.tflite", per_channel=False),
        "float_io": int8(models["B"], "float_io.tflite", io_type="float32"),
    }


@pytest.fixture(scope="module")
def edgetpu_export(models, tmp_path_factory) -> Path:
    """`resnet-edge export --target edgetpu` of the projection-shortcut ResNet-8, from the command line."""
    folder = tmp_path_factory.mktemp("edgetpu")
    models["B"].save(folder / "model.keras")
    code = main(["export", "--model", str(folder / "model.keras"), "--out", str(folder / "out"), "--format", "tflite",
                 "--mode", "int8", "--target", "edgetpu", "--per-class", "15", "--representative", str(CALIBRATION),
                 "--int8-agreement", "0", "--max-accuracy-drop", "100", "--no-layer-report"])  # fmt: skip
    assert code == 0
    return folder / "out"


def _check(capsys, path: Path, target: str, *extra: str) -> tuple[int, str, dict]:
    out = path.with_suffix(f".{target}.json")
    code = main(["check", str(path), "--target", target, "--json", str(out), *extra])
    return code, capsys.readouterr().out, json.loads(out.read_text())


def test_a_float_tflite_lists_every_float_op_and_exits_1(files, capsys) -> None:
    code, text, result = _check(capsys, files["fp32"], "edgetpu")
    assert code == 1 and not result["ready"] and result["accelerated"] == 0 and result["first_cpu_op"] == 0
    assert result["input"]["dtype"] == "float32" and result["output"]["dtype"] == "float32"
    assert [f["index"] for f in result["findings"]] == list(range(result["ops"]))  # every op, each one float
    assert all("float32 tensors (not full-integer)" in f["reasons"] for f in result["findings"])
    assert "CONV_2D" in text and "float32 weights" in text and "FALLS BACK TO THE CPU from op 0" in text


def test_the_edgetpu_export_passes_its_own_check_with_exit_0(edgetpu_export, capsys) -> None:
    manifest = json.loads((edgetpu_export / "manifest.json").read_text())
    (row,) = manifest["artifacts"]
    assert row["target_check"]["ready"] and manifest["export"]["target"] == "edgetpu"  # the verdict is recorded
    code, text, result = _check(capsys, edgetpu_export / "model_int8.tflite", "edgetpu")
    assert code == 0 and result["ready"] and result["findings"] == [] and result["accelerated"] == result["ops"]
    assert result["input"]["dtype"] == "uint8" and result["output"]["dtype"] == "uint8"  # Coral's I/O type
    assert "ready: all" in text


def test_per_channel_weights_are_flagged_for_edgetpu_not_refused(files) -> None:
    tpu = check(files["int8"], config=CheckConfig(target="edgetpu"))
    flagged = {f.op for f in tpu.findings if any("per-channel weights" in r for r in f.reasons)}
    assert flagged == {"CONV_2D", "FULLY_CONNECTED"} and {f.level for f in tpu.findings} == {Level.WARN}
    assert tpu.ready and tpu.exit_code == 0  # today's compiler takes them; older ones do not: a warning
    assert check(files["int8"], config=CheckConfig(target="npu-int8")).findings == ()  # Vela 5.2 takes them too


def test_float_io_edges_fall_back_per_op_on_ethos_u_and_take_everything_after_on_edgetpu(files) -> None:
    """An int8 model with float input/output: QUANTIZE from float first, DEQUANTIZE last (Vela 5.2.0 put exactly
    these two on the CPU); the Edge TPU compiler stops at the first, so it maps nothing."""
    npu = check(files["float_io"], config=CheckConfig(target="npu-int8"))
    assert [(f.index, f.op) for f in npu.findings] == [(0, "QUANTIZE"), (npu.ops - 1, "DEQUANTIZE")]
    assert npu.accelerated == npu.ops - 2 and npu.first_cpu_op is None and npu.exit_code == 1
    tpu = check(files["float_io"], config=CheckConfig(target="edgetpu"))
    assert (
        tpu.first_cpu_op == 0
        and tpu.accelerated == 0
        and "float32 tensors (not full-integer)" in tpu.findings[0].reasons
    )


def test_zero_pad_shortcuts_stop_the_edgetpu_at_the_strided_slice(files) -> None:
    tpu = check(files["int8_a"], config=CheckConfig(target="edgetpu"))
    first = tpu.findings[0]
    assert first.op == "STRIDED_SLICE" and first.reasons == ("strides [1, 2, 2, 1]",)
    assert tpu.first_cpu_op == first.index == tpu.accelerated and not tpu.ready  # one segment: the rest on the CPU
    # Vela 5.2.0 places stride-2 slices over H and W and channel padding on the NPU (Vela 3.x did not)
    assert check(files["int8_a"], config=CheckConfig(target="npu-int8")).ready


def test_export_for_edgetpu_names_the_int8_artifact_that_would_fall_back(models, tiny_data, tmp_path) -> None:
    """Option A cannot be fixed by conversion: the export says so (exit 1 on the command line) and records why."""
    from resnet_edge.export import export

    config = ExportConfig(formats="tflite", modes="fp32,int8", target="edgetpu", int8_agreement=0.0,
                          int8_max_drop=100.0, layer_report=False)  # fmt: skip
    result = export(models["A"], data=tiny_data, config=config, out=tmp_path,
                    quantize=QuantizeConfig(representative_count=CALIBRATION))  # fmt: skip
    assert result.not_ready == ("model_int8.tflite",)  # the fp32 one falls back too, but it is the CPU's reference
    rows = {a["path"]: a["target_check"] for a in json.loads(result.manifest_path.read_text())["artifacts"]}
    assert not rows["model_fp32.tflite"]["ready"] and rows["model_int8.tflite"]["first_cpu_op"] is not None
    assert rows["model_int8.tflite"]["input"]["dtype"] == "uint8"


def test_ops_newer_than_the_edgetpu_runtime_fall_back(edgetpu_export) -> None:
    """uint8 I/O adds QUANTIZE ops, which the Edge TPU runs from runtime 13 on (Coral's CHANGES.md)."""
    old = check(edgetpu_export / "model_int8.tflite", config=CheckConfig(target="edgetpu", edgetpu_runtime=12))
    (first, *_) = old.findings
    assert first.op == "QUANTIZE" and first.reasons == ("needs Edge TPU runtime 13+ (checked for 12)",)
    assert old.first_cpu_op == 0 and old.exit_code == 1


def test_cpu_target_only_loads_and_reports_the_types(files) -> None:
    result = check(files["fp32"], config=CheckConfig(target="cpu"))
    assert result.ready and result.findings == () and result.source is None and result.input["dtype"] == "float32"


def test_rule_tables_agree_with_the_wording_they_quote() -> None:
    """Numbers and op lists in each limit's argument are the ones in the document's sentence beside it."""
    builtin = set(vars(schema.BuiltinOperator))
    for target, rules in RULES.items():
        if rules is None:
            continue
        assert rules.source.startswith("https://") and set(rules.ops) <= builtin, target
        limits = [*rules.generic, *(lim for rule in rules.ops.values() for lim in rule.limits)]
        limits += [lim for rule in rules.ops.values() for _, newer in rule.newer for lim in newer]
        for limit in limits:
            assert limit.test in TESTS, limit
            numbers = limit.arg if isinstance(limit.arg, tuple) else (limit.arg,)
            text = re.sub(r"(\d),(\d{3})\b", r"\1\2", limit.text)  # 16,000 -> 16000
            text = re.sub(r"(\d+)\*(\d+)", lambda m: str(int(m[1]) * int(m[2])), text)  # 256*256 -> 65536
            for n in (n for n in numbers if isinstance(n, int)):
                assert re.search(rf"\b{n}\b", text), (target, limit)
            named = [a for a in numbers if isinstance(a, str) and a.isupper() and a != "NONE"]
            if named:
                assert named == re.findall(r"[A-Z][A-Z0-9_]+", limit.text.split(":")[1]), (target, limit)
    # google-coral/edgetpu CHANGES.md, runtime v13: "Added support for ops: ExpandDims, Pack, Quantize, Sum, and
    # TransposeConv"
    assert {"EXPAND_DIMS", "PACK", "QUANTIZE", "SUM", "TRANSPOSE_CONV"} <= {k for k, r in EDGETPU_OPS.items()
                                                                            if r.since == 13}  # fmt: skip


def test_export_target_needs_a_full_integer_tflite() -> None:
    for kwargs in ({"formats": "onnx"}, {"modes": "fp32,fp16"}):
        with pytest.raises(ConfigError, match="--target edgetpu takes a full-integer TFLite model"):
            ExportConfig(target="edgetpu", **kwargs)
    assert ExportConfig(target="cpu", modes="fp32").target is Target.CPU
    with pytest.raises(ConfigError, match="Edge TPU runtime 9 is not accepted"):
        CheckConfig(edgetpu_runtime=9)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("missing.tflite", "--target", "edgetpu"), "does not exist"),
        (("{fp32}", "--target", "tpu"), "'tpu' is not one of"),
        (("model.onnx", "--target", "edgetpu"), "check reads TFLite (.tflite)"),
        (("garbage.tflite", "--target", "npu-int8"), "could not be read as a TFLite model"),
        (("{fp32}", "--edgetpu-runtime", "15"), "Edge TPU runtime 15 is not accepted"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(files, tmp_path, capsys, args, needle) -> None:
    (tmp_path / "model.onnx").write_bytes(b"onnx?")
    (tmp_path / "garbage.tflite").write_bytes(b"\x00" * 64)
    argv = [str(files["fp32"]) if a == "{fp32}" else str(tmp_path / a) if a.endswith((".tflite", ".onnx")) else a
            for a in args]  # fmt: skip
    assert main(["check", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err and len(err) <= MAX_ERROR_CHARS + 40
