"""QAT with tfmot: ranges start calibrated, the QAT model reloads from .h5, converts to full integer; PQAT sparsity."""

from __future__ import annotations

import numpy as np
import pytest
from by_hand import learned_reference, onnx_scores, tflite_scores

from resnet_edge._tf import keras
from resnet_edge.config import ExportConfig, QuantizeConfig
from resnet_edge.errors import ConfigError
from resnet_edge.export import export
from resnet_edge.models.config import ModelConfig
from resnet_edge.models.resnet import build_resnet
from resnet_edge.quantize import quantize
from resnet_edge.quantize.calibration import representative_images
from resnet_edge.quantize.qat import calibrate_ranges, load_qat, qat_model


@pytest.fixture(scope="module")
def model(tiny_data):
    mean, std = tiny_data.channel_stats()
    keras.utils.set_random_seed(0)
    return build_resnet(ModelConfig(depth=8, classes=tiny_data.num_classes, input_mean=mean, input_std=std))


def test_representative_images_are_stratified_and_refuse_zero(tiny_data) -> None:
    images = representative_images(tiny_data, 10, seed=0)
    assert len(images) == 10 and images.dtype == np.uint8
    with pytest.raises(ConfigError, match="no calibration data"):
        representative_images(tiny_data, 0)


def test_ranges_start_at_the_float_models_activations(model, tiny_data) -> None:
    q = qat_model(model)
    assert calibrate_ranges(q, model, tiny_data.x_train[:16]) > 5
    maxima = [float(w.numpy().max()) for w in q.weights if w.name.endswith("output_max:0")]
    assert maxima and not any(m == 6.0 for m in maxima), "tfmot's default [-6, 6] start is replaced"


def test_qat_leaves_the_float_model_alone_and_reloads(model, tiny_data, tmp_path) -> None:
    before = [w.copy() for w in model.get_weights()]
    result = quantize(model, config=QuantizeConfig(qat_epochs=1, representative_count=16), data=tiny_data,
                      out=tmp_path)  # fmt: skip
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    assert result.model_path.suffix == ".h5" and result.weight_sparsity is None
    reloaded = load_qat(result.model_path)
    x = tiny_data.x_val[:4].astype(np.float32)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), result.model.predict(x, verbose=0), atol=1e-6)


def test_prune_preserving_qat_reaches_the_sparsity(model, tiny_data, tmp_path) -> None:
    config = QuantizeConfig(qat_epochs=2, representative_count=16, weight_sparsity=0.5, batch_size=16)
    result = quantize(model, config=config, data=tiny_data, out=tmp_path)
    assert result.weight_sparsity is not None and result.weight_sparsity >= 0.45


def test_qat_exports_full_integer_tflite_and_onnx(model, tiny_data, tmp_path) -> None:
    # mechanics (an untrained model); the default thresholds: test_qat_artifacts_of_a_learned_model...
    config = ExportConfig(modes=("qat",), int8_agreement=0.0, int8_max_drop=100.0)
    quant = QuantizeConfig(qat_epochs=1, representative_count=16)
    result = export(model, data=tiny_data, config=config, quantize=quant, out=tmp_path)
    tflite = next(a for a in result.artifacts if a.path.suffix == ".tflite")
    assert tflite.input["dtype"] == "int8" and tflite.output["dtype"] == "int8"
    assert {a.path.name for a in result.artifacts} == {"model_qat.tflite", "model_qat.onnx"}
    assert (tmp_path / "qat.h5").is_file() and result.qat_accuracy is not None


def test_qat_artifacts_of_a_learned_model_meet_the_default_thresholds(learned_digits, digits, tmp_path) -> None:
    """QAT TFLite and ONNX against the float Keras model with the default thresholds (>= 97 % top-1 agreement,
    <= 1 point lost), checked by the library and again here with each runtime driven by hand; and the integer
    models compute what the fake-quantized Keras model they were converted from computes.

    The model was trained without augmentation, so QAT fine-tunes without it (QuantizeConfig.augment=False): with
    the flips and shifts a digit classifier never saw, the fine-tuning took it from 98.3 % to 74.1 % (a float
    fine-tuning on the same images: 75.8 %; both without augmentation: 98.6-98.9 %)."""

    x, y = digits.x_val.astype(np.float32), digits.y_val
    learned, _ = learned_digits
    reference, keras_pred, keras_acc = learned_reference(learned, x, y)
    config = ExportConfig(modes=("qat",), layer_report=False)
    assert (config.int8_agreement, config.int8_max_drop) == (97.0, 1.0)  # the defaults
    result = export(learned, data=digits, config=config, quantize=QuantizeConfig(qat_epochs=1, augment=False),
                    out=tmp_path)  # fmt: skip
    assert {a.path.name for a in result.artifacts} == {"model_qat.tflite", "model_qat.onnx"} and not result.invalid
    qat_scores = load_qat(tmp_path / "qat.h5").predict(x, verbose=0)  # the fake-quantized Keras model
    assert result.qat_accuracy == pytest.approx(100 * np.mean(qat_scores.argmax(-1) == y))

    tflite, inp, out = tflite_scores(tmp_path / "model_qat.tflite", x)
    assert inp["dtype"] == out["dtype"] == np.int8  # full integer at both ends
    onnx_out, ops = onnx_scores(tmp_path / "model_qat.onnx", x)
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # QDQ: the fake quantization became int8 steps
    for name, scores in (("model_qat.tflite", tflite), ("model_qat.onnx", onnx_out)):
        pred = scores.argmax(-1)
        agreement, drop = 100 * np.mean(pred == keras_pred), keras_acc - 100 * np.mean(pred == y)
        qat_agreement = 100 * np.mean(pred == qat_scores.argmax(-1))
        diff = np.abs(scores - qat_scores)
        artifact = next(a for a in result.artifacts if a.path.name == name)
        assert artifact.valid and artifact.agreement == pytest.approx(agreement), artifact
        assert artifact.accuracy == pytest.approx(keras_acc - drop), artifact
        assert agreement >= 97 and drop <= 1, (name, agreement, drop)
        # the integer model computes what the fake-quantized model simulated (measured: >= 99.7 %, max 0.06)
        assert qat_agreement >= 99 and diff.max() < 0.15 and diff.mean() < 0.005, (name, qat_agreement, diff.max())
