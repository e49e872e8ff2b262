"""TensorFlow Lite Micro bundle: `model_data.cc` / `model_data.h` from the int8 `.tflite` export.

The header declares the model as a 16-byte-aligned byte array (its bytes are the `.tflite` file's, unchanged), its
length, the arena size to give `tflite::MicroInterpreter`, and `RegisterModelOps(resolver)`: the
`MicroMutableOpResolver` calls for exactly the operators the model uses. A model with an operator TFLite Micro has
no kernel for is refused (one line naming them), since it would fail on the device at `AllocateTensors()`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resnet_edge.errors import ConfigError
from resnet_edge.fsutil import sha256, write_text

# BuiltinOperator -> tflite::MicroMutableOpResolver method, for every builtin TFLite Micro registers
# (tensorflow/tflite-micro, tensorflow/lite/micro/micro_mutable_op_resolver.h at 90b983c2, 2026-08; its other
# Add* methods register custom signal-processing and vendor operators, which these models do not use)
# fmt: off
RESOLVER_METHODS = {
    "ABS": "AddAbs", "ADD": "AddAdd", "ADD_N": "AddAddN", "ARG_MAX": "AddArgMax", "ARG_MIN": "AddArgMin",
    "ASSIGN_VARIABLE": "AddAssignVariable", "AVERAGE_POOL_2D": "AddAveragePool2D", "BATCH_MATMUL": "AddBatchMatMul",
    "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd", "BROADCAST_ARGS": "AddBroadcastArgs", "BROADCAST_TO": "AddBroadcastTo",
    "CALL_ONCE": "AddCallOnce", "CAST": "AddCast", "CEIL": "AddCeil", "CONCATENATION": "AddConcatenation",
    "CONV_2D": "AddConv2D", "COS": "AddCos", "CUMSUM": "AddCumSum", "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "DEPTH_TO_SPACE": "AddDepthToSpace", "DEQUANTIZE": "AddDequantize", "DIV": "AddDiv",
    "DYNAMIC_UPDATE_SLICE": "AddDynamicUpdateSlice", "ELU": "AddElu", "EMBEDDING_LOOKUP": "AddEmbeddingLookup",
    "EQUAL": "AddEqual", "EXP": "AddExp", "EXPAND_DIMS": "AddExpandDims", "FILL": "AddFill", "FLOOR": "AddFloor",
    "FLOOR_DIV": "AddFloorDiv", "FLOOR_MOD": "AddFloorMod", "FULLY_CONNECTED": "AddFullyConnected",
    "GATHER": "AddGather", "GATHER_ND": "AddGatherNd", "GREATER": "AddGreater", "GREATER_EQUAL": "AddGreaterEqual",
    "HARD_SWISH": "AddHardSwish", "IF": "AddIf", "L2_NORMALIZATION": "AddL2Normalization",
    "L2_POOL_2D": "AddL2Pool2D", "LEAKY_RELU": "AddLeakyRelu", "LESS": "AddLess", "LESS_EQUAL": "AddLessEqual",
    "LOG": "AddLog", "LOGICAL_AND": "AddLogicalAnd", "LOGICAL_NOT": "AddLogicalNot", "LOGICAL_OR": "AddLogicalOr",
    "LOGISTIC": "AddLogistic", "LOG_SOFTMAX": "AddLogSoftmax", "MAXIMUM": "AddMaximum",
    "MAX_POOL_2D": "AddMaxPool2D", "MEAN": "AddMean", "MINIMUM": "AddMinimum", "MIRROR_PAD": "AddMirrorPad",
    "MUL": "AddMul", "NEG": "AddNeg", "NOT_EQUAL": "AddNotEqual", "PACK": "AddPack", "PAD": "AddPad",
    "PADV2": "AddPadV2", "PRELU": "AddPrelu", "QUANTIZE": "AddQuantize", "READ_VARIABLE": "AddReadVariable",
    "REDUCE_ALL": "AddReduceAll", "REDUCE_MAX": "AddReduceMax", "REDUCE_MIN": "AddReduceMin", "RELU": "AddRelu",
    "RELU6": "AddRelu6", "RESHAPE": "AddReshape", "RESIZE_BILINEAR": "AddResizeBilinear",
    "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor", "REVERSE_V2": "AddReverseV2", "ROUND": "AddRound",
    "RSQRT": "AddRsqrt", "SELECT_V2": "AddSelectV2", "SHAPE": "AddShape", "SIN": "AddSin", "SLICE": "AddSlice",
    "SOFTMAX": "AddSoftmax", "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd", "SPACE_TO_DEPTH": "AddSpaceToDepth",
    "SPLIT": "AddSplit", "SPLIT_V": "AddSplitV", "SQRT": "AddSqrt", "SQUARE": "AddSquare",
    "SQUARED_DIFFERENCE": "AddSquaredDifference", "SQUEEZE": "AddSqueeze", "STRIDED_SLICE": "AddStridedSlice",
    "SUB": "AddSub", "SUM": "AddSum", "SVDF": "AddSvdf", "TANH": "AddTanh", "TRANSPOSE": "AddTranspose",
    "TRANSPOSE_CONV": "AddTransposeConv", "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
    "UNPACK": "AddUnpack", "VAR_HANDLE": "AddVarHandle", "WHILE": "AddWhile", "ZEROS_LIKE": "AddZerosLike",
}
# fmt: on

SOURCE, HEADER = "model_data.cc", "model_data.h"
# The arena holds the planned activations (its head) and persistent data (its tail): a TfLiteEvalTensor per tensor
# (24 bytes), a node and registration per operator (64 bytes), each kernel's op data, and for per-channel int8
# convolutions an int32 multiplier and shift per output channel. Against TFLite Micro's own interpreter (tests
# and README), the estimate below exceeded the measured tail by 3.2-3.4 KB on ResNet-8/20/56 at 32x32, ResNet-20
# at 64x64 and ResNet-18/50 at 64x64 (ResNet-20: 17,200 for 13,808; ResNet-50: 233,120 for 229,888), and the arena
# came out 1.26-1.33x what the interpreter used. The 1.25 factor covers the scratch buffers optimized kernels
# (CMSIS-NN) request in the head, which the reference kernels do not. On the device,
# tflite::RecordingMicroInterpreter's arena_used_bytes() is the exact figure: shrink to it.
TAIL_FIXED, TAIL_PER_OPERATOR, TAIL_PER_TENSOR, TAIL_PER_CHANNEL = 4096, 160, 24, 8
ARENA_FACTOR = 1.25
PER_CHANNEL_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")


@dataclass(frozen=True)
class TflmBundle:
    """What `export --format tflm` wrote."""

    model: Path  # the int8 .tflite the array holds
    source: Path
    header: Path
    model_bytes: int
    ops: tuple[str, ...]  # builtin operator names, in the order the model first uses them
    activation_bytes: int  # the greedy plan of resnet_edge.footprint: TFLite Micro's arena head
    tail_bytes: int  # the estimate of the persistent part (see TAIL_*)
    arena_bytes: int  # kTensorArenaSize

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model.name, "files": {p.name: sha256(p) for p in (self.source, self.header)},
                "model_bytes": self.model_bytes, "ops": list(self.ops), "activation_bytes": self.activation_bytes,
                "tail_estimate_bytes": self.tail_bytes, "arena_bytes": self.arena_bytes,
                "arena_rule": f"{ARENA_FACTOR} x (planned activations + estimated persistent part), to 16"}  # fmt: skip


def model_ops(model: Any) -> list[str]:
    """The operators of a TFLite model (the schema's `Model`), in the order of first use; custom ones as CUSTOM:code."""
    from resnet_edge.footprint import builtin_code, schema_names

    names = schema_names("BuiltinOperator")
    seen: dict[str, None] = {}
    for s in range(model.SubgraphsLength()):
        sub = model.Subgraphs(s)
        for i in range(sub.OperatorsLength()):
            index = sub.Operators(i).OpcodeIndex()
            code = model.OperatorCodes(index)
            name = names.get(builtin_code(model, index), "?")
            seen[f"CUSTOM:{code.CustomCode().decode()}" if name == "CUSTOM" else name] = None
    return list(seen)


def tail_estimate(model: Any) -> int:
    """Bytes of the arena's persistent part (see TAIL_*), from the main subgraph's operators and tensors."""
    from resnet_edge.footprint import builtin_code, schema_names

    names = schema_names("BuiltinOperator")
    sub = model.Subgraphs(0)
    channels = 0
    for i in range(sub.OperatorsLength()):
        op = sub.Operators(i)
        if names.get(builtin_code(model, op.OpcodeIndex())) in PER_CHANNEL_OPS and op.OutputsLength():
            shape = sub.Tensors(op.Outputs(0)).ShapeAsNumpy()
            channels += int(shape[-1]) if len(shape) else 1
    return (TAIL_FIXED + TAIL_PER_OPERATOR * sub.OperatorsLength() + TAIL_PER_TENSOR * sub.TensorsLength()
            + TAIL_PER_CHANNEL * channels)  # fmt: skip


def write_tflm(tflite: str | Path, out: str | Path) -> TflmBundle:
    """Write model_data.cc and model_data.h for `tflite` (an int8 .tflite) into `out`; ConfigError for a model
    with operators TFLite Micro lacks."""
    from resnet_edge.footprint import align, footprint, tflite_model

    tflite, out = Path(tflite), Path(out)
    data = tflite.read_bytes()
    model = tflite_model(data, str(tflite))
    ops = model_ops(model)
    missing = [op for op in ops if op not in RESOLVER_METHODS]
    if missing:
        raise ConfigError(f"--format tflm: TFLite Micro has no kernel for {', '.join(missing)} in '{tflite.name}' "
                          f"(its ops: {', '.join(ops)}); export without tflm")  # fmt: skip
    planned = footprint(tflite).ram_bytes or 0
    tail = tail_estimate(model)
    arena = align(math.ceil(ARENA_FACTOR * (planned + tail)))
    bundle = TflmBundle(tflite, out / SOURCE, out / HEADER, len(data), tuple(ops), planned, tail, arena)
    write_text(bundle.header, _header(bundle, sha256(tflite)))
    write_text(bundle.source, _source(data, tflite.name))
    return bundle


_HEX = [f"0x{b:02x}," for b in range(256)]


def _source(data: bytes, name: str) -> str:
    rows = (" ".join(_HEX[b] for b in data[i : i + 16]) for i in range(0, len(data), 16))
    return (f"// Generated by `resnet-edge export --format tflm` from {name}: its bytes, unchanged.\n"
            f'#include "{HEADER}"\n\n'
            "alignas(16) const unsigned char g_model_data[] = {\n  " + "\n  ".join(rows) + "\n};\n"
            f"const unsigned int g_model_data_len = {len(data)};\n")  # fmt: skip


def _header(b: TflmBundle, digest: str) -> str:
    calls = "\n".join(f"//   resolver.{RESOLVER_METHODS[op]}();" for op in b.ops)
    chain = " &&\n         ".join(f"resolver.{RESOLVER_METHODS[op]}() == 0" for op in b.ops)
    return f"""// Generated by `resnet-edge export --format tflm` from {b.model.name}
// ({b.model_bytes} bytes, sha256 {digest}).
// For TensorFlow Lite Micro: the int8 model, the arena size to give tflite::MicroInterpreter, and the operators
// to register.
#ifndef RESNET_EDGE_MODEL_DATA_H_
#define RESNET_EDGE_MODEL_DATA_H_

#include <cstddef>

// The .tflite flatbuffer byte for byte, 16-byte aligned as TFLite Micro reads it in place.
alignas(16) extern const unsigned char g_model_data[];
extern const unsigned int g_model_data_len;  // {b.model_bytes}

// Activations as TFLite Micro's GreedyMemoryPlanner plans them (the arena's head), batch 1.
constexpr std::size_t kModelActivationBytes = {b.activation_bytes};
// The arena: {ARENA_FACTOR} x (activations + an estimate of the persistent part: {TAIL_FIXED} + {TAIL_PER_OPERATOR} per
// operator + {TAIL_PER_TENSOR} per tensor + {TAIL_PER_CHANNEL} per output channel of a convolution or fully-connected
// layer = {b.tail_bytes}), rounded up to 16. The factor leaves room for the scratch buffers of optimized kernels
// (CMSIS-NN). tflite::RecordingMicroInterpreter's arena_used_bytes() on the device gives the exact need.
constexpr std::size_t kTensorArenaSize = {b.arena_bytes};

// The {len(b.ops)} operators the model uses:
//   static tflite::MicroMutableOpResolver<kModelOpCount> resolver;
//   if (!RegisterModelOps(resolver)) {{ /* an operator did not register */ }}
// which makes these calls:
{calls}
constexpr int kModelOpCount = {len(b.ops)};

template <typename Resolver>
bool RegisterModelOps(Resolver& resolver) {{
  // each Add* returns kTfLiteOk (0) on success; the first failure stops the registration
  return {chain};
}}

#endif  // RESNET_EDGE_MODEL_DATA_H_
"""
