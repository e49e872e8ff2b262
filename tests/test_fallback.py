"""The float fallback: a model made to fail int8 (one activation channel 1000x the others) is marked invalid, and
`fallback` 2 recovers it with the layers around that activation named, by their Keras names, as float."""

from __future__ import annotations

import json

import numpy as np
import pytest
from by_hand import learned_reference

from resnet_edge._tf import keras
from resnet_edge.cli import main
from resnet_edge.config import ExportConfig, QuantizeConfig, QuantMode
from resnet_edge.export import export
from resnet_edge.export.tflite import tflite_converter
from resnet_edge.quantize.calibration import representative_images
from resnet_edge.quantize.layers import ActivationError, LayerNames, channel_sqnr_db, worst
from resnet_edge.quantize.tflite import calibrate, quantize_calibrated
from resnet_edge.runtime import load_runner

OUTLIER = "stage1_block1_bn1"  # one of its channels is scaled 1000x; the conv it feeds scales it back
FLOAT = ("stage1_block1_conv1", "stage1_block1_conv2")  # the ops that write and read that activation


@pytest.fixture(scope="module")
def outlier(learned_digits, digits):
    """(model, channel): a copy of the learned digits ResNet-8 computing the same function, except that one live
    channel of stage1_block1_bn1 (so of the fused conv1+bn1+relu1 output) is 1000x larger and stage1_block1_conv2
    divides it back: per-tensor int8 of that activation rounds its other 15 channels to zero."""
    learned, _ = learned_digits
    model = keras.models.clone_model(learned)
    model.set_weights(learned.get_weights())
    probe = keras.Model(model.inputs, model.get_layer("stage1_block1_relu1").output)
    channel = int(probe(digits.x_train[:64].astype(np.float32)).numpy().mean(axis=(0, 1, 2)).argmax())
    gamma, beta, mean, var = model.get_layer(OUTLIER).get_weights()
    gamma[channel] *= 1000
    beta[channel] *= 1000
    model.get_layer(OUTLIER).set_weights([gamma, beta, mean, var])
    (kernel,) = model.get_layer("stage1_block1_conv2").get_weights()
    kernel[:, :, channel, :] /= 1000
    model.get_layer("stage1_block1_conv2").set_weights([kernel])
    x = digits.x_val.astype(np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), learned.predict(x, verbose=0), atol=1e-4)
    return model, channel


@pytest.fixture(scope="module")
def recovered(outlier, digits, tmp_path_factory):
    """int8 TFLite (converter) and ONNX of the outlier model with fallback 2, at the default thresholds."""
    model, _ = outlier
    config = ExportConfig(modes=(QuantMode.INT8,), fallback=2, fallback_rounds=5)
    return export(model, data=digits, config=config, quantize=QuantizeConfig(), out=tmp_path_factory.mktemp("fb"))


def test_the_outlier_model_fails_int8_validation(outlier, digits, tmp_path) -> None:
    model, _ = outlier
    _, _, keras_acc = learned_reference(model, digits.x_val.astype(np.float32), digits.y_val)
    result = export(model, data=digits, config=ExportConfig(modes=(QuantMode.INT8,), layer_report=False),
                    quantize=QuantizeConfig(), out=tmp_path)  # fmt: skip
    assert set(result.invalid) == {"model_int8.tflite", "model_int8.onnx"}
    for a in result.artifacts:  # measured: 10.1 % on both (Keras 99.0 %): the damage is total, not marginal
        assert a.accuracy < keras_acc - 50 and a.fallback is None, a


