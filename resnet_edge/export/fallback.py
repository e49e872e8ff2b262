"""The automatic float fallback: an int8 artifact that fails validation keeps its worst layers in float.

`export --fallback K`: while the artifact is invalid and fewer than K layers are float, rank its int8 activations
(`quantize.layers`: the activation int8 loses most, named by its Keras layer), keep the next layer in float, quantize
again from the same calibration and validate again, as every artifact is validated. TFLite converter: its
quantizer's denylisted nodes; LiteRT Quantizer: a `no_quantize` recipe entry; ONNX: `nodes_to_exclude`. The first
valid artifact replaces the plain int8 one under its name; when none is valid the plain one stays, marked invalid,
with what was tried. What float costs is measured: p50 of the two files at one thread, interleaved.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from resnet_edge._tf import keras
from resnet_edge.config import BenchConfig, ExportFormat, QuantizeConfig, QuantMode, TfliteQuantizer
from resnet_edge.fsutil import atomic_path
from resnet_edge.quantize.layers import ActivationError, LayerNames, worst

RANK_IMAGES = 16  # calibration images the activations are ranked on
Keep = Callable[[str], bool]  # a runtime's op or node name -> keep it in float


class Validated(Protocol):  # export.Artifact, without importing the package that imports this module
    path: Path
    valid: bool
    accuracy: float
    agreement: float
    problems: tuple[str, ...]
    test: dict[str, Any] | None
    seconds: float


A = TypeVar("A", bound=Validated)


@dataclass(frozen=True)
class Step:
    layer: str  # the Keras layer kept in float in this step
    tensor: str  # the activation that pointed at it (the runtime's name)
    sqnr_db: float  # that activation's median channel SQNR in the artifact before this step
    accuracy: float  # % on validation, after this step
    agreement: float
    problems: tuple[str, ...]


@dataclass(frozen=True)
class Fallback:
    float_layers: tuple[str, ...]  # Keras layers the kept artifact runs in float (none when nothing validated)
    recovered: bool
    steps: tuple[Step, ...]
    before: dict[str, Any]  # the plain int8 artifact: validation accuracy and agreement, test accuracy, problems
    latency: dict[str, Any] | None  # threads, rounds, p50 of both, ratio fallback / int8 with its interval

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Requantizer:
    """How one format and quantizer writes the int8 model with some layers in float, and ranks an int8 file."""

    write: Callable[[Keep, Path], None]
    rank: Callable[[Path], list[ActivationError]]


def fall_back(plain: A, *, limit: int, requantizer: Requantizer, names: LayerNames,
              validate: Callable[[Path], A], rounds: int) -> A:  # fmt: skip
    """The first valid artifact with up to `limit` layers in float, under `plain`'s path; else `plain`, with what
    was tried. `validate` is export's check of a file."""
    floated: list[str] = []
    steps: list[Step] = []
    result: A | None = None
    errors = requantizer.rank(plain.path)
    with tempfile.TemporaryDirectory() as tmp:  # a folder of its own: build globs the export folder for artifacts
        candidate = Path(tmp) / plain.path.name
        while len(floated) < limit and (pick := worst(errors, set(floated))) is not None:
            layer, error = pick
            floated.append(layer)
            chosen = frozenset(floated)
            requantizer.write(lambda name, chosen=chosen: names.op(name) in chosen, candidate)
            result = validate(candidate)
            steps.append(Step(layer, error.tensor, error.sqnr_db, result.accuracy, result.agreement, result.problems))
            if result.valid:
                break
            errors = requantizer.rank(candidate)
        recovered = result is not None and result.valid
        record = Fallback(tuple(floated) if recovered else (), recovered, tuple(steps), _summary(plain),
                          latency(plain.path, candidate, rounds) if recovered else None)  # fmt: skip
        if not recovered or result is None:
            return replace(plain, fallback=record.to_dict())
        with atomic_path(plain.path) as tmp_path:
            shutil.copyfile(candidate, tmp_path)
    return replace(result, path=plain.path, fallback=record.to_dict(), seconds=plain.seconds + result.seconds)


def _summary(plain: Validated) -> dict[str, Any]:
    return {"accuracy": plain.accuracy, "agreement": plain.agreement, "problems": list(plain.problems),
            "test_accuracy": plain.test["accuracy"] if plain.test else None}  # fmt: skip


def latency(plain: Path, fallback: Path, rounds: int, threads: int = 1) -> dict[str, Any]:
    """p50 of both files and the paired ratio fallback / plain with its bootstrap interval, interleaved."""
    from resnet_edge.bench import ratio_ci
    from resnet_edge.latency import interleaved, summary, timers

    config = BenchConfig(threads=(threads,), rounds=rounds)
    samples = interleaved(timers({"int8": plain, "fallback": fallback}, threads, seed=config.seed), config)
    ratio = ratio_ci(samples["fallback"], samples["int8"], confidence=config.confidence, resamples=config.resamples,
                     seed=config.seed)  # fmt: skip
    return {"threads": threads, "rounds": rounds, "int8_p50_ms": summary(samples["int8"])["p50_ms"],
            "fallback_p50_ms": summary(samples["fallback"])["p50_ms"], "ratio": asdict(ratio)}  # fmt: skip


def requantizer(fmt: ExportFormat, model: keras.Model, *, quantize: QuantizeConfig, representative: np.ndarray,
                fp32: Path) -> Requantizer:  # fmt: skip
    """The Requantizer of `fmt` and the config's TFLite quantizer, calibrated once. `fp32` is the float artifact of
    `fmt` (written by export, or a temporary one)."""
    images = representative[:RANK_IMAGES]
    if fmt is ExportFormat.ONNX:
        from resnet_edge.quantize.layers import onnx_errors
        from resnet_edge.quantize.onnx import quantize_onnx

        def write_onnx(keep: Keep, path: Path) -> None:
            quantize_onnx(fp32, QuantMode.INT8, path, representative=representative, config=quantize, keep_float=keep)

        return Requantizer(write_onnx, lambda path: onnx_errors(path, fp32, model, images))
    from resnet_edge.export.tflite import tflite_converter, write_flatbuffer
    from resnet_edge.quantize.layers import tflite_errors

    if quantize.tflite_quantizer is TfliteQuantizer.LITERT:
        from resnet_edge.quantize.litert import calibrate, quantize_litert

        reference = fp32.read_bytes()
        ranges = calibrate(reference, representative, quantize)

        def write(keep: Keep, path: Path) -> None:
            write_flatbuffer(quantize_litert(reference, quantize, calibration=ranges, keep_float=keep), path)
    else:
        from resnet_edge.quantize.tflite import calibrate as calibrate_converter
        from resnet_edge.quantize.tflite import quantize_calibrated

        # the converter's int8 is this calibrated model quantized: the same tensor names, so it is the reference
        reference = calibrate_converter(tflite_converter(model, QuantMode.INT8, representative=representative,
                                                         config=quantize))  # fmt: skip

        def write(keep: Keep, path: Path) -> None:
            write_flatbuffer(quantize_calibrated(reference, quantize, keep_float=keep), path)

    return Requantizer(write, lambda path: tflite_errors(path, reference, model, images))
