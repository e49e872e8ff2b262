"""The accelerators' published rules, as data: one table per target, each entry beside the wording it comes from.

A `Limit` names a test in `resnet_edge.check.limits` and carries the document's words (`text`), so a reader can hold
the table against its source (a test compares the two where the wording is machine-checkable). Only what a `.tflite`
file shows can be tested; constraints that need the vendor's compiler (Edge TPU on-chip memory, Vela's scheduling)
are out of reach, and README says so.

Sources:
- Edge TPU: Coral, "TensorFlow models on the Edge TPU", https://coral.ai/docs/edgetpu/models-intro/ (requirements
  and the supported-operations table with its runtime-version column); the ops added with runtime 13 are confirmed by
  google-coral/edgetpu CHANGES.md ("Added support for ops: ExpandDims, Pack, Quantize, Sum, and TransposeConv").
  Axis documents the same compiler's list for ARTPEC-7's Edge TPU with its newer wording
  (https://developer.axis.com/computer-vision/on-device/system-on-chip/artpec-7/supported-ops/).
- npu-int8: Arm Ethos-U55/U65 as Vela 5.2.0 states it (`vela --supported-ops-report`: "Ethos-U55 and Ethos-U65
  TFLite Summary Table", generic and specific constraints), published as SUPPORTED_OPS.md in
  https://gitlab.arm.com/artificial-intelligence/ethos-u/ethos-u-vela (Vela is `pip install ethos-u-vela`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from resnet_edge.config import IoType, Target


class Level(StrEnum):
    CPU = "cpu"  # the op runs on the CPU: the model falls back (exit 1)
    WARN = "warn"  # maps with today's tools, but some versions or vendors refuse it: reported, exit 0


@dataclass(frozen=True)
class Limit:
    """One published constraint: `test` names a function in `limits.py`, `arg` is its parameter, `text` the source's
    words; ops in `exempt` are excused (the document's bracketed exceptions)."""

    test: str
    arg: Any = None
    text: str = ""
    level: Level = Level.CPU
    exempt: tuple[str, ...] = ()


@dataclass(frozen=True)
class OpRule:
    since: int = 0  # Edge TPU: the runtime version that added the op (0: every version)
    limits: tuple[Limit, ...] = ()
    newer: tuple[tuple[int, tuple[Limit, ...]], ...] = ()  # (runtime, the limits that replace `limits` from it on)

    def limits_for(self, runtime: int) -> tuple[Limit, ...]:
        chosen = self.limits
        for version, limits in self.newer:
            if runtime >= version:
                chosen = limits
        return chosen


@dataclass(frozen=True)
class TargetRules:
    name: str
    document: str
    source: str  # where the rules are published
    ops: dict[str, OpRule]
    generic: tuple[Limit, ...]  # every op must meet these (bar the exempt)
    one_segment: bool  # True: the compiler maps ops only up to the first it cannot; all after run on the CPU
    fallback: str  # what happens to an op the accelerator cannot run, in the source's words
    export: dict[str, Any] = field(default_factory=dict)  # QuantizeConfig fields `export --target` sets


# ------------------------------------------------------------------------------------------------- Coral Edge TPU
EDGETPU_SOURCE = "https://coral.ai/docs/edgetpu/models-intro/#supported-operations"
_NO_FUSED = Limit("no_fused_activation", text="No fused activation function.")
_SAME_DILATION = Limit("same_dilation", text="Must use the same dilation in x and y dimensions.")
_XY = ("height", "width")

EDGETPU_OPS: dict[str, OpRule] = {
    "ADD": OpRule(),
    "AVERAGE_POOL_2D": OpRule(limits=(_NO_FUSED,)),
    "CONCATENATION": OpRule(limits=(_NO_FUSED,)),
    "CONV_2D": OpRule(limits=(_SAME_DILATION,)),
    "DEPTHWISE_CONV_2D": OpRule(limits=(_SAME_DILATION,)),
    "EXPAND_DIMS": OpRule(since=13),
    "FULLY_CONNECTED": OpRule(
        limits=(
            Limit("default_weights_format", text="Only the default format is supported for fully-connected weights."),
            Limit("output_1d", text="Output tensor is one-dimensional."),
        )
    ),  # fmt: skip
    "L2_NORMALIZATION": OpRule(),
    "LOGISTIC": OpRule(),
    "MAXIMUM": OpRule(),
    "MAX_POOL_2D": OpRule(limits=(_NO_FUSED,)),
    "MEAN": OpRule(
        limits=(Limit("reduce_axes", _XY, text="Supports reduction along x- and/or y-dimensions only."),),
        newer=((13, (Limit("reduce_axes", (*_XY, "channels"), text="No reduction in batch dimension."),)),),
    ),
    "MINIMUM": OpRule(),
    "MUL": OpRule(),
    "PACK": OpRule(since=13),
    "PAD": OpRule(
        limits=(Limit("pad_axes", _XY, text="Supports padding along x- and/or y-dimensions only."),),
        newer=((13, (Limit("pad_axes", (*_XY, "channels"), text="No padding in batch dimension."),)),),
    ),
    "PRELU": OpRule(since=13),
    "QUANTIZE": OpRule(since=13),  # CHANGES.md, runtime v13: "Added support for ops: ... Quantize ..."
    "REDUCE_MAX": OpRule(since=14),  # the 14s: the table's runtime column (not in CHANGES.md)
    "REDUCE_MIN": OpRule(since=14),
    "RELU": OpRule(),
    "RELU6": OpRule(),
    "RELU_N1_TO_1": OpRule(),
    "RESHAPE": OpRule(),
    "RESIZE_BILINEAR": OpRule(),
    "RESIZE_NEAREST_NEIGHBOR": OpRule(),
    "RSQRT": OpRule(since=14),
    "SLICE": OpRule(),
    "SOFTMAX": OpRule(
        limits=(Limit("softmax_1d", 16000, text="Supports only 1D input tensor with a max of 16,000 elements."),)
    ),
    "SPACE_TO_DEPTH": OpRule(),
    "SPLIT": OpRule(),
    "SQUARED_DIFFERENCE": OpRule(since=14),
    "SQUEEZE": OpRule(),
    "STRIDED_SLICE": OpRule(
        limits=(
            Limit(
                "unit_strides",
                text="Supported only when all strides are equal to 1 (that is, effectively a Stride "
                "op), and with ellipsis-axis-mask == 0, and new-axis-max == 0.",
            ),
            Limit("masks_zero", ("ellipsisMask", "newAxisMask")),
        )
    ),  # fmt: skip
    "SUB": OpRule(),
    "SUM": OpRule(since=13),
    "TANH": OpRule(),
    "TRANSPOSE": OpRule(since=14),
    "TRANSPOSE_CONV": OpRule(since=13),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": OpRule(since=14),
}

EDGETPU = TargetRules(
    name="Coral Edge TPU",
    document="Coral: TensorFlow models on the Edge TPU, supported operations",
    source=EDGETPU_SOURCE,
    ops=EDGETPU_OPS,
    generic=(
        Limit(
            "activation_types",
            ("int8", "uint8"),
            text="Tensor parameters are quantized (8-bit fixed-point numbers; int8 or uint8).",
        ),
        Limit("weight_types", ("int8", "uint8"), text="Tensor parameters are quantized (8-bit fixed-point numbers)."),
        Limit("static_shapes", text="Tensor sizes are constant at compile-time (no dynamic sizes)."),
        Limit(
            "inner_dims",
            3,
            text="If a tensor has more than 3 dimensions, then only the 3 innermost dimensions "
            "may have a size greater than 1.",
        ),
        # per-channel weights: compiled by today's compiler (Axis recommends them for ARTPEC-7's Edge TPU), but the
        # compilers from before TensorFlow 2's per-channel post-training quantization take per-tensor only
        Limit(
            "per_tensor_weights",
            level=Level.WARN,
            text="per-channel weights: older Edge TPU compilers need per-tensor (export --target edgetpu writes it)",
        ),
    ),  # fmt: skip
    one_segment=True,
    fallback="the compiler maps the graph only up to the first unsupported operation; that operation and everything "
    "after it run on the CPU",
    export={"io_type": IoType.UINT8, "per_channel": False},
)

# ---------------------------------------------------------------------------------------------- Arm Ethos-U (Vela)
# Vela 5.2.0 (the release on PyPI as of this writing), Ethos-U55/U65 TFLite section of its report
# (`vela --supported-ops-report`, the SUPPORTED_OPS.md it publishes); Vela 3.x refused stride-2 STRIDED_SLICE,
# channel padding and per-channel fully-connected weights, 5.2.0 places all three on the NPU
VELA_SOURCE = "https://gitlab.arm.com/artificial-intelligence/ethos-u/ethos-u-vela/-/blob/main/SUPPORTED_OPS.md"
_NO_32BIT = Limit("no_32bit", text="32-bit feature-maps are not supported.")
_BIG_STRIDE = Limit("big_stride_valid", 3, text="Stride>3 is only supported IF (dilation = 1 AND padding = VALID)")
_KERNEL_STRIDE = Limit("stride_range", (1, 3), text="Kernel stride must be in the range (1,3).")
_WEIGHTS = (
    Limit("weight_types", ("int8", "uint8"), text="Weight tensors must be 8-bit precision"),
    Limit("bias_constant", text="Bias tensors must be constant"),
)
_POOL_VALID = (
    Limit("kernel_area", 65536, text="Kernel product must be less than or equal to 256*256"),
    Limit("kernel_height", 256, text="Kernel height must be less than or equal to 256."),
)

VELA_OPS: dict[str, OpRule] = {
    **dict.fromkeys(("ADD", "EXPAND_DIMS", "MUL", "NEG", "RESHAPE", "SQUEEZE", "SUB"), OpRule()),
    **dict.fromkeys(("ABS", "CONCATENATION", "ELU", "EXP", "GELU", "HARD_SWISH", "LEAKY_RELU", "LOG", "LOGISTIC",
                     "MAXIMUM", "MINIMUM", "MIRROR_PAD", "PACK", "PADV2", "PRELU", "QUANTIZE", "RELU", "RELU6",
                     "RELU_0_TO_1", "RELU_N1_TO_1", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "REVERSE_V2",
                     "RSQRT", "SLICE", "SPLIT", "SPLIT_V", "SQUARED_DIFFERENCE", "TANH", "TILE", "TRANSPOSE_CONV",
                     "UNIDIRECTIONAL_SEQUENCE_LSTM", "UNPACK"), OpRule(limits=(_NO_32BIT,))),
    **dict.fromkeys(("ARG_MAX", "BATCH_MATMUL", "REDUCE_MAX", "REDUCE_MIN", "SUM", "TRANSPOSE"), OpRule()),
    "AVERAGE_POOL_2D": OpRule(limits=(_NO_32BIT, _BIG_STRIDE, *_POOL_VALID, Limit(
        "kernel_range_same", 8, text="ELSE (padding SAME): Kernel width and height must be less than or equal to 8"))),
    "CONV_2D": OpRule(limits=(_NO_32BIT, _BIG_STRIDE, *_WEIGHTS)),
    "DEPTHWISE_CONV_2D": OpRule(limits=(_NO_32BIT, _KERNEL_STRIDE, *_WEIGHTS)),
    "FULLY_CONNECTED": OpRule(limits=_WEIGHTS),
    "MAX_POOL_2D": OpRule(limits=(_NO_32BIT, _BIG_STRIDE, *_POOL_VALID)),
    "MEAN": OpRule(limits=(
        _NO_32BIT,
        Limit("batch_one", text="Batch must be 1."),
        Limit("reduced_axis", 4096, text="Reduced axis must be less than 4096"),
        Limit("depth_reduction", text="Reduction over depth is only supported if any of h,w,c == 1"),
    )),
    "PAD": OpRule(limits=(_NO_32BIT, Limit("params_constant", text="Parameter tensors must be constant"))),
    "SOFTMAX": OpRule(limits=(_NO_32BIT, Limit("softmax_hw", 65536,
                                               text="The product of IFM width and height must be less than 65536"))),
    "STRIDED_SLICE": OpRule(limits=(_NO_32BIT, Limit(
        "strides_hw_only", text="Slice must represent a volume. Stride must be non-negative (and over W or H)."))),
}  # fmt: skip

_UNQUANTIZED_OK = ("ARG_MAX", "EXPAND_DIMS", "MIRROR_PAD", "PAD", "PADV2", "QUANTIZE", "TRANSPOSE")
NPU_INT8 = TargetRules(
    name="int8 NPU (Arm Ethos-U55/U65, Vela 5.2.0)",
    document="Arm Vela 5.2.0 supported-ops report, Ethos-U55 and Ethos-U65 TFLite summary table and constraints",
    source=VELA_SOURCE,
    ops=VELA_OPS,
    generic=(
        Limit("dynamic_dims", text="Only the first dimension of tensors can be dynamic."),
        Limit(
            "activation_types",
            ("int16", "int32", "int8", "uint8"),
            text='Feature-map dataTypes must be one of {"INT16", "INT32", "INT64", "INT8", "UINT8"}; '
            "64-bit feature-maps are not supported.",
            exempt=("ARG_MAX",),
        ),
        Limit(
            "quantized",
            text="Input(s), Output and Weight tensors must have quantization parameters.",
            exempt=_UNQUANTIZED_OK,
        ),
        Limit("positive_scales", text="Quantization scale of any tensor must be positive.", exempt=_UNQUANTIZED_OK),
        Limit(
            "per_axis_only_for",
            ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"),
            text="Per-axis quantization is not supported. Exceptions: [CONV_2D, DEPTHWISE_CONV_2D, "
            "FULLY_CONNECTED, TRANSPOSE_CONV]",
        ),
    ),  # fmt: skip
    one_segment=False,
    fallback="If the constraints are not met, then that operator will be scheduled on the CPU instead.",
)

RULES: dict[Target, TargetRules | None] = {Target.EDGETPU: EDGETPU, Target.NPU_INT8: NPU_INT8, Target.CPU: None}
