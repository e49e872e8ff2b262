"""Footprint: the greedy arena planner against answers worked out by hand, TFLite Micro's own planner tests and its
interpreter; flash and RAM of TFLite, ONNX and Keras files."""

from __future__ import annotations

import numpy as np
import pytest
from by_hand import tflm_run

from resnet_edge.config import QuantizeConfig, QuantMode
from resnet_edge.errors import ModelFileError
from resnet_edge.export.onnx import export_onnx
from resnet_edge.export.tflite import export_tflite
from resnet_edge.footprint import Buffer, Graph, align, footprint, greedy_offsets, plan, tflite_graph
from resnet_edge.models.config import ModelConfig
from resnet_edge.models.resnet import build_resnet

KB16 = 32 * 32 * 16  # one int8 activation of a CIFAR ResNet's first stage: 32x32 pixels x 16 channels, 1 byte each


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """ResNet-8 as fp32 and int8 TFLite, fp32 and int8 ONNX, and .keras; ResNet-20 as int8 TFLite (32x32)."""
    folder = tmp_path_factory.mktemp("footprint")
    images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3)).astype(np.float32)
    r8, r20 = build_resnet(ModelConfig(depth=8, classes=5)), build_resnet(ModelConfig(depth=20, classes=10))
    r8.save(folder / "r8.keras")
    q = QuantizeConfig()
    return {
        "keras": folder / "r8.keras",
        "params": r8.count_params(),
        "fp32": export_tflite(r8, QuantMode.FP32, folder / "r8_fp32.tflite"),
        "int8": export_tflite(r8, QuantMode.INT8, folder / "r8_int8.tflite", representative=images),
        "r20_int8": export_tflite(r20, QuantMode.INT8, folder / "r20_int8.tflite", representative=images),
        "onnx_fp32": export_onnx(r8, QuantMode.FP32, folder / "r8_fp32.onnx", opset=17, config=q),
        "onnx_int8": export_onnx(
            r8,
            QuantMode.INT8,
            folder / "r8_int8.onnx",
            opset=17,
            fp32_path=folder / "r8_fp32.onnx",
            representative=images,
            config=q,
        ),  # fmt: skip
    }


def _buffers(*specs: tuple[int, int, int]) -> list[Buffer]:
    return [Buffer(str(i), size, first, last) for i, (size, first, last) in enumerate(specs)]


def test_greedy_offsets_reproduce_tflite_micros_own_planner_tests() -> None:
    # tflite-micro memory_planner/greedy_memory_planner_test.cc: TestGreedyBasics, TestGreedyMedium, TestOverlapCase
    assert greedy_offsets(_buffers((10, 0, 1), (20, 2, 3))) == {"0": 0, "1": 0}
    medium = _buffers((10, 0, 1), (20, 1, 2), (30, 2, 3), (40, 3, 4), (50, 0, 1))
    assert greedy_offsets(medium) == {"0": 50, "1": 70, "2": 40, "3": 0, "4": 0}  # arena 90, where 80 are alive
    overlap = _buffers((100, 0, 1), (50, 2, 3), (20, 1, 2))
    offsets = greedy_offsets(overlap)
    assert max(offsets[b.name] + b.size for b in overlap) == 120


def test_a_chain_peaks_at_its_two_largest_adjacent_tensors() -> None:
    # x -> a -> b -> c -> y: at step 2 a is read and b written: 8192 + 4096; nothing else is ever alive beside two
    graph = Graph({"x": 3072, "a": 8192, "b": 4096, "c": 6144, "y": 160},
                  ((("x",), ("a",)), (("a",), ("b",)), (("b",), ("c",)), (("c",), ("y",))), ("x",), ("y",))  # fmt: skip
    p = plan(graph)
    assert graph.lifetimes() == {"x": (0, 1), "a": (1, 2), "b": (2, 3), "c": (3, 4), "y": (4, 4)}
    assert p.live_bytes == p.arena_bytes == 8192 + 4096
    assert p.peak_step == 2 and p.peak_tensors == ("a", "b")
    # by hand, largest first: a@0, c@0 (not alive with a), b after both, x in b's place (b not alive yet), y after c
    assert p.offsets == {"a": 0, "c": 0, "b": 8192, "x": 8192, "y": 6144}


def test_a_residual_block_keeps_its_skip_tensor_alive_across_the_branch() -> None:
    # x -> conv1 -> h -> conv2 -> r -> add(x, r) -> y -> z: x is read again by the add, so it lives steps 0-3
    ops = ((("x",), ("h",)), (("h",), ("r",)), (("x", "r"), ("y",)), (("y",), ("z",)))
    graph = Graph({"x": 4096, "h": 4096, "r": 4096, "y": 4096, "z": 1024}, ops, ("x",), ("z",))
    p = plan(graph)
    assert graph.lifetimes()["x"] == (0, 3)
    assert p.live_bytes == p.arena_bytes == 3 * 4096  # a plain chain of the same tensors needs 2 x 4096
    assert p.peak_step == 2 and set(p.peak_tensors) == {"x", "h", "r"}
    assert p.offsets["x"] == 8192  # placed last of the 4096s: it overlaps all the others


