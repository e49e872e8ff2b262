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


def quantized(op: Op, _: Any) -> str | None:
    bare = [t for t in op.activations if t.dtype != "float32" and t.scales == 0]
    return "tensors without quantization parameters" if bare else None


def static_shapes(op: Op, _: Any) -> str | None:
    return "dynamic tensor sizes" if any(t.dynamic for t in op.activations) else None


def inner_dims(op: Op, count: int) -> str | None:
    bad = [t for t in op.activations if any(d > 1 for d in t.shape[:-count])]
    return f"tensor {_dims(bad[0])}: more than {count} dimensions above 1" if bad else None


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


def kernel_height(op: Op, most: int) -> str | None:
    h, _ = _kernel(op)
    return f"kernel height {h}" if h > most else None


def kernel_area(op: Op, most: int) -> str | None:
    h, w = _kernel(op)
    return f"kernel {h}x{w}" if h * w > most else None


def _axis_indices(op: Op) -> list[int] | None:
    """MEAN's (and the reductions') axes as non-negative indices; None when they are not a constant."""
    x, axes = op.inputs[0], op.inputs[1] if len(op.inputs) > 1 else None
    if x is None or axes is None or axes.values is None:
        return None
    return [a % len(x.shape) for a in axes.values]


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


def default_weights_format(op: Op, _: Any) -> str | None:
    return "shuffled weights format" if op.option("weightsFormat", 0) != 0 else None


def softmax_1d(op: Op, most: int) -> str | None:
    x = op.inputs[0]
    size = int(np.prod(x.shape)) if x is not None else 0
    if x is not None and sum(d > 1 for d in x.shape) > 1:
        return f"input {_dims(x)} is not 1-D"
    return f"{size} elements" if size > most else None


def dynamic_dims(op: Op, _: Any) -> str | None:
    return "dynamic tensor sizes beyond the batch" if any(set(t.dynamic_axes) - {0} for t in op.activations) else None


def positive_scales(op: Op, _: Any) -> str | None:
    return "a quantization scale <= 0" if any(t.scale is not None and t.scale <= 0 for t in op.activations) else None


def no_32bit(op: Op, _: Any) -> str | None:
    return "32-bit feature maps" if any(t.dtype in ("int32", "float32") for t in op.activations) else None


def bias_constant(op: Op, _: Any) -> str | None:
    bias = op.inputs[2] if op.name in _WEIGHTED and len(op.inputs) > 2 else None
    return "bias computed at run time" if bias is not None and not bias.constant else None


def big_stride_valid(op: Op, most: int) -> str | None:
    h, w = op.option("strideH", 1), op.option("strideW", 1)
    if max(h, w) <= most:
        return None
    dilated = op.option("dilationHFactor", 1) != 1 or op.option("dilationWFactor", 1) != 1
    same = op.option("padding", 1) == 0  # schema Padding: SAME 0, VALID 1
    return f"stride {h}x{w} with {'dilation' if dilated else 'SAME padding'}" if dilated or same else None


def kernel_range_same(op: Op, most: int) -> str | None:
    h, w = _kernel(op)
    return f"kernel {h}x{w} with SAME padding" if op.option("padding", 1) == 0 and (h > most or w > most) else None


def reduced_axis(op: Op, most: int) -> str | None:
    x, axes = op.inputs[0], _axis_indices(op)
    sizes = [x.shape[a] for a in axes] if x is not None and axes is not None else []
    return f"reduces an axis of {max(sizes)}" if sizes and max(sizes) >= most else None


def depth_reduction(op: Op, _: Any) -> str | None:
    x, axes = op.inputs[0], _axis_indices(op)
    if x is None or axes is None or len(x.shape) != 4 or 3 not in axes:
        return None
    return None if 1 in x.shape[1:] else f"reduces channels of {_dims(x)}"


def params_constant(op: Op, _: Any) -> str | None:
    return "parameters computed at run time" if any(t is not None and not t.constant for t in op.inputs[1:]) else None


def softmax_hw(op: Op, most: int) -> str | None:
    x = op.inputs[0]
    hw = x.shape[1] * x.shape[2] if x is not None and len(x.shape) == 4 else 1
    return f"width x height {hw}" if hw >= most else None


def strides_hw_only(op: Op, _: Any) -> str | None:
    strides = op.inputs[3] if len(op.inputs) > 3 else None
    if strides is None or strides.values is None:
        return "strides not constant"
    rank = len(strides.values)
    bad = [i for i, s in enumerate(strides.values) if s < 0 or (s != 1 and not (rank == 4 and i in (1, 2)))]
    return f"strides {list(strides.values)}" if bad else None


TESTS: dict[str, Callable[[Op, Any], str | None]] = {
    fn.__name__: fn
    for fn in (
        activation_types,
        weight_types,
        quantized,
        static_shapes,
        inner_dims,
        batch_one,
        per_axis_only_for,
        per_tensor_weights,
        no_fused_activation,
        same_dilation,
        stride_range,
        kernel_height,
        kernel_area,
        reduce_axes,
        pad_axes,
        unit_strides,
        masks_zero,
        output_1d,
        default_weights_format,
        softmax_1d,
        dynamic_dims,
        positive_scales,
        no_32bit,
        bias_constant,
        big_stride_valid,
        kernel_range_same,
        reduced_axis,
        depth_reduction,
        params_constant,
        softmax_hw,
        strides_hw_only,
    )
}
