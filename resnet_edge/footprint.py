"""footprint(path) -> Footprint: what an artifact needs on the device: flash (file, weights) and peak RAM.

Peak RAM is the activation arena of a greedy plan over tensor lifetimes in execution order, the way TensorFlow
Lite Micro plans its arena (tensorflow/tflite-micro, `memory_planner/greedy_memory_planner.cc` and
`micro_allocation_info.cc`): a tensor lives from the step that writes it (0 for the graph's inputs) to the step
that last reads it (the last step for the graph's outputs); each size is rounded up to 16 bytes
(`MicroArenaBufferAlignment()`); tensors are placed largest first, each at the lowest offset where it overlaps
no placed tensor alive at the same time; the arena is the highest end. Constants (weights, biases, shapes) stay
in flash and are not planned. What a runtime adds on top (tensor structs, per-op data, kernels' scratch buffers,
LiteRT's or ONNX Runtime's own allocators) is not in the number: it is the activations' share, the part that
grows with the input size and the architecture. `live_bytes`, the most bytes alive at one step, is a lower bound
no plan beats; the greedy arena exceeds it only where the placement fragments.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from resnet_edge.errors import ModelFileError

ALIGNMENT = 16  # TFLite Micro's MicroArenaBufferAlignment()


def align(size: int, alignment: int = ALIGNMENT) -> int:
    """`size` rounded up to a multiple of `alignment` (TFLite Micro's AlignSizeUp)."""
    return -(-size // alignment) * alignment


@dataclass(frozen=True)
class Graph:
    """The activations of a model and the operators that write and read them, in execution order; constants left
    out. Names are unique keys (a TFLite tensor's name, an ONNX value's)."""

    sizes: dict[str, int]  # activation -> bytes, in tensor order (the order TFLite Micro adds them: ties follow it)
    ops: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]  # (inputs, outputs) of each operator, in order
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    def lifetimes(self) -> dict[str, tuple[int, int]]:
        """(first, last) step of every activation, as TFLite Micro's AllocationInfoBuilder marks them: inputs
        from step 0, operator i's outputs from step i + 1, every read extends to the reader's step, the graph's
        outputs to the last step. A tensor nothing writes or reads is never allocated."""
        life: dict[str, list[int]] = {name: [0, 0] for name in self.inputs}
        for step, (reads, writes) in enumerate(self.ops, start=1):
            for name in writes:
                life.setdefault(name, [step, step])
            for name in (*reads, *writes):
                if name in life:
                    life[name][1] = step
        last = len(self.ops)
        for name in self.outputs:
            life.setdefault(name, [last, last])[1] = last
        return {name: (first, end) for name, (first, end) in life.items() if name in self.sizes}


@dataclass(frozen=True)
class Buffer:
    """One block the arena must hold from step `first` to step `last` (both included)."""

    name: str
    size: int
    first: int
    last: int

    def overlaps(self, other: Buffer) -> bool:
        return not (other.first > self.last or self.first > other.last)


def greedy_offsets(buffers: Sequence[Buffer]) -> dict[str, int]:
    """TFLite Micro's GreedyMemoryPlanner: the offset of each buffer, given in the order TFLite Micro adds them
    (tensor order). Largest first; each at the lowest offset where it overlaps no placed buffer alive at the same
    time. TFLite Micro fills its sort array from the tail and sorts it with a stable bubble sort, so buffers of
    equal size are placed latest-added first: so here."""
    order = sorted(reversed(buffers), key=lambda b: -b.size)
    placed: list[tuple[int, Buffer]] = []  # (offset, buffer), sorted by offset; equal offsets in placing order
    offsets: dict[str, int] = {}
    for buffer in order:
        offset = 0
        for other_offset, other in placed:  # in offset order: the first gap that fits wins
            if not buffer.overlaps(other):
                continue  # not alive at the same time: its space is free
            if other_offset - offset >= buffer.size:
                break
            offset = max(offset, other_offset + other.size)
        offsets[buffer.name] = offset
        at = next((i for i, (o, _) in enumerate(placed) if o > offset), len(placed))
        placed.insert(at, (offset, buffer))
    return offsets


@dataclass(frozen=True)
class Plan:
    """Where each activation sits in the arena, and what that costs."""

    offsets: dict[str, int]
    arena_bytes: int  # the highest end of any placed tensor
    live_bytes: int  # the most (aligned) bytes alive at one step: the lower bound of any plan
    peak_step: int  # the first step where live_bytes are alive
    peak_tensors: tuple[str, ...]  # what is alive then, largest first


def plan(graph: Graph, alignment: int = ALIGNMENT) -> Plan:
    """TFLite Micro's greedy arena plan of `graph`'s activations (see the module docstring)."""
    life = graph.lifetimes()
    buffers = [Buffer(n, align(size, alignment), *life[n]) for n, size in graph.sizes.items() if n in life]
    offsets = greedy_offsets(buffers)
    arena = max((offsets[b.name] + b.size for b in buffers), default=0)
    live, step = _live_peak(buffers, len(graph.ops))
    alive = sorted((b for b in buffers if b.first <= step <= b.last), key=lambda b: -b.size)
    return Plan(offsets, arena, live, step, tuple(b.name for b in alive))


def _live_peak(buffers: Sequence[Buffer], steps: int) -> tuple[int, int]:
    """(bytes, step): the most bytes alive at one step, and the first step where they are."""
    best = (0, 0)
    for step in range(steps + 1):
        best = max(best, (sum(b.size for b in buffers if b.first <= step <= b.last), -step))
    return best[0], -best[1]


@dataclass(frozen=True)
class Footprint:
    """Flash and RAM of one artifact. ram_bytes is None where no plan applies, with the reason in `note`."""

    flash_bytes: int  # the file
    weight_bytes: int  # its constant tensors (weights, biases, quantization and shape constants)
    ram_bytes: int | None  # the greedy arena of the activations (TFLite Micro's plan), batch 1
    live_bytes: int | None = None  # the most activation bytes alive at one step: no plan needs less
    peak_tensors: tuple[str, ...] = field(default=())  # the activations alive at that step
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "peak_tensors": list(self.peak_tensors)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Footprint:
        return cls(**{**d, "peak_tensors": tuple(d.get("peak_tensors", ()))})


def footprint(path: str | Path) -> Footprint:
    """Flash and peak RAM of a `.tflite`, `.onnx` or `.keras`/`.h5` file (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file '{path}' does not exist; give a .tflite, .onnx, .keras or .h5 file")
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        weights, graph, note = tflite_graph(path.read_bytes(), str(path))
    elif suffix == ".onnx":
        weights, graph, note = onnx_graph(path)
    else:
        note = "Keras runs on TensorFlow's allocator, not a planned arena: see its TFLite artifact"
        return Footprint(path.stat().st_size, _keras_weight_bytes(path), None, note=note)
    if graph is None:
        return Footprint(path.stat().st_size, weights, None, note=note)
    p = plan(graph)
    return Footprint(path.stat().st_size, weights, p.arena_bytes, p.live_bytes, p.peak_tensors, note)


# ---------------------------------------------------------------------------------------------------- TFLite
def _schema() -> Any:
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def schema_names(enum: str) -> dict[int, str]:
    """Value -> name of one of the TFLite schema's enums (`BuiltinOperator`, `TensorType`)."""
    return {v: k for k, v in vars(getattr(_schema(), enum)).items() if not k.startswith("_")}


def _element_bits(tensor_type: int) -> int | None:
    """Bits per element of a TFLite TensorType; None for strings, resources and variants (no fixed size)."""
    t = _schema().TensorType
    bits = {t.FLOAT32: 32, t.FLOAT16: 16, t.INT32: 32, t.UINT8: 8, t.INT64: 64, t.BOOL: 8, t.INT16: 16,
            t.COMPLEX64: 64, t.INT8: 8, t.FLOAT64: 64, t.COMPLEX128: 128, t.UINT64: 64, t.UINT32: 32, t.UINT16: 16,
            t.INT4: 4, t.BFLOAT16: 16}  # fmt: skip
    return bits.get(tensor_type)


def tflite_model(flatbuffer: bytes, where: str) -> Any:
    """The flatbuffer's root `Model` (the schema's generated reader), or a one-line error for another file."""
    schema = _schema()
    if len(flatbuffer) < 8 or not schema.Model.ModelBufferHasIdentifier(flatbuffer, 0):
        raise ModelFileError(f"model file '{where}' is not a TFLite flatbuffer (no 'TFL3' identifier)")
    return schema.Model.GetRootAs(flatbuffer, 0)


def builtin_code(model: Any, opcode_index: int) -> int:
    """An operator code's builtin: the larger of the two fields (the schema keeps codes < 127 in the old one)."""
    code = model.OperatorCodes(opcode_index)
    return max(code.BuiltinCode(), code.DeprecatedBuiltinCode())


def tensor_bytes(tensor: Any) -> int | None:
    """Bytes of a TFLite tensor at its stored shape (batch 1 in this toolkit's exports); None when unsized."""
    bits = _element_bits(tensor.Type())
    if bits is None:
        return None
    elements = math.prod(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else 1
    return -(-elements * bits // 8)


def tflite_graph(flatbuffer: bytes, where: str) -> tuple[int, Graph | None, str]:
    """(weight bytes, the main subgraph's activations, a note) of a TFLite flatbuffer."""
    model = tflite_model(flatbuffer, where)
    sub = model.Subgraphs(0)
    constant, weights = set(), 0
    seen_buffers: set[int] = set()
    for s in range(model.SubgraphsLength()):
        g = model.Subgraphs(s)
        for i in range(g.TensorsLength()):
            tensor = g.Tensors(i)
            buffer = model.Buffers(tensor.Buffer())
            stored = buffer.DataLength() or buffer.Size()  # Size(): data kept outside the flatbuffer (> 2 GB)
            if not stored:
                continue
            if s == 0:
                constant.add(i)
            if tensor.Buffer() not in seen_buffers:  # a buffer shared by tensors is stored once
                seen_buffers.add(tensor.Buffer())
                weights += stored
    names = _unique([sub.Tensors(i).Name().decode(errors="replace") for i in range(sub.TensorsLength())])
    sizes, unsized = {}, []
    for i in range(sub.TensorsLength()):
        tensor = sub.Tensors(i)
        if i in constant or tensor.IsVariable():  # variables live in the persistent part of the arena
            continue
        size = tensor_bytes(tensor)
        if size is None:
            unsized.append(names[i])
        elif size:
            sizes[names[i]] = size
    if unsized:
        return weights, None, f"no plan: tensors without a fixed size ({', '.join(unsized[:3])})"
    ops = tuple((tuple(names[t] for t in op.InputsAsNumpy() if t >= 0) if op.InputsLength() else (),
                 tuple(names[t] for t in op.OutputsAsNumpy() if t >= 0) if op.OutputsLength() else ())
                for op in (sub.Operators(i) for i in range(sub.OperatorsLength())))  # fmt: skip
    graph = Graph(sizes, ops, tuple(names[t] for t in sub.InputsAsNumpy()),
                  tuple(names[t] for t in sub.OutputsAsNumpy()))  # fmt: skip
    note = "TFLite Micro's greedy plan" + (
        f"; main subgraph only (of {model.SubgraphsLength()})" if model.SubgraphsLength() > 1 else ""
    )
    return weights, graph, note


def _unique(names: Sequence[str]) -> list[str]:
    """Names as keys: a repeated name gets its index appended (TFLite does not require unique names)."""
    counts = Counter(names)
    return [f"{n}#{i}" if counts[n] > 1 else n for i, n in enumerate(names)]


# ------------------------------------------------------------------------------------------------------ ONNX
def onnx_graph(path: Path) -> tuple[int, Graph | None, str]:
    """(weight bytes, activations, a note) of an ONNX file. The plan is over the graph ONNX Runtime runs after its
    graph optimizations (BatchNorm folded, Conv+Relu fused, QDQ pairs fused into QLinear operators): planned as
    written, an int8 QDQ ResNet-20 counted its dequantized float weights and float copies of every activation,
    1.28 MB against 49 KB. Shapes come from ONNX shape inference of the file (symbolic dimensions, the batch,
    taken as 1), by name: the optimizer keeps the names of the values it keeps."""
    import onnx

    from resnet_edge.models.io import first_line

    try:  # not onnx.checker: the fp16 converter writes nodes out of topological order, which ONNX Runtime accepts
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ModelFileError(f"model file '{path}' could not be read as an ONNX model: {first_line(exc)}") from None
    runs = _ort_optimized(path)
    weights = _onnx_constant_bytes(model.graph)
    if runs is None:
        return weights, None, "no plan: ONNX Runtime could not load the model"
    types = _onnx_types(onnx.shape_inference.infer_shapes(model).graph)
    # values the optimizer made (image_q_to_dq): inferred on its graph where their operators allow
    types = {**_onnx_types(onnx.shape_inference.infer_shapes(runs).graph), **types}
    graph = runs.graph
    constant = {i.name for i in graph.initializer} | {
        o for n in graph.node if n.op_type == "Constant" for o in n.output
    }
    nodes = [n for n in graph.node if n.op_type != "Constant"]
    inputs = tuple(i.name for i in graph.input if i.name not in constant)
    values = [*inputs, *(o for n in nodes for o in n.output if o)]
    unknown = [v for v in values if types.get(v) is None]
    if unknown:
        return weights, None, f"no plan: no static shape for {len(unknown)} values ({', '.join(unknown[:3])})"
    ops = tuple((tuple(i for i in n.input if i and i not in constant), tuple(o for o in n.output if o))
                for n in nodes)  # fmt: skip
    sizes = {v: types[v] for v in values if types[v]}
    note = "TFLite Micro's greedy plan over the graph ONNX Runtime runs"
    return weights, Graph(sizes, ops, inputs, tuple(o.name for o in graph.output)), note


def _onnx_types(graph: Any) -> dict[str, int | None]:
    """Bytes of every value with a known element type and shape (symbolic dimensions as 1); None otherwise."""
    from onnx import helper

    found: dict[str, int | None] = {}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        t = value.type.tensor_type if value.type.HasField("tensor_type") else None
        if t is None or not t.HasField("shape") or not t.elem_type:
            found[value.name] = None
            continue
        item = helper.tensor_dtype_to_np_dtype(t.elem_type).itemsize
        found[value.name] = item * math.prod(d.dim_value if d.HasField("dim_value") else 1 for d in t.shape.dim)
    return found


def _onnx_constant_bytes(graph: Any) -> int:
    """Bytes of the initializers and Constant nodes' tensors, from their shapes and types (nothing decoded)."""
    from onnx import helper

    tensors = [*graph.initializer, *(a.t for n in graph.node if n.op_type == "Constant" for a in n.attribute
                                     if a.name == "value")]  # fmt: skip
    return sum(math.prod(t.dims) * helper.tensor_dtype_to_np_dtype(t.data_type).itemsize for t in tensors)


def _ort_optimized(path: Path) -> Any | None:
    """The model as ONNX Runtime's CPU provider runs it after its extended graph optimizations (what a session
    saves with optimized_model_filepath: nodes in execution order), or None when ONNX Runtime cannot load it."""
    import tempfile

    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        options.log_severity_level = 3
        try:
            ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            return onnx.load(options.optimized_model_filepath)
        except Exception:  # ONNX Runtime raises its own types for what it cannot run: the file's graph is planned
            return None


def _keras_weight_bytes(path: Path) -> int:
    from resnet_edge.models.io import load_keras

    model = load_keras(path)
    return sum(int(math.prod(w.shape)) * w.dtype.size for w in model.weights)
