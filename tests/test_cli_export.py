"""`resnet-edge export` and `predict`: artifacts from the command line, exit codes, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from resnet_edge.cli import main
from resnet_edge.data.folder import read_image
from resnet_edge.models.config import ModelConfig
from resnet_edge.models.resnet import build_resnet
from resnet_edge.runtime import load_runner

DATA = ("--data", "inspection", "--per-class", "15")


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory, tiny_data):
    mean, std = tiny_data.channel_stats()
    model = build_resnet(ModelConfig(depth=8, classes=5, input_mean=mean, input_std=std))
    path = tmp_path_factory.mktemp("model") / "model.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("images")
    assert main(["data", "synth", "--out", str(out), "--size", "48", "--per-class", "1"]) == 0
    return sorted(out.rglob("*.png"))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--format", "coreml"), "format 'coreml' is not accepted"),
        (("--mode", "int4"), "mode 'int4' is not accepted"),
        (("--opset", "19"), "opset 19 is not accepted"),
        (("--mode", "int8", "--representative", "0"), "calibration data"),
    ],
)
def test_bad_options_are_one_line_exit_2(capsys, tmp_path, saved_model, args, needle) -> None:
    code, _, err = run(capsys, "export", "--model", saved_model, "--out", tmp_path / "out", *args)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_missing_or_non_model_file_is_exit_2(capsys, tmp_path) -> None:
    code, _, err = run(capsys, "export", "--model", tmp_path / "nope.keras", "--out", tmp_path / "o")
    assert code == 2 and "does not exist" in err
    bad = tmp_path / "bad.keras"
    bad.write_text("not a model")
    code, _, err = run(capsys, "export", "--model", bad, "--out", tmp_path / "o")
    assert code == 2 and "could not be read" in err and len(err.strip().splitlines()) == 1


def test_export_then_predict_prints_the_models_class(capsys, tmp_path, saved_model, image_files) -> None:
    out = tmp_path / "export"
    code, stdout, _ = run(capsys, "export", "--model", saved_model, "--out", out, "--mode", "fp32", *DATA)
    assert code == 0 and "model_fp32.tflite" in stdout and (out / "manifest.json").is_file()
    keras_runner = load_runner(saved_model)
    for artifact in ("model_fp32.tflite", "model_fp32.onnx"):
        code, stdout, _ = run(capsys, "predict", out / artifact, *image_files[:2], "--json", "--top-k", "2")
        assert code == 0
        result = json.loads(stdout)
        labels = (out / "labels.txt").read_text().split()
        for path in image_files[:2]:  # raw 48x48 files, resized by predict to the model's 32x32
            expected = labels[int(np.argmax(keras_runner.predict(read_image(path, 32, 3)[None])[0]))]
            assert result[str(path)][0]["class"] == expected and len(result[str(path)]) == 2


def test_invalid_artifact_is_kept_marked_and_exit_1(capsys, tmp_path, saved_model, monkeypatch) -> None:
    import resnet_edge.export as export_module

    monkeypatch.setattr(export_module, "_check", lambda *a: ["top-1 agreement 50.00 % < 99.5 %"])
    out = tmp_path / "export"
    code, _, err = run(capsys, "export", "--model", saved_model, "--out", out, "--mode", "fp32", "--format", "tflite",
                       *DATA)  # fmt: skip
    assert code == 1 and "failed validation" in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["artifacts"][0]["valid"] is False and (out / "model_fp32.tflite").is_file()
    code, _, _ = run(capsys, "export", "--model", saved_model, "--out", out, "--mode", "fp32", "--format", "tflite",
                     "--allow-invalid", *DATA)  # fmt: skip
    assert code == 0


def test_predict_errors(capsys, tmp_path, saved_model) -> None:
    code, _, err = run(capsys, "predict", tmp_path / "m.tflite", tmp_path / "x.png")
    assert code == 2 and "does not exist" in err
    text = tmp_path / "x.png"
    text.write_text("not an image")
    code, _, err = run(capsys, "predict", saved_model, text)
    assert code == 2 and "could not be read" in err and len(err.strip().splitlines()) == 1
