"""int8 TFLite by the LiteRT Quantizer (`--tflite-quantizer litert`): valid at the default thresholds on a learned
model, full integer, calibrated on the same images as the converter; its options and errors."""

from __future__ import annotations

import numpy as np
import pytest
from by_hand import learned_reference, tflite_scores

from resnet_edge.cli import main
from resnet_edge.config import ExportConfig, QuantizeConfig, QuantMode, TfliteQuantizer
from resnet_edge.errors import ConfigError
from resnet_edge.export import export
from resnet_edge.quantize import litert
from resnet_edge.quantize.calibration import representative_images


@pytest.fixture(scope="module")
def litert_export(learned_digits, digits, tmp_path_factory):
    model, _ = learned_digits
    config = ExportConfig(formats=("tflite",), modes=(QuantMode.FP32, QuantMode.INT8))
    return export(model, data=digits, config=config, quantize=QuantizeConfig(tflite_quantizer="litert"),
                  out=tmp_path_factory.mktemp("litert"))  # fmt: skip


def test_litert_int8_of_a_learned_model_meets_the_default_thresholds(litert_export, learned_digits, digits) -> None:
    model, _ = learned_digits
    x = digits.x_val.astype(np.float32)
    _, keras_pred, keras_acc = learned_reference(model, x, digits.y_val)
    artifact = next(a for a in litert_export.artifacts if a.path.name == "model_int8.tflite")
    assert artifact.valid and not litert_export.invalid, artifact.problems
    scores, inp, out = tflite_scores(artifact.path, x)  # driven by hand, as a check of the library's runner
    pred = scores.argmax(-1)
    assert 100 * np.mean(pred == keras_pred) >= 97 and keras_acc - 100 * np.mean(pred == digits.y_val) <= 1
    assert inp["dtype"] == out["dtype"] == np.int8
    assert artifact.layer_errors and all("sqnr_db" in e for e in artifact.layer_errors)  # this model's activations


def test_litert_int8_is_full_integer(litert_export) -> None:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    path = next(a.path for a in litert_export.artifacts if a.path.name == "model_int8.tflite")
    interp = Interpreter(model_path=str(path),
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)  # fmt: skip
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    ops = interp._get_ops_details()
    assert {op["op_name"] for op in ops} >= {"CONV_2D", "ADD", "FULLY_CONNECTED"}
    assert not {"QUANTIZE", "DEQUANTIZE"} & {op["op_name"] for op in ops}, "no float island"
    for op in ops:
        assert all(np.dtype(tensors[i]["dtype"]).kind in "iu" for i in op["outputs"]), op["op_name"]


def test_float_io_keeps_the_graphs_ends_float(learned_digits, digits, tmp_path) -> None:
    model, _ = learned_digits
    config = ExportConfig(formats=("tflite",), modes=(QuantMode.INT8,), layer_report=False)
    result = export(model, data=digits, config=config, out=tmp_path,
                    quantize=QuantizeConfig(tflite_quantizer="litert", io_type="float32"))  # fmt: skip
    (artifact,) = result.artifacts
    assert artifact.valid and artifact.input["dtype"] == artifact.output["dtype"] == "float32", artifact


def test_both_quantizers_calibrate_on_the_same_images(learned_digits, digits, tmp_path, monkeypatch) -> None:
    """The export hands each quantizer `representative_images(data, count, seed)`; the LiteRT Quantizer gets
    exactly those (and the converter, its representative_dataset of them: tests/test_export.py)."""
    model, _ = learned_digits
    seen = []
    calibrate = litert.calibrate

    def spy(fp32, representative, config):
        seen.append(representative)
        return calibrate(fp32, representative, config)

    monkeypatch.setattr(litert, "calibrate", spy)
    quantize = QuantizeConfig(tflite_quantizer="litert", representative_count=40, seed=3)
    export(model, data=digits, config=ExportConfig(formats=("tflite",), modes=(QuantMode.INT8,), layer_report=False),
           quantize=quantize, out=tmp_path)  # fmt: skip
    (images,) = seen
    np.testing.assert_array_equal(images, representative_images(digits, 40, 3))


def test_quantizer_option_and_its_errors(capsys) -> None:
    assert QuantizeConfig().tflite_quantizer is TfliteQuantizer.CONVERTER  # the default, see README's table
    with pytest.raises(ConfigError, match="I/O type 'uint8' is not accepted with TFLite quantizer 'litert'"):
        QuantizeConfig(tflite_quantizer="litert", io_type="uint8")
    with pytest.raises(ConfigError, match="TFLite quantizer 'aimet' is not accepted; use one of: converter, litert"):
        QuantizeConfig(tflite_quantizer="aimet")
    code = main(["export", "--model", "m.keras", "--out", "o", "--tflite-quantizer", "aimet"])
    err = capsys.readouterr().err
    assert code == 2 and "aimet" in err and "litert" in err and len(err.strip().splitlines()) == 1
