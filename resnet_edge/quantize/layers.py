"""Which layer an int8 model should keep in float: the activation that int8 loses most, named by its Keras layer.

Not the debuggers' per-layer reports (`tflite.layer_errors`, `onnx.layer_errors`): on a digits ResNet-8 with one
channel of `stage1_block1_bn1` scaled 1000x (`stage1_block1_conv2` scaling it back, the float model unchanged) int8
fell from 99.0 % to 10.1 %, and TFLite's debugger ranked `head_dense` worst (8.0 quantization steps RMSE), ONNX
Runtime's `stage3_block1_bn2` (-6.9 dB, an error carried from upstream). The damage is done where the outlier
tensor is quantized per tensor: its 15 other channels round to zero. TFLite's debugger runs each float op on the
same quantized input and measures the error in the tensor's own quantization step, so a step 1000x too coarse
reads normal; ONNX Runtime's float-vs-QDQ error accumulates down the network.

The measure here is local and channel-wise: each int8 activation's float value, fake-quantized with the artifact's
own scale and zero point: the median over channels of the SQNR in dB (lower is worse; the outlier channel alone
would dominate a whole-tensor SQNR). Float values: TFLite, the float flatbuffer the artifact was quantized from, run
with every tensor kept (same tensor names, folded ops and all); ONNX, ONNX Runtime's QDQ debugger's tensor before
and after each Quantize/Dequantize pair.

Names: a runtime's names carry the Keras layer names as path segments ('resnet8/stage1_block1_conv1/Conv2D',
'resnet8/stage1_block1_relu1/Relu;resnet8/stage1_block1_bn1/FusedBatchNormV3;resnet8/stage1_block1_conv1/Conv2D1').
An op is named by the first of them in the model's order, and a BatchNorm or activation by the layer it follows
(a fused conv+BN+ReLU, or an ONNX ReLU node, by the conv). A tensor is quantized where its producer writes it and
again where each consumer reads it, so keeping it float takes the producer and its consumers: the worst tensor's
producer first, then its consumers, one layer a step.
"""

from __future__ import annotations

import re
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from resnet_edge._tf import keras, quiet

FOLLOWERS = (keras.layers.BatchNormalization, keras.layers.ReLU, keras.layers.Activation)
TRANSPARENT = {"QUANTIZE", "DEQUANTIZE", "QuantizeLinear", "DequantizeLinear"}  # they move a tensor, compute nothing


@dataclass(frozen=True)
class ActivationError:
    tensor: str  # the runtime's name of the int8 activation
    sqnr_db: float  # median over channels of its signal-to-quantization-noise ratio
    producer: str | None  # the Keras layer of the op that writes it
    consumers: tuple[str, ...]  # the Keras layers of the ops that read it

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "layer": self.producer or self.tensor, "consumers": list(self.consumers)}


class LayerNames:
    """Keras layer names found in a runtime's op, node and tensor names."""

    def __init__(self, model: keras.Model) -> None:
        self.order = {layer.name: i for i, layer in enumerate(model.layers)}
        # a BatchNorm or activation belongs to the layer it follows: TFLite fuses them into one op, while ONNX keeps
        # a ReLU node apart, and float for one without the other leaves the tensor between them quantized
        self.owner: dict[str, str] = {}
        for layer in model.layers:
            follows = isinstance(layer, FOLLOWERS) and not isinstance(layer.input, list)
            source = layer.input._keras_history.layer.name if follows else layer.name
            self.owner[layer.name] = self.owner.get(source, source)

    def all(self, name: str) -> list[str]:
        found = {part for part in re.split(r"[;/:]", name) if part in self.order}
        return sorted(found, key=self.order.__getitem__)

    def op(self, name: str) -> str | None:
        """The Keras layer an op (named by its output tensor, or an ONNX node name) belongs to: the owner of the
        first layer it names."""
        found = self.all(name)
        return self.owner[found[0]] if found else None

    def value(self, name: str) -> str | None:
        """The Keras layer whose output a tensor holds: the last."""
        found = self.all(name)
        return found[-1] if found else None


def channel_sqnr_db(reference: np.ndarray, approx: np.ndarray, axis: int = -1) -> float:
    """Median over the channels on `axis` of 10 log10(signal / noise); all-zero channels carry nothing to lose."""
    ref = np.moveaxis(np.asarray(reference, np.float64), axis, -1)
    ref = ref.reshape(-1, ref.shape[-1])
    noise = ((ref - np.moveaxis(np.asarray(approx, np.float64), axis, -1).reshape(ref.shape)) ** 2).sum(0)
    return _median_db(np.square(ref).sum(0), noise)


