"""The tests behind the rule tables' `Limit`s: each takes an operator and the limit's argument and returns why the op
breaks the limit (one short phrase), or None. Axis names are NHWC's: batch, height, width, channels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from resnet_edge.check.graph import Op, Tensor

AXES = ("batch", "height", "width", "channels")
_WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")


def _weights(op: Op) -> Tensor | None:
    """The weight tensor of a convolution or fully-connected layer (TRANSPOSE_CONV keeps it second as well)."""
    return op.inputs[1] if op.name in _WEIGHTED and len(op.inputs) > 1 else None


def _dims(t: Tensor) -> str:
    return "x".join(map(str, t.shape)) or "scalar"


def activation_types(op: Op, allowed: tuple[str, ...]) -> str | None:
    bad = sorted({t.dtype for t in op.activations if t.dtype not in allowed})
    return f"{'/'.join(bad)} tensors (not full-integer)" if bad else None


def weight_types(op: Op, allowed: tuple[str, ...]) -> str | None:
    w = _weights(op)
    return f"{w.dtype} weights" if w is not None and w.dtype not in allowed else None


def weights_constant(op: Op, _: Any) -> str | None:
    w = _weights(op)
    return "weights computed at run time" if w is not None and not w.constant else None


def int32_only_for(op: Op, ops: tuple[str, ...]) -> str | None:
    return "int32 tensors" if op.name not in ops and any(t.dtype == "int32" for t in op.activations) else None


def quantized(op: Op, _: Any) -> str | None:
    bare = [t for t in op.activations if t.dtype != "float32" and t.scales == 0]
    return "tensors without quantization parameters" if bare else None


def static_shapes(op: Op, _: Any) -> str | None:
    return "dynamic tensor sizes" if any(t.dynamic for t in op.activations) else None


def inner_dims(op: Op, count: int) -> str | None:
    bad = [t for t in op.activations if any(d > 1 for d in t.shape[:-count])]
    return f"tensor {_dims(bad[0])}: more than {count} dimensions above 1" if bad else None


def max_rank(op: Op, rank: int) -> str | None:
    bad = [t for t in op.activations if len(t.shape) > rank]
    return f"{len(bad[0].shape)}-D tensor" if bad else None


def dim_range(op: Op, bounds: tuple[int, int]) -> str | None:
    bad = [t for t in op.activations if any(not bounds[0] <= d <= bounds[1] for d in t.shape)]
    return f"tensor {_dims(bad[0])} outside [{bounds[0]}, {bounds[1]}]" if bad else None


def batch_one(op: Op, _: Any) -> str | None:
    first = next((t for t in op.inputs if t is not None and not t.constant), None)
    return f"batch {first.shape[0]}" if first is not None and len(first.shape) == 4 and first.shape[0] != 1 else None


def per_axis_only_for(op: Op, ops: tuple[str, ...]) -> str | None:
    if op.name in ops:
        return None
    bad = [t for t in op.inputs if t is not None and t.per_axis]
    return (
        f"per-channel quantized {'weights' if bad[0].constant else 'tensor'} ({bad[0].scales} scales)" if bad else None
    )


def per_tensor_weights(op: Op, _: Any) -> str | None:
    w = _weights(op)
    return f"per-channel weights ({w.scales} scales)" if w is not None and w.per_axis else None


def fused_activation_in(op: Op, allowed: tuple[str, ...]) -> str | None:
    return f"fused {op.fused_activation}" if op.fused_activation not in allowed else None


def no_fused_activation(op: Op, _: Any) -> str | None:
    return f"fused {op.fused_activation}" if op.fused_activation != "NONE" else None


def same_dilation(op: Op, _: Any) -> str | None:
    h, w = op.option("dilationHFactor", 1), op.option("dilationWFactor", 1)
    return f"dilation {h}x{w}" if h != w else None


def stride_range(op: Op, bounds: tuple[int, int]) -> str | None:
    h, w = op.option("strideH", 1), op.option("strideW", 1)
    return f"stride {h}x{w}" if not (bounds[0] <= h <= bounds[1] and bounds[0] <= w <= bounds[1]) else None


def _kernel(op: Op) -> tuple[int, int]:
    """(height, width) of a pooling window or of a convolution's dilated kernel."""
    if op.name.endswith("POOL_2D"):
        return op.option("filterHeight", 1), op.option("filterWidth", 1)
    w = _weights(op)
    kh, kw = (w.shape[1], w.shape[2]) if w is not None and len(w.shape) == 4 else (1, 1)
    dh, dw = op.option("dilationHFactor", 1), op.option("dilationWFactor", 1)
    return (kh - 1) * dh + 1, (kw - 1) * dw + 1