def test_a_branch_and_concat_holds_both_branches_and_their_concatenation() -> None:
    # x feeds two branches a and b; concat(a, b) -> y -> z. Step 3 holds a, b and y: 4096 + 4096 + 8192
    ops = ((("x",), ("a",)), (("x",), ("b",)), (("a", "b"), ("y",)), (("y",), ("z",)))
    graph = Graph({"x": 2048, "a": 4096, "b": 4096, "y": 8192, "z": 160}, ops, ("x",), ("z",))
    p = plan(graph)
    assert graph.lifetimes() == {"x": (0, 2), "a": (1, 3), "b": (2, 3), "y": (3, 4), "z": (4, 4)}
    assert p.live_bytes == p.arena_bytes == 16384 and p.peak_step == 3
    assert p.offsets == {"y": 0, "b": 8192, "a": 12288, "x": 0, "z": 8192}


def test_sizes_are_aligned_to_16_bytes_as_tflite_micro_does() -> None:
    assert [align(n) for n in (0, 1, 16, 17, 40)] == [0, 16, 16, 32, 48]
    graph = Graph({"x": 10, "y": 10}, ((("x",), ("y",)),), ("x",), ("y",))
    assert plan(graph).arena_bytes == 32 and plan(graph, alignment=1).arena_bytes == 20


def test_resnet20_int8_peak_ram_matches_the_hand_computation(artifacts) -> None:
    """README: the int8 ResNet-20 at 32x32. At stage 1 block 1's second conv three 32x32x16 int8 tensors are alive:
    the block input (the skip, read again by the add), conv1's output (read) and conv2's output (written): 3 x
    16,384 = 49,152 bytes; nothing later is larger (stage 2 tensors are 16x16x32 = 8,192). The greedy plan places the
    ten equal 16,384-byte tensors of stage 1 latest-first and opens a fourth slot: 65,536 bytes."""
    fp = footprint(artifacts["r20_int8"])
    assert fp.live_bytes == 3 * KB16 == 49152
    assert fp.ram_bytes == 4 * KB16 == 65536
    assert "stem" in fp.peak_tensors[0] and "stage1_block1_conv1" in fp.peak_tensors[1]
    assert "stage1_block1_conv2" in fp.peak_tensors[2] and len(fp.peak_tensors) == 3


def test_tensor_sizes_match_the_litert_interpreter(artifacts) -> None:
    from ai_edge_litert.interpreter import Interpreter

    for key in ("fp32", "int8"):
        interp = Interpreter(model_path=str(artifacts[key]))
        details = {d["name"]: d for d in interp.get_tensor_details()}
        _, graph, _ = tflite_graph(artifacts[key].read_bytes(), str(artifacts[key]))
        assert len(graph.sizes) >= 18  # every activation of a ResNet-8
        for name, size in graph.sizes.items():
            d = details[name]
            assert size == int(np.prod(d["shape"])) * np.dtype(d["dtype"]).itemsize, name


@pytest.mark.parametrize("key", ["int8", "r20_int8"])
def test_the_plan_equals_tflite_micros_own_arena_head(artifacts, key) -> None:
    """TFLite Micro's interpreter (its allocation report: the head is the planned activations) on the same file."""
    pytest.importorskip("tflite_micro", reason="tflite-micro (a dev dependency) is not installed")
    measured = tflm_run(artifacts[key], 1 << 20)
    assert measured["ok"] and measured["head"] == footprint(artifacts[key]).ram_bytes


def test_flash_and_weights_of_each_kind(artifacts) -> None:
    fp32, int8 = footprint(artifacts["fp32"]), footprint(artifacts["int8"])
    assert fp32.flash_bytes == artifacts["fp32"].stat().st_size
    assert 0.95 * fp32.flash_bytes < fp32.weight_bytes < fp32.flash_bytes  # the flatbuffer is mostly its weights
    assert int8.weight_bytes < fp32.weight_bytes / 3  # int8 kernels, int32 biases
    assert int8.ram_bytes * 4 == fp32.ram_bytes  # the same plan over 4-byte activations
    keras = footprint(artifacts["keras"])
    assert keras.weight_bytes == 4 * artifacts["params"] and keras.ram_bytes is None and "TensorFlow" in keras.note


def test_onnx_plans_the_graph_onnx_runtime_runs(artifacts) -> None:
    fp32, int8 = footprint(artifacts["onnx_fp32"]), footprint(artifacts["onnx_int8"])
    assert fp32.live_bytes == footprint(artifacts["fp32"]).live_bytes == 3 * 4 * KB16  # same network, float
    # planned as written, QDQ would count dequantized float weights and float copies of activations: more than fp32
    assert int8.ram_bytes < fp32.ram_bytes / 2
    assert 0.95 * fp32.flash_bytes < fp32.weight_bytes < fp32.flash_bytes


def test_a_file_that_is_not_a_model_is_one_line(tmp_path) -> None:
    bad = tmp_path / "junk.tflite"
    bad.write_bytes(b"not a flatbuffer at all")
    with pytest.raises(ModelFileError, match="not a TFLite flatbuffer"):
        footprint(bad)
    with pytest.raises(ModelFileError, match="does not exist"):
        footprint(tmp_path / "missing.onnx")