@pytest.mark.parametrize("name", ["model_int8.tflite", "model_int8.onnx"])
def test_fallback_2_recovers_it_with_the_outlier_layers_in_float(recovered, outlier, digits, name) -> None:
    model, _ = outlier
    _, _, keras_acc = learned_reference(model, digits.x_val.astype(np.float32), digits.y_val)
    artifact = next(a for a in recovered.artifacts if a.path.name == name)
    fallback = artifact.fallback
    assert artifact.valid and fallback["recovered"], artifact.problems
    assert tuple(fallback["float_layers"]) == FLOAT  # the writer first, then the reader of the outlier tensor
    assert [s["layer"] for s in fallback["steps"]] == list(FLOAT)
    assert fallback["steps"][0]["sqnr_db"] < 3  # the activation that pointed at it lost its channels
    assert fallback["before"]["accuracy"] < keras_acc - 50 and fallback["before"]["problems"]
    assert keras_acc - artifact.accuracy <= 1.0 and artifact.agreement >= 97.0  # the default thresholds
    assert artifact.accuracy == pytest.approx(
        100 * np.mean(load_runner(artifact.path).predict(digits.x_val).argmax(-1) == digits.y_val)
    ), "the file under the plain int8 name is the recovered one"
    cost = fallback["latency"]
    assert cost["int8_p50_ms"] > 0 and cost["fallback_p50_ms"] > 0 and cost["ratio"]["low"] <= cost["ratio"]["high"]
    recorded = json.loads(recovered.manifest_path.read_text())["artifacts"]
    assert next(a for a in recorded if a["path"] == name)["fallback"]["float_layers"] == list(FLOAT)


def test_the_tflite_fallback_runs_those_layers_in_float(recovered, outlier) -> None:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    path = next(a.path for a in recovered.artifacts if a.path.suffix == ".tflite")
    interp = Interpreter(model_path=str(path),
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)  # fmt: skip
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    names = LayerNames(outlier[0])
    convs = [op for op in interp._get_ops_details() if op["op_name"] == "CONV_2D"]
    float_convs = {names.op(tensors[op["outputs"][0]]["name"]) for op in convs
                   if tensors[op["inputs"][0]]["dtype"] == np.float32}  # fmt: skip
    assert float_convs == set(FLOAT) and len(convs) == 7  # the other five stay int8


def test_fallback_1_is_not_enough_and_keeps_the_plain_model(outlier, digits, tmp_path) -> None:
    model, _ = outlier
    config = ExportConfig(formats=("tflite",), modes=(QuantMode.INT8,), fallback=1, fallback_rounds=5)
    result = export(model, data=digits, config=config, quantize=QuantizeConfig(), out=tmp_path)
    (artifact,) = result.artifacts
    fallback = artifact.fallback
    assert not artifact.valid and result.invalid == ("model_int8.tflite",)
    assert not fallback["recovered"] and fallback["float_layers"] == () and fallback["latency"] is None
    assert [s["layer"] for s in fallback["steps"]] == [FLOAT[0]] and fallback["steps"][0]["problems"]
    assert artifact.accuracy == fallback["before"]["accuracy"], "the plain int8 model stays"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.txt", "manifest.json", "model_int8.tflite"]


def test_litert_fallback_names_the_same_layers(outlier, digits, tmp_path) -> None:
    model, _ = outlier
    config = ExportConfig(formats=("tflite",), modes=(QuantMode.INT8,), fallback=2, fallback_rounds=5)
    result = export(model, data=digits, config=config, quantize=QuantizeConfig(tflite_quantizer="litert"),
                    out=tmp_path)  # fmt: skip
    (artifact,) = result.artifacts
    assert artifact.valid and tuple(artifact.fallback["float_layers"]) == FLOAT, artifact.fallback
    assert artifact.fallback["before"]["accuracy"] < 50


