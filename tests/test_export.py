"""Export: every format and mode converts, runs in its own runtime, validates against Keras, and is recorded."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from by_hand import learned_reference, onnx_scores, tflite_scores

from resnet_edge._tf import keras, tf
from resnet_edge.config import ExportConfig, QuantizeConfig, QuantMode
from resnet_edge.errors import ConfigError
from resnet_edge.export import _check, export, sha256
from resnet_edge.export.tflite import export_tflite
from resnet_edge.models.config import ModelConfig
from resnet_edge.models.resnet import build_resnet
from resnet_edge.runtime import load_runner


@pytest.fixture(scope="module")
def small_model(tiny_data):
    """ResNet-8 with the data's normalization inside, fitted a few epochs so its outputs are not flat."""
    mean, std = tiny_data.channel_stats()
    config = ModelConfig(depth=8, classes=tiny_data.num_classes, input_mean=mean, input_std=std)
    keras.utils.set_random_seed(0)
    model = build_resnet(config)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(tiny_data.x_train.astype(np.float32), tiny_data.y_train, epochs=4, batch_size=16, verbose=0)
    return model, config


@pytest.fixture(scope="module")
def exported(small_model, tiny_data, tmp_path_factory):
    model, config = small_model
    out = tmp_path_factory.mktemp("export")
    # mechanics here (15 validation images); the default int8 thresholds: test_int8_artifacts_of_a_learned_model...
    export_config = ExportConfig(int8_agreement=0.0, int8_max_drop=100.0)
    return export(model, data=tiny_data, config=export_config, quantize=QuantizeConfig(representative_count=30),
                  out=out, model_config=config)  # fmt: skip


def _artifact(result, name):
    return next(a for a in result.artifacts if a.path.name == name)


def test_every_default_artifact_is_written_and_validated(exported) -> None:
    names = {a.path.name for a in exported.artifacts}
    assert names == {f"model_{m}.{f}" for m in ("fp32", "fp16", "dynamic", "int8") for f in ("tflite", "onnx")}
    for a in exported.artifacts:
        assert a.path.is_file() and a.bytes == a.path.stat().st_size and a.sha256 == sha256(a.path)
    assert not list(exported.out.glob(".*tmp*")), "no temporary file is left behind"


def test_float_artifacts_match_keras(exported) -> None:
    for name in ("model_fp32.tflite", "model_fp32.onnx"):
        a = _artifact(exported, name)
        assert a.valid and a.agreement == 100.0 and a.max_abs_diff < 1e-4, a
    assert _artifact(exported, "model_fp16.onnx").max_abs_diff < 1e-2


def test_quantized_artifacts_are_smaller(exported) -> None:
    fp32 = _artifact(exported, "model_fp32.tflite").bytes
    assert _artifact(exported, "model_fp16.tflite").bytes < 0.6 * fp32
    assert _artifact(exported, "model_int8.tflite").bytes < 0.4 * fp32
    assert _artifact(exported, "model_int8.onnx").bytes < 0.5 * _artifact(exported, "model_fp32.onnx").bytes


def test_int8_tflite_takes_raw_pixels_as_int8(exported) -> None:
    """Normalization inside the model: the int8 input maps pixel p to p - 128 (scale 1, zero point -128)."""
    spec = _artifact(exported, "model_int8.tflite").input
    assert spec["dtype"] == "int8" and spec["zero_point"] == -128 and spec["scale"] == pytest.approx(1.0, abs=0.02)
    assert _artifact(exported, "model_int8.tflite").output["dtype"] == "int8"