def dilated_kernel_height(op: Op, bounds: tuple[int, int]) -> str | None:
    h, _ = _kernel(op)
    return f"dilated kernel height {h}" if not bounds[0] <= h <= bounds[1] else None


def dilated_kernel_area(op: Op, most: int) -> str | None:
    h, w = _kernel(op)
    return f"dilated kernel {h}x{w}" if h * w > most else None


def kernel_height(op: Op, most: int) -> str | None:
    h, _ = _kernel(op)
    return f"kernel height {h}" if h > most else None


def kernel_area(op: Op, most: int) -> str | None:
    h, w = _kernel(op)
    return f"kernel {h}x{w}" if h * w > most else None


def kernel_range(op: Op, most: int) -> str | None:
    h, w = _kernel(op)
    return f"kernel {h}x{w}" if h > most or w > most else None


def _axes_named(op: Op, operand: int) -> list[str]:
    """The axes (NHWC names) a MEAN / PAD operand touches: MEAN's axis list, PAD's non-zero padding rows."""
    data, values = op.inputs[0], op.inputs[operand] if len(op.inputs) > operand else None
    if data is None or values is None or values.values is None:
        return ["unknown (not a constant)"]
    rank = len(data.shape)
    names = AXES if rank == 4 else tuple(f"axis {i}" for i in range(rank))
    if op.name == "PAD" or op.name == "PADV2":
        pads = np.asarray(values.values).reshape(rank, 2)
        return [names[i] for i in range(rank) if pads[i].any()]
    return [names[a % rank] for a in values.values]


def reduce_axes(op: Op, allowed: tuple[str, ...]) -> str | None:
    bad = [a for a in _axes_named(op, 1) if a not in allowed]
    return f"reduces over {', '.join(bad)}" if bad else None


def pad_axes(op: Op, allowed: tuple[str, ...]) -> str | None:
    bad = [a for a in _axes_named(op, 1) if a not in allowed]
    return f"pads {', '.join(bad)}" if bad else None


def unit_strides(op: Op, _: Any) -> str | None:
    strides = op.inputs[3] if len(op.inputs) > 3 else None
    if strides is None or strides.values is None:
        return "strides not constant"
    return f"strides {list(strides.values)}" if any(s != 1 for s in strides.values) else None


def masks_zero(op: Op, names: tuple[str, ...]) -> str | None:
    set_ = [n for n in names if op.option(n, 0)]
    return f"{', '.join(set_)} set" if set_ else None


def output_1d(op: Op, _: Any) -> str | None:
    out = op.outputs[0]
    return f"output {_dims(out)}" if sum(d > 1 for d in out.shape) > 1 else None


def output_rank(op: Op, rank: int) -> str | None:
    out = op.outputs[0]
    return f"{len(out.shape)}-D output" if len(out.shape) != rank else None


def default_weights_format(op: Op, _: Any) -> str | None:
    return "shuffled weights format" if op.option("weightsFormat", 0) != 0 else None


def softmax_1d(op: Op, most: int) -> str | None:
    x = op.inputs[0]
    size = int(np.prod(x.shape)) if x is not None else 0
    if x is not None and sum(d > 1 for d in x.shape) > 1:
        return f"input {_dims(x)} is not 1-D"
    return f"{size} elements" if size > most else None


def same_in_out_shape(op: Op, _: Any) -> str | None:
    x, y = op.inputs[0], op.outputs[0]
    return f"input {_dims(x)} vs output {_dims(y)}" if x is not None and x.shape != y.shape else None


def positive_beta(op: Op, _: Any) -> str | None:
    beta = op.option("beta", 1.0)
    return f"beta {beta}" if beta <= 0 else None


def same_quantization(op: Op, _: Any) -> str | None:
    x, y = op.inputs[0], op.outputs[0]
    if x is None or (x.scale, x.zero_point) == (y.scale, y.zero_point):
        return None
    return "input and output quantization differ"


TESTS: dict[str, Callable[[Op, Any], str | None]] = {
    fn.__name__: fn
    for fn in (
        activation_types,
        weight_types,
        weights_constant,
        int32_only_for,
        quantized,
        static_shapes,
        inner_dims,
        max_rank,
        dim_range,
        batch_one,
        per_axis_only_for,
        per_tensor_weights,
        fused_activation_in,
        no_fused_activation,
        same_dilation,
        stride_range,
        dilated_kernel_height,
        dilated_kernel_area,
        kernel_height,
        kernel_area,
        kernel_range,
        reduce_axes,
        pad_axes,
        unit_strides,
        masks_zero,
        output_1d,
        output_rank,
        default_weights_format,
        softmax_1d,
        same_in_out_shape,
        positive_beta,
        same_quantization,
    )
}
