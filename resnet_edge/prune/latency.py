"""Latency of pruning steps on the deployment runtime: every model converted to the target artifact
(`--target-runtime`, e.g. TFLite int8) and timed interleaved with the unpruned one, so each latency is a ratio
measured side by side, with its interval; and the latency a block costs, measured per stage, not assumed from
its MACs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from resnet_edge._tf import keras
from resnet_edge.bench import Ratio, ratio_ci
from resnet_edge.config import BenchConfig, PruneConfig, QuantizeConfig, QuantMode
from resnet_edge.data import Dataset
from resnet_edge.models.config import ModelConfig

# int8 conversions calibrate on this many training images: latency does not depend on the ranges they give
CALIBRATION_IMAGES = 32
# timing of search steps and block costs: fewer rounds than bench (each is a decision aid, re-measured at the end)
SEARCH_TIMING = BenchConfig(rounds=30)


@dataclass(frozen=True)
class Timed:
    """A model's p50 on the target runtime and its latency ratio to the unpruned model, measured interleaved."""

    p50_ms: float
    ratio: Ratio


class LatencyProbe:
    """Converts models to the target runtime's artifact (once per name, under `folder`) and times them."""

    def __init__(self, config: PruneConfig, data: Dataset, folder: Path) -> None:
        from resnet_edge.quantize.calibration import representative_images

        self.runtime, self.threads, self.size = config.target_runtime, config.target_threads, config.target_size
        self.folder = folder
        self.images = representative_images(data, CALIBRATION_IMAGES, config.seed)
        self.paths: dict[str, Path] = {}

    @property
    def label(self) -> str:
        return f"{self.runtime.value}, {self.threads} threads"

    def artifact(self, name: str, model: keras.Model, model_config: ModelConfig) -> Path:
        """The target artifact of `model`, converted on first use and reused after."""
        if name not in self.paths:
            self.paths[name] = self._convert(model, model_config, self.folder / f"{name}{self.runtime.suffix}")
        return self.paths[name]

    def _convert(self, model: keras.Model, model_config: ModelConfig, path: Path) -> Path:
        from resnet_edge._tf import tf
        from resnet_edge.export.onnx import export_onnx
        from resnet_edge.export.tflite import export_tflite
        from resnet_edge.models.resnet import at_input_size

        size = self.size or model_config.input_size
        model = at_input_size(model, model_config, size)
        images = self.images
        if images.shape[1] != size:
            images = tf.image.resize(images.astype("float32"), (size, size)).numpy()
        mode = QuantMode.INT8 if self.runtime.int8 else QuantMode.FP32
        quantize = QuantizeConfig(representative_count=len(images))
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".tflite":
            return export_tflite(model, mode, path, representative=images, config=quantize, signature=False)
        return export_onnx(model, mode, path, representative=images, config=quantize)

    def measure(self, names: list[str], config: BenchConfig = SEARCH_TIMING) -> dict[str, Timed]:
        """p50 and ratio to the first name (the yardstick, e.g. the unpruned model) of each converted model."""
        from resnet_edge.latency import interleaved, timers

        samples = interleaved(timers({n: self.paths[n] for n in names}, self.threads), config)
        base = samples[names[0]]
        return {n: Timed(float(np.median(ms)), ratio_ci(ms, base, confidence=config.confidence,
                                                        resamples=config.resamples, seed=config.seed))
                for n, ms in samples.items()}  # fmt: skip


def block_costs(
    probe: LatencyProbe, variants: dict[int, tuple[keras.Model, ModelConfig, int]], unpruned: str
) -> dict[int, float]:
    """Milliseconds one removable block of each stage costs on the target runtime: `variants` holds, per stage,
    the model with n of that stage's blocks removed; each is timed against `unpruned` (already converted) and
    the saving divided by n. Blocks of a stage share their shapes, so they cost alike."""
    for stage, (model, model_config, _) in variants.items():
        probe.artifact(f"cost_stage{stage}", model, model_config)
    timed = probe.measure([unpruned, *(f"cost_stage{s}" for s in variants)])
    base_ms = timed[unpruned].p50_ms
    return {s: max(0.0, (1 - timed[f"cost_stage{s}"].ratio.median) * base_ms / n) for s, (_, _, n) in variants.items()}
