"""A `.tflite` file as the check reads it: operators in execution order, their tensors' types, shapes and quantization.

Parsed with LiteRT's own flatbuffer schema module (`ai_edge_litert.schema_py_generated`), not by hand; the file is
first opened by the LiteRT interpreter, so a truncated or foreign file is refused in one line before it is parsed.
Nothing here imports TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import OpResolverType

from resnet_edge.errors import ModelFileError
from resnet_edge.models.io import first_line, load_tflite

_OP_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
_TYPE_NAMES = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
_ACTIVATIONS = {v: k for k, v in vars(schema.ActivationFunctionType).items() if not k.startswith("_")}
SMALL_CONSTANT = 64  # constant operands up to this many elements are read (paddings, axes, strides); weights are not


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: str  # "int8", "uint8", "float32", "int32", ...
    shape: tuple[int, ...]
    dynamic_axes: tuple[int, ...]  # the dimensions unknown until run time (shape signature -1)
    constant: bool  # its data is in the file (weights, biases, paddings)
    scales: int  # quantization scales: 0 none, 1 per-tensor, more per-axis (per-channel)
    scale: float | None = None  # the first scale and zero point, where quantized
    zero_point: int | None = None
    values: tuple[int, ...] | None = None  # a small integer constant's values (SMALL_CONSTANT elements at most)

    @property
    def dynamic(self) -> bool:
        return bool(self.dynamic_axes)

    @property
    def per_axis(self) -> bool:
        return self.scales > 1

    def to_dict(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "shape": list(self.shape), "scale": self.scale, "zero_point": self.zero_point}


@dataclass(frozen=True)
class Op:
    index: int  # position in execution order
    name: str  # builtin name as the schema spells it (CONV_2D), or the custom op's name
    version: int  # the operator's version in the file (what a runtime or compiler may refuse)
    inputs: tuple[Tensor | None, ...]  # None: an omitted optional input (a fully-connected layer without bias)
    outputs: tuple[Tensor, ...]
    options: Any  # the schema's options object (Conv2DOptionsT, ...), or None

    def option(self, name: str, default: Any = None) -> Any:
        return getattr(self.options, name, default) if self.options is not None else default

    @property
    def fused_activation(self) -> str:
        return _ACTIVATIONS.get(self.option("fusedActivationFunction", 0), "NONE")

    @property
    def activations(self) -> tuple[Tensor, ...]:
        """The tensors computed at run time that the op reads and writes (not its weights or parameters)."""
        return tuple(t for t in self.inputs if t is not None and not t.constant) + self.outputs


@dataclass(frozen=True)
class Graph:
    path: Path
    ops: tuple[Op, ...]
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    subgraphs: int


def read_tflite(path: str | Path) -> Graph:
    """The main subgraph of a `.tflite` file; a missing, truncated or non-TFLite file is a one-line ModelFileError."""
    path = Path(path)
    # LiteRT verifies the flatbuffer and its ops first: the one-line errors of a bad file (no delegate: no log line)
    load_tflite(path, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    try:
        model = schema.ModelT.InitFromPackedBuf(path.read_bytes(), 0)
    except Exception as exc:  # the schema raises struct / index errors on a file LiteRT accepted but it cannot read
        raise ModelFileError(
            f"model file '{path}' could not be parsed as a TFLite flatbuffer: {first_line(exc)}"
        ) from exc
    graph = model.subgraphs[0]
    tensors = [_tensor(model, t) for t in graph.tensors]
    ops = tuple(_op(model, tensors, i, op) for i, op in enumerate(graph.operators or []))
    return Graph(path, ops, tuple(tensors[i] for i in graph.inputs), tuple(tensors[i] for i in graph.outputs),
                 len(model.subgraphs))  # fmt: skip


def _tensor(model: Any, t: Any) -> Tensor:
    q = t.quantization
    scales = 0 if q is None or q.scale is None else len(q.scale)
    buffer = model.buffers[t.buffer] if t.buffer < len(model.buffers) else None
    data = None if buffer is None else buffer.data
    constant = (data is not None and len(data) > 0) or bool(getattr(buffer, "offset", 0))
    shape = tuple(int(d) for d in (t.shape if t.shape is not None else ()))
    signature = t.shapeSignature if t.shapeSignature is not None else ()
    dtype = _TYPE_NAMES.get(t.type, str(t.type))
    return Tensor(
        name=t.name.decode() if isinstance(t.name, bytes) else str(t.name),
        dtype=dtype,
        shape=shape,
        dynamic_axes=tuple(i for i, d in enumerate(signature) if int(d) < 0),
        constant=constant,
        scales=scales,
        scale=float(q.scale[0]) if scales else None,
        zero_point=int(q.zeroPoint[0]) if scales and q.zeroPoint is not None and len(q.zeroPoint) else None,
        values=_small_values(data, dtype, shape),
    )


def _small_values(data: Any, dtype: str, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    if data is None or dtype not in ("int32", "int64") or int(np.prod(shape, dtype=np.int64)) > SMALL_CONSTANT:
        return None
    return tuple(
        int(v) for v in np.frombuffer(np.asarray(data, np.uint8).tobytes(), dtype=np.dtype(dtype).newbyteorder("<"))
    )


def _op(model: Any, tensors: list[Tensor], index: int, op: Any) -> Op:
    code = model.operatorCodes[op.opcodeIndex]
    number = max(code.builtinCode, code.deprecatedBuiltinCode)  # codes above 127 live in builtinCode only
    name = _OP_NAMES.get(number, str(number))
    if name == "CUSTOM" and code.customCode:
        name = code.customCode.decode() if isinstance(code.customCode, bytes) else str(code.customCode)
    inputs = tuple(tensors[i] if i >= 0 else None for i in (op.inputs if op.inputs is not None else ()))
    outputs = tuple(tensors[i] for i in (op.outputs if op.outputs is not None else ()))
    return Op(index, name, int(code.version), inputs, outputs, op.builtinOptions)
