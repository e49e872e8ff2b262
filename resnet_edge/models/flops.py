"""Count multiply-accumulates (MACs) and parameters per layer, per residual block and per stage.

MACs are the multiply-adds of the linear layers (convolutions of every kind, dense/Gemm/MatMul):
one multiply-add = 1 MAC, as in He et al. 2015 and torchvision's tables. FLOPs = 2 x MACs for tools that
count that way. Everything else that computes (BatchNorm, activations, additions, pooling) is counted
apart as element-wise operations, so papers' MAC figures are reproduced exactly. Counts are for one
sample (batch 1). Layers whose cost cannot be inferred are listed in `uncounted`, never guessed.

Works for any tf_keras functional model (nested models included) and for ONNX files (shapes inferred).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from resnet_edge._tf import keras

L = keras.layers

# `stage2_block3_conv1` (this toolkit), `conv3_block4_1_conv` (keras.applications), `block_5_expand` (MobileNetV2)
_BLOCK_RE = re.compile(r"(?:(?P<stage>[A-Za-z]+\d+)_)?(?P<block>block_?\d+)")
MAC_NOTE = "MACs = multiply-accumulates of conv/dense layers (1 multiply-add = 1 MAC); FLOPs = 2 x MACs"


@dataclass(frozen=True)
class LayerCount:
    name: str
    kind: str
    output_shape: tuple[int | None, ...]
    params: int
    non_trainable_params: int
    macs: int
    elementwise_ops: int
    counted: bool = True


@dataclass(frozen=True)
class GroupCount:
    """A residual block or a stage (stem and head count as stages)."""

    name: str
    stage: str
    layers: int
    params: int
    non_trainable_params: int
    macs: int
    output_shape: tuple[int | None, ...]


@dataclass(frozen=True)
class ModelCount:
    name: str
    input_shape: tuple[int | None, ...]
    layers: tuple[LayerCount, ...]
    blocks: tuple[GroupCount, ...] = field(default=())
    stages: tuple[GroupCount, ...] = field(default=())

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def non_trainable_params(self) -> int:
        return sum(layer.non_trainable_params for layer in self.layers)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def elementwise_ops(self) -> int:
        return sum(layer.elementwise_ops for layer in self.layers)

    @property
    def uncounted(self) -> tuple[str, ...]:
        return tuple(f"{layer.name} ({layer.kind})" for layer in self.layers if not layer.counted)

    def to_dict(self) -> dict[str, Any]:
        def group(g: GroupCount) -> dict[str, Any]:
            return {
                "name": g.name,
                "stage": g.stage,
                "params": g.params,
                "non_trainable_params": g.non_trainable_params,
                "macs": g.macs,
                "output_shape": list(g.output_shape),
            }

        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "params": self.params,
            "non_trainable_params": self.non_trainable_params,
            "macs": self.macs,
            "flops": self.flops,
            "elementwise_ops": self.elementwise_ops,
            "depth": len(self.blocks),
            "note": MAC_NOTE,
            "stages": [group(s) for s in self.stages],
            "blocks": [group(b) for b in self.blocks],
            "uncounted": list(self.uncounted),
        }


def _prod(dims: Iterable[int | None]) -> int:
    return math.prod(int(d) for d in dims)


def _known(shape: Sequence[int | None]) -> bool:
    return all(d is not None for d in shape[1:])


def _weights_size(weights: Iterable[Any]) -> int:
    return sum(_prod(w.shape) for w in weights)


# --------------------------------------------------------------------------------------------- grouping
def _group(layers: Sequence[LayerCount]) -> tuple[tuple[GroupCount, ...], tuple[GroupCount, ...]]:
    """Blocks by name pattern; stages = stem (before the first block), each named stage, head (after)."""
    keys: list[tuple[str, str | None]] = []  # (stage, block) per layer
    for layer in layers:
        m = _BLOCK_RE.search(layer.name)
        if m:
            block = f"{m['stage']}_{m['block']}" if m["stage"] else m["block"]
            keys.append((m["stage"] or block, block))
        else:
            keys.append(("", None))
    seen_block = [i for i, (_, b) in enumerate(keys) if b is not None]
    first, last = (seen_block[0], seen_block[-1]) if seen_block else (len(layers), len(layers))
    keys = [
        (s if b is not None else ("stem" if i < first else "head" if i > last else "other"), b)
        for i, (s, b) in enumerate(keys)
    ]

    def make(name: str, stage: str, members: list[LayerCount]) -> GroupCount:
        return GroupCount(
            name=name,
            stage=stage,
            layers=len(members),
            params=sum(m.params for m in members),
            non_trainable_params=sum(m.non_trainable_params for m in members),
            macs=sum(m.macs for m in members),
            output_shape=members[-1].output_shape,
        )

    blocks: dict[str, tuple[str, list[LayerCount]]] = {}
    stages: dict[str, list[LayerCount]] = {}
    for layer, (stage, block) in zip(layers, keys, strict=True):
        stages.setdefault(stage, []).append(layer)
        if block is not None:
            blocks.setdefault(block, (stage, []))[1].append(layer)
    return (
        tuple(make(name, stage, members) for name, (stage, members) in blocks.items()),
        tuple(make(name, name, members) for name, members in stages.items()),
    )


# ----------------------------------------------------------------------------------------------- Keras
_STRUCTURAL = (
    L.InputLayer, L.ZeroPadding1D, L.ZeroPadding2D, L.ZeroPadding3D, L.Cropping1D, L.Cropping2D,
    L.Cropping3D, L.Reshape, L.Flatten, L.Permute, L.RepeatVector, L.Dropout, L.SpatialDropout1D,
    L.SpatialDropout2D, L.SpatialDropout3D, L.GaussianNoise, L.GaussianDropout, L.AlphaDropout,
    L.Concatenate, L.ActivityRegularization, L.UpSampling1D, L.UpSampling2D, L.UpSampling3D,
)  # fmt: skip
_PER_ELEMENT = (
    L.BatchNormalization, L.LayerNormalization, L.Activation, L.ReLU, L.LeakyReLU, L.PReLU, L.ELU,
    L.Softmax, L.ThresholdedReLU, L.Rescaling, L.Normalization,
)  # fmt: skip
_MERGE = (L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum, L.Minimum)
_POOL = (L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D, L.AveragePooling1D, L.AveragePooling2D, L.AveragePooling3D)
_GLOBAL_POOL = (
    L.GlobalAveragePooling1D, L.GlobalAveragePooling2D, L.GlobalAveragePooling3D,
    L.GlobalMaxPooling1D, L.GlobalMaxPooling2D, L.GlobalMaxPooling3D,
)  # fmt: skip
_TRANSPOSE = (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)
_SEPARABLE = (L.SeparableConv1D, L.SeparableConv2D)
_DEPTHWISE = (L.DepthwiseConv1D, L.DepthwiseConv2D)
_CONV = (L.Conv1D, L.Conv2D, L.Conv3D)


def _spatial(layer: Any, shape: Sequence[int | None]) -> int:
    """Output positions of a conv: every dim but batch and channels."""
    dims = shape[2:] if getattr(layer, "data_format", "channels_last") == "channels_first" else shape[1:-1]
    return _prod(dims)


def _keras_cost(layer: Any, in_shapes: list[tuple], out_shape: tuple) -> tuple[int, int] | None:
    """(MACs, element-wise ops) of one call of `layer`, or None when it cannot be inferred."""
    from resnet_edge.models.blocks import ResidualScale, ZeroPadShortcut

    out = _prod(out_shape[1:])
    if isinstance(layer, _TRANSPOSE):
        return _spatial(layer, in_shapes[0]) * _prod(layer.kernel.shape), 0
    if isinstance(layer, _SEPARABLE):
        per_position = _prod(layer.depthwise_kernel.shape) + _prod(layer.pointwise_kernel.shape)
        return _spatial(layer, out_shape) * per_position, 0
    if isinstance(layer, _DEPTHWISE):
        return _spatial(layer, out_shape) * _prod(layer.depthwise_kernel.shape), 0
    if isinstance(layer, _CONV):  # kernel is (k..., in/groups, out): grouped convs come out right
        return _spatial(layer, out_shape) * _prod(layer.kernel.shape), 0
    if isinstance(layer, L.Dense):
        return _prod(out_shape[1:-1]) * _prod(layer.kernel.shape), 0
    if isinstance(layer, (*_STRUCTURAL, ZeroPadShortcut)):
        return 0, 0
    if isinstance(layer, (*_PER_ELEMENT, ResidualScale)):
        return 0, out
    if isinstance(layer, _MERGE):
        return 0, (len(in_shapes) - 1) * out
    if isinstance(layer, _POOL):
        return 0, out * _prod(layer.pool_size)
    if isinstance(layer, _GLOBAL_POOL):
        return 0, _prod(in_shapes[0][1:])
    if isinstance(layer, L.Lambda) and len(in_shapes) == 1 and tuple(in_shapes[0]) == tuple(out_shape):
        return 0, out  # a shape-preserving Lambda is an element-wise function
    return None


def _as_list(shape: Any) -> list[tuple]:
    if isinstance(shape, list) and shape and isinstance(shape[0], tuple | list):
        return [tuple(s) for s in shape]
    return [tuple(shape)]


def _keras_layers(model: Any, prefix: str = "") -> Iterable[LayerCount]:
    for layer in model.layers:
        if isinstance(layer, keras.Model):  # a nested model: count its layers, named under it
            yield from _keras_layers(layer, f"{prefix}{layer.name}/")
            continue
        params = _weights_size(layer.trainable_weights)
        frozen = _weights_size(layer.non_trainable_weights)
        for node in range(max(1, len(layer._inbound_nodes))):
            in_shapes = _as_list(layer.get_input_shape_at(node)) if layer._inbound_nodes else []
            out_shape = _as_list(layer.get_output_shape_at(node))[0] if layer._inbound_nodes else ()
            known = bool(out_shape) and all(_known(s) for s in [*in_shapes, out_shape])
            cost = _keras_cost(layer, in_shapes, out_shape) if known else None
            macs, elementwise = cost or (0, 0)
            yield LayerCount(
                name=f"{prefix}{layer.name}",
                kind=type(layer).__name__,
                output_shape=out_shape,
                params=params if node == 0 else 0,  # shared weights count once
                non_trainable_params=frozen if node == 0 else 0,
                macs=macs,
                elementwise_ops=elementwise,
                counted=cost is not None,
            )


def count_keras(model: Any) -> ModelCount:
    """Per-layer, per-block and per-stage MACs and parameters of a tf_keras functional model."""
    layers = tuple(_keras_layers(model))
    blocks, stages = _group(layers)
    input_shape = tuple(model.inputs[0].shape) if model.inputs else ()
    return ModelCount(name=model.name, input_shape=input_shape, layers=layers, blocks=blocks, stages=stages)


# ------------------------------------------------------------------------------------------------ ONNX
_ONNX_STRUCTURAL = {
    "Reshape", "Transpose", "Pad", "Flatten", "Squeeze", "Unsqueeze", "Concat", "Identity", "Shape",
    "Gather", "Slice", "Cast", "Constant", "Dropout", "Split", "Expand", "Tile", "ConstantOfShape",
}  # fmt: skip
_ONNX_ELEMENTWISE = {
    "BatchNormalization", "Relu", "Clip", "LeakyRelu", "PRelu", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
    "Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean", "Exp", "Sqrt", "Erf", "HardSigmoid",
    "HardSwish", "Elu", "Selu", "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
    "LayerNormalization", "InstanceNormalization", "QLinearAdd", "QLinearMul", "QLinearSigmoid",
}  # fmt: skip
_ONNX_CONV_WEIGHT = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3}


def _onnx_shapes(model: Any) -> dict[str, tuple[int, ...] | None]:
    """Static shape of every tensor; symbolic dims (the batch) count as 1."""
    from onnx import numpy_helper

    shapes: dict[str, tuple[int, ...] | None] = {}
    graph = model.graph
    for value in [*graph.input, *graph.value_info, *graph.output]:
        if not value.type.HasField("tensor_type") or not value.type.tensor_type.HasField("shape"):
            shapes[value.name] = None
            continue
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = tuple(d.dim_value if d.HasField("dim_value") else 1 for d in dims)
    for init in graph.initializer:
        shapes[init.name] = tuple(numpy_helper.to_array(init).shape)
    return shapes


def _onnx_cost(node: Any, shapes: dict[str, tuple[int, ...] | None]) -> tuple[int, int] | None:
    def shape(i: int, outputs: bool = False) -> tuple[int, ...] | None:
        names = node.output if outputs else node.input
        return shapes.get(names[i]) if i < len(names) and names[i] else None

    out = shape(0, outputs=True)
    if out is None:
        return None
    per_sample = _prod(out[1:]) if len(out) > 1 else _prod(out)
    op = node.op_type
    if op in _ONNX_CONV_WEIGHT:  # W is (out, in/groups, k...): MACs = outputs x in/groups x k...
        w = shape(_ONNX_CONV_WEIGHT[op])
        return (per_sample * _prod(w[1:]), 0) if w else None
    if op == "ConvTranspose":
        x, w = shape(0), shape(1)
        return (_prod(x[1:]) * _prod(w[1:]), 0) if x and w else None
    if op in ("Gemm", "MatMul", "MatMulInteger", "QLinearMatMul"):
        b = shape(3 if op == "QLinearMatMul" else 1)
        if b is None:
            return None
        trans_b = any(a.name == "transB" and a.i for a in node.attribute)
        k = b[-1] if trans_b else b[-2] if len(b) >= 2 else b[0]
        return per_sample * k, 0
    if op in _ONNX_STRUCTURAL:
        return 0, 0
    if op in _ONNX_ELEMENTWISE:
        return 0, per_sample
    if op in ("MaxPool", "AveragePool"):
        kernel = next((list(a.ints) for a in node.attribute if a.name == "kernel_shape"), None)
        return (0, per_sample * _prod(kernel)) if kernel else None
    if op in ("GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceMax", "ReduceSum"):
        x = shape(0)
        return (0, _prod(x[1:])) if x else None
    return None


_WEIGHT_TYPES = {1, 2, 3, 10, 11, 16}  # float, uint8, int8, float16, double, bfloat16: weights, not shapes


def count_onnx(model: Any, name: str = "") -> ModelCount:
    """MACs and parameters of an ONNX model (a ModelProto); BatchNorm may be folded into convs there."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = _onnx_shapes(inferred)
    weights = {i.name: _prod(i.dims) for i in inferred.graph.initializer if i.data_type in _WEIGHT_TYPES}
    layers = []
    for i, node in enumerate(inferred.graph.node):
        cost = _onnx_cost(node, shapes)
        out_shape = shapes.get(node.output[0]) if node.output else None
        own = [w for w in node.input if w in weights]
        layers.append(
            LayerCount(
                name=node.name or f"{node.op_type}_{i}",
                kind=node.op_type,
                output_shape=tuple(out_shape or ()),
                params=sum(weights.pop(w) for w in own),  # pop: a shared initializer counts once
                non_trainable_params=0,
                macs=(cost or (0, 0))[0],
                elementwise_ops=(cost or (0, 0))[1],
                counted=cost is not None,
            )
        )
    graph_input = next(v for v in inferred.graph.input if v.name not in {i.name for i in inferred.graph.initializer})
    input_shape = tuple(
        d.dim_value if d.HasField("dim_value") else None for d in graph_input.type.tensor_type.shape.dim
    )
    blocks, stages = _group(layers)
    return ModelCount(
        name=name or inferred.graph.name, input_shape=input_shape, layers=tuple(layers), blocks=blocks, stages=stages
    )