def test_int8_artifacts_of_a_learned_model_meet_the_default_thresholds(learned_digits, digits, tmp_path) -> None:
    """Post-training int8 TFLite and ONNX against Keras with the default thresholds (>= 97 % top-1 agreement,
    <= 1 point lost), checked by the library and again here, with each runtime driven by hand."""
    model, model_config = learned_digits
    x, y = digits.x_val.astype(np.float32), digits.y_val
    reference, keras_pred, keras_acc = learned_reference(model, x, y)
    config = ExportConfig(modes=("int8",), layer_report=False)
    assert (config.int8_agreement, config.int8_max_drop) == (97.0, 1.0)  # the defaults
    result = export(model, data=digits, config=config, quantize=QuantizeConfig(), out=tmp_path,
                    model_config=model_config)  # fmt: skip
    assert result.keras_accuracy == pytest.approx(keras_acc) and not result.invalid
    assert {a.path.name for a in result.artifacts} == {"model_int8.tflite", "model_int8.onnx"}

    tflite, inp, out = tflite_scores(tmp_path / "model_int8.tflite", x)
    assert inp["dtype"] == out["dtype"] == np.int8  # full integer at both ends
    onnx_out, ops = onnx_scores(tmp_path / "model_int8.onnx", x)
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # QDQ: int8 inside
    for name, scores in (("model_int8.tflite", tflite), ("model_int8.onnx", onnx_out)):
        pred = scores.argmax(-1)
        agreement, drop = 100 * np.mean(pred == keras_pred), keras_acc - 100 * np.mean(pred == y)
        diff = np.abs(scores - reference)
        assert agreement >= 97 and drop <= 1, (name, agreement, drop)
        # softmax scores in [0, 1], the int8 output's step 1/256 (measured: max 0.05 / 0.08, mean 0.001 / 0.002)
        assert diff.max() < 0.25 and diff.mean() < 0.01, (name, diff.max(), diff.mean())
        artifact = _artifact(result, name)  # what the library measured and recorded is what is measured here
        assert artifact.valid and artifact.agreement == pytest.approx(agreement), artifact
        assert artifact.accuracy == pytest.approx(keras_acc - drop), artifact
        assert artifact.max_abs_diff == pytest.approx(diff.max(), abs=1e-4), artifact


def test_layer_report_names_layers(exported) -> None:
    for name, key in (("model_int8.tflite", "rmse_per_scale"), ("model_int8.onnx", "sqnr_db")):
        errors = _artifact(exported, name).layer_errors
        assert errors and all(key in e and e["layer"] for e in errors)


def test_manifest_describes_the_bundle(exported, tiny_data) -> None:
    manifest = json.loads(exported.manifest_path.read_text())
    assert manifest["class_names"] == list(tiny_data.class_names)
    assert (exported.out / "labels.txt").read_text().split() == list(tiny_data.class_names)
    assert manifest["preprocessing"]["baked_in"] is True and len(manifest["preprocessing"]["mean"]) == 3
    assert {"tensorflow", "onnxruntime", "tf2onnx", "ai-edge-litert"} <= set(manifest["versions"])
    row = next(a for a in manifest["artifacts"] if a["path"] == "model_int8.tflite")
    assert row["sha256"] == sha256(exported.out / "model_int8.tflite") and row["input"]["zero_point"] == -128
    assert {"accuracy", "agreement", "max_abs_diff", "valid", "problems"} <= set(row)


def test_validation_thresholds() -> None:
    config = ExportConfig()
    assert _check(QuantMode.FP32, 90.0, 99.6, 90.0, config) == []
    assert _check(QuantMode.FP16, 90.0, 99.0, 90.0, config)  # float artifacts need 99.5 % agreement
    assert _check(QuantMode.INT8, 89.5, 98.0, 90.0, config) == []
    assert len(_check(QuantMode.INT8, 88.0, 96.0, 90.0, config)) == 2  # agreement and accuracy drop
    assert _check(QuantMode.QAT, 88.5, 99.0, 90.0, config)  # 1.5 points lost


def test_uint8_io_and_per_tensor(small_model, tiny_data, tmp_path) -> None:
    model, _ = small_model
    images = tiny_data.x_train[:10]
    per_tensor = QuantizeConfig(io_type="uint8", per_channel=False)
    path = export_tflite(model, QuantMode.INT8, tmp_path / "m.tflite", representative=images, config=per_tensor)
    runner = load_runner(path)
    assert runner.input.dtype == "uint8" and runner.input.zero_point == 0
    details = runner._interp.get_tensor_details()
    scales = [len(d["quantization_parameters"]["scales"]) for d in details if d["name"].endswith("Conv2D")]
    assert scales and max(scales) == 1, "per-tensor: one scale per weight tensor"


def test_a_failed_conversion_leaves_no_file(small_model, tmp_path, monkeypatch) -> None:
    model, _ = small_model

    def boom(self):
        raise RuntimeError("converter crashed")

    monkeypatch.setattr(tf.lite.TFLiteConverter, "convert", boom)
    with pytest.raises(RuntimeError):
        export_tflite(model, QuantMode.FP32, tmp_path / "m.tflite")
    assert list(tmp_path.iterdir()) == []


def test_config_rejects_bad_values() -> None:
    for kwargs in ({"opset": 12}, {"opset": 19}, {"modes": "fp32,int4"}, {"formats": "tflite,coreml"}, {"modes": ""}):
        with pytest.raises(ConfigError):
            ExportConfig(**kwargs)
    with pytest.raises(ConfigError, match="weight sparsity"):
        QuantizeConfig(weight_sparsity=1.5)
    assert replace(ExportConfig(), opset=13).opset == 13