def _median_db(signal: np.ndarray, noise: np.ndarray) -> float:
    live = signal > 0
    if not live.any():
        return float("inf")
    ratio = signal[live] / np.maximum(noise[live], signal[live] * 1e-12)  # exact channels: 120 dB, not infinite
    return float(np.median(10 * np.log10(ratio)))


def fake_quantize(x: np.ndarray, scale: float, zero_point: int, dtype: np.dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    q = np.clip(np.round(x / scale) + zero_point, info.min, info.max)
    return ((q - zero_point) * scale).astype(np.float32)


def worst(errors: list[ActivationError], floated: set[str]) -> tuple[str, ActivationError] | None:
    """The next layer to keep in float: of the worst activation not yet float, its producer, then its consumers."""
    for error in sorted(errors, key=lambda e: e.sqnr_db):
        for layer in (error.producer, *error.consumers):
            if layer is not None and layer not in floated:
                return layer, error
    return None


# ---- TFLite: the float flatbuffer's tensors fake-quantized with the artifact's parameters


@dataclass(frozen=True)
class _Site:
    tensor: str  # the int8 tensor
    source: str  # the float tensor it quantizes (itself, or what a QUANTIZE op read), named as in the float model
    scale: float
    zero_point: int
    dtype: np.dtype
    producer: str | None
    consumers: tuple[str, ...]


def tflite_errors(path: str | Path, reference: bytes, model: keras.Model, images: np.ndarray) -> list[ActivationError]:
    """Every int8 activation of the .tflite file at `path`, worst first. `reference` is the float flatbuffer it was
    quantized from (the converter's calibrated model, or the fp32 model the LiteRT Quantizer read): the tensors
    carry the same names there, folded ops and all."""
    sites = list(_tflite_sites(Path(path), LayerNames(model)))
    signal: dict[str, np.ndarray] = {}
    noise: dict[str, np.ndarray] = {}
    for values in _float_tensors(reference, {s.source for s in sites}, images):
        for s in (s for s in sites if s.source in values):
            x = values[s.source].reshape(-1, values[s.source].shape[-1]).astype(np.float64)
            err = x - fake_quantize(x, s.scale, s.zero_point, s.dtype)
            signal[s.tensor] = signal.get(s.tensor, 0.0) + np.square(x).sum(0)
            noise[s.tensor] = noise.get(s.tensor, 0.0) + np.square(err).sum(0)
    # named as the float model names the activation (a QUANTIZE op's output is 'tfl.quantize')
    errors = [ActivationError(s.source, _median_db(signal[s.tensor], noise[s.tensor]), s.producer, s.consumers)
              for s in sites if s.tensor in signal]  # fmt: skip
    return sorted(errors, key=lambda e: e.sqnr_db)


def _tflite_sites(path: Path, names: LayerNames) -> Iterator[_Site]:
    from ai_edge_litert.interpreter import OpResolverType

    from resnet_edge.models.io import load_tflite

    interp = load_tflite(path, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    ops = interp._get_ops_details()
    producer = {out: op for op in ops for out in op["outputs"]}
    readers: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for op in ops:
        for index in op["inputs"]:
            readers[index].append(op)

    def op_layer(op: dict[str, Any]) -> str | None:
        return names.op(tensors[op["outputs"][0]]["name"])

    for index, tensor in tensors.items():
        params = tensor["quantization_parameters"]
        if index not in producer or len(params["scales"]) != 1 or np.dtype(tensor["dtype"]).kind not in "iu":
            continue
        source, origin = _upstream(index, producer, "op_name", lambda op: op["inputs"][0])
        consumers = [op_layer(op) for op in _downstream(index, readers, "op_name", lambda op: op["outputs"][0])]
        # not the graph's input (raw pixels quantize exactly) nor its output (scores quantized by the I/O contract;
        # softmax probabilities near 0 always read as lost channels)
        if origin is not None and consumers:
            yield _Site(tensor["name"], tensors[source]["name"], float(params["scales"][0]),
                        int(params["zero_points"][0]), np.dtype(tensor["dtype"]), op_layer(origin),
                        _unique(consumers))  # fmt: skip


def _float_tensors(flatbuffer: bytes, wanted: set[str], images: np.ndarray) -> Iterator[dict[str, np.ndarray]]:
    """{name: value} of the `wanted` tensors of a float flatbuffer, one image at a time."""
    from ai_edge_litert.interpreter import Interpreter

    with quiet():  # LiteRT warns that preserving every tensor is for debugging, which this is
        interp = Interpreter(model_content=flatbuffer, experimental_preserve_all_tensors=True)
        interp.allocate_tensors()
    found = {t["name"]: t["index"] for t in interp.get_tensor_details() if t["name"] in wanted}
    feed = interp.get_input_details()[0]["index"]
    for image in images:
        interp.set_tensor(feed, image[None].astype(np.float32))
        interp.invoke()
        yield {name: interp.get_tensor(index) for name, index in found.items()}


def _upstream(key: Any, producer: dict[Any, Any], kind: str, first_input: Callable[[Any], Any]) -> tuple[Any, Any]:
    """(the tensor, the op that computed it) behind a tensor that (de)quantize ops only moved."""
    op = producer.get(key)
    while op is not None and _kind(op, kind) in TRANSPARENT:
        key = first_input(op)
        op = producer.get(key)
    return key, op


def _downstream(key: Any, readers: dict[Any, list[Any]], kind: str, first_output: Callable[[Any], Any]) -> list[Any]:
    """The ops that read a tensor, through (de)quantize ops."""
    found = []
    for op in readers.get(key, []):
        transparent = _kind(op, kind) in TRANSPARENT
        found += _downstream(first_output(op), readers, kind, first_output) if transparent else [op]
    return found


def _kind(op: Any, kind: str) -> str:
    return op[kind] if isinstance(op, dict) else getattr(op, kind)


def _unique(layers: list[str | None]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(layer for layer in layers if layer is not None))


# ---- ONNX: the pre-processed float model's tensors fake-quantized with each QuantizeLinear's parameters


def onnx_errors(path: str | Path, fp32: str | Path, model: keras.Model, images: np.ndarray) -> list[ActivationError]:
    """Every quantized activation of the QDQ model at `path`, worst first. `fp32` is the float ONNX file it was
    quantized from; it is pre-processed as for quantization, so its tensors carry the QDQ model's names."""
    import onnx
    from onnx import numpy_helper

    names = LayerNames(model)
    graph = onnx.load(str(path), load_external_data=False).graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    readers: dict[str, list[Any]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            readers[name].append(node)
    quantizers = [n for n in graph.node if n.op_type == "QuantizeLinear" and np.size(constants.get(n.input[1])) == 1]
    values = _onnx_float_tensors(Path(fp32), {q.input[0] for q in quantizers}, images)
    errors = []
    for q in quantizers:
        tensor = q.input[0]
        if tensor not in values:
            continue
        x, zero = values[tensor], constants[q.input[2]]
        approx = fake_quantize(x, float(constants[q.input[1]]), int(zero), zero.dtype)
        _, origin = _upstream(tensor, producer, "op_type", lambda node: node.input[0])
        consumers = _downstream(q.output[0], readers, "op_type", lambda node: node.output[0])
        if not consumers:  # the graph's output, as for TFLite
            continue
        errors.append(ActivationError(tensor, channel_sqnr_db(x, approx, _channel_axis(model, names, tensor, x)),
                                      names.op(origin.name) if origin is not None else None,
                                      _unique([names.op(node.name) for node in consumers])))  # fmt: skip
    return sorted(errors, key=lambda e: e.sqnr_db)


def _onnx_float_tensors(fp32: Path, wanted: set[str], images: np.ndarray) -> dict[str, np.ndarray]:
    """{name: values over `images`} of the `wanted` tensors of the pre-processed float model."""
    from onnxruntime.quantization.qdq_loss_debug import collect_activations, modify_model_output_intermediate_tensors

    from resnet_edge.quantize.onnx import CalibrationReader, input_name, preprocessed

    with tempfile.TemporaryDirectory() as tmp_dir:
        pre = preprocessed(fp32, tmp_dir)
        augmented = Path(tmp_dir) / "augmented.onnx"
        with quiet():
            modify_model_output_intermediate_tensors(str(pre), str(augmented))
            found = collect_activations(str(augmented), CalibrationReader(images, input_name(pre)))
    return {name: np.concatenate(arrays) for name, arrays in found.items() if name in wanted}


def _channel_axis(model: keras.Model, names: LayerNames, tensor: str, value: np.ndarray) -> int:
    """tf2onnx moves most activations to NCHW: the axis whose size is the Keras layer's channel count."""
    layer = names.value(tensor)
    if layer is None or value.ndim != 4:
        return -1
    shape = tuple(model.get_layer(layer).output_shape[1:])
    return 1 if value.shape[1:] == (shape[2], shape[0], shape[1]) and value.shape[1:] != shape else -1