_TFLITE_SHAPE_OPS = {"RESHAPE", "SQUEEZE", "STRIDED_SLICE", "PAD", "PADV2", "TRANSPOSE", "CONCATENATION", "SHAPE"}


def _tflite_cost(op: dict[str, Any], shape: Any) -> tuple[int, int, int]:
    """(MACs, element-wise ops, weights) of one TFLite operator, from its tensors' shapes."""
    name, inputs, outputs = op["op_name"], list(op["inputs"]), list(op["outputs"])
    out = _prod(shape(outputs[0])) if outputs else 0
    weights = sum(_prod(shape(i)) for i in inputs[1:] if i >= 0)
    if name == "CONV_2D":  # filter [out, kh, kw, in]
        _, kh, kw, cin = shape(inputs[1])
        return out * kh * kw * cin, 0, weights
    if name == "DEPTHWISE_CONV_2D":  # filter [1, kh, kw, out]
        _, kh, kw, _ = shape(inputs[1])
        return out * kh * kw, 0, weights
    if name == "FULLY_CONNECTED":  # filter [out, in]
        return out * shape(inputs[1])[1], 0, weights
    return 0, 0 if name in _TFLITE_SHAPE_OPS else out, 0


def count_tflite(path: str | Any) -> ModelCount:
    """MACs and weights of a `.tflite` file from its operators (BatchNorm is folded into convs there)."""
    from pathlib import Path

    from ai_edge_litert.interpreter import OpResolverType

    from resnet_edge.models.io import load_tflite

    # without the default delegate, so the operators are listed one by one and not as one DELEGATE node
    interp = load_tflite(path, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    shapes = {t["index"]: tuple(int(d) for d in t["shape"]) for t in interp.get_tensor_details()}

    def shape(index: int) -> tuple[int, ...]:
        return shapes.get(index, ())

    layers = []
    for op in interp._get_ops_details():
        macs, elementwise, weights = _tflite_cost(op, shape)
        out = shape(list(op["outputs"])[0]) if len(op["outputs"]) else ()
        layers.append(LayerCount(f"{op['op_name']}_{op['index']}", op["op_name"], out, weights, 0, macs, elementwise))
    input_shape = tuple(int(d) for d in interp.get_input_details()[0]["shape"])
    return ModelCount(name=Path(path).stem, input_shape=input_shape, layers=tuple(layers))


def count_file(path: str | Any) -> ModelCount:
    """Counts for a saved model: `.keras` / `.h5` through tf_keras, `.onnx` through ONNX shape inference,
    `.tflite` from its operators."""
    from pathlib import Path

    from resnet_edge.models import io

    if str(path).lower().endswith(".tflite") and Path(path).is_file():
        return count_tflite(path)
    if io.is_onnx(path):
        return count_onnx(io.load_onnx(path), name=Path(path).stem)
    return count_keras(io.load_keras(path))