def test_export_cli_prints_the_fallback(capsys, outlier, digits, tmp_path) -> None:
    model, _ = outlier
    model.save(tmp_path / "outlier.keras")
    code = main(["export", "--model", str(tmp_path / "outlier.keras"), "--out", str(tmp_path / "out"),
                 "--data", digits.source, "--format", "tflite", "--mode", "int8", "--fallback", "2",
                 "--fallback-rounds", "5"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "model_int8.tflite fallback: kept stage1_block1_conv1, stage1_block1_conv2 in float" in " ".join(out.split())


def test_nothing_kept_float_is_the_converters_own_int8(outlier, digits) -> None:
    """The fallback's two-step quantization (calibrate, then quantize with a denylist) computes what the converter's
    `convert()` writes, when the denylist is empty."""
    model, _ = outlier
    images = representative_images(digits, 50)
    config = QuantizeConfig()
    calibrated = calibrate(tflite_converter(model, QuantMode.INT8, representative=images, config=config))
    two_step = quantize_calibrated(calibrated, config, keep_float=lambda name: False)
    converter = tflite_converter(model, QuantMode.INT8, representative=images, config=config)
    one_step = converter.convert()
    x = digits.x_val[:40]
    raw = [_raw(flatbuffer, x) for flatbuffer in (two_step, one_step)]
    np.testing.assert_array_equal(raw[0], raw[1])


def _raw(flatbuffer: bytes, images: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=flatbuffer)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    scale, zero = inp["quantization"]
    found = []
    for image in images:
        interp.set_tensor(inp["index"], np.clip(np.round(image[None] / scale) + zero, -128, 127).astype(np.int8))
        interp.invoke()
        found.append(interp.get_tensor(out["index"]).copy())
    return np.concatenate(found)


def test_channel_sqnr_by_hand() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, 4)).astype(np.float32)
    noisy = x + 0.1 * rng.normal(size=x.shape)  # noise power 0.01 of a unit signal: 20 dB in every channel
    assert channel_sqnr_db(x, noisy) == pytest.approx(20, abs=0.3)
    zeroed = noisy.copy()
    zeroed[:, :3] = 0  # three of four channels lost: 0 dB there, so the median says 0 dB
    assert channel_sqnr_db(x, zeroed) == pytest.approx(0, abs=0.1)
    assert channel_sqnr_db(np.moveaxis(x, 1, 0), np.moveaxis(noisy, 1, 0), axis=0) == pytest.approx(20, abs=0.3)


def test_worst_takes_the_producer_then_its_consumers_and_skips_what_is_float() -> None:
    errors = [ActivationError("a", 30.0, "conv_a", ("conv_b",)), ActivationError("t", 0.5, "conv1", ("conv2", "add"))]
    assert worst(errors, set())[0] == "conv1"
    assert worst(errors, {"conv1"})[0] == "conv2"
    assert worst(errors, {"conv1", "conv2"})[0] == "add"
    assert worst(errors, {"conv1", "conv2", "add"})[0] == "conv_a"
    assert worst(errors, {"conv1", "conv2", "add", "conv_a", "conv_b"}) is None


def test_runtime_names_map_to_keras_layers(tiny_resnet) -> None:
    names = LayerNames(tiny_resnet)
    fused = "resnet8/stage1_block1_relu1/Relu;resnet8/stage1_block1_bn1/FusedBatchNormV3;resnet8/stage1_block1_conv1/C"
    assert names.op(fused) == "stage1_block1_conv1" and names.value(fused) == "stage1_block1_relu1"
    assert names.op("resnet8/stem_conv/Conv2D__6") == "stem_conv"  # an ONNX node tf2onnx added for the layer
    assert names.op("StatefulPartitionedCall:0") is None


def test_fallback_is_a_count_of_layers() -> None:
    from resnet_edge.errors import ConfigError

    with pytest.raises(ConfigError, match="fallback -1 is not accepted"):
        ExportConfig(fallback=-1)


def test_build_takes_fallback_and_the_quantizer(capsys) -> None:
    import yaml

    assert main(["build", "--fallback", "2", "--tflite-quantizer", "litert", "--print-config"]) == 0
    resolved = yaml.safe_load(capsys.readouterr().out)
    assert resolved["export"]["fallback"] == 2 and resolved["quantize"]["tflite_quantizer"] == "litert"
