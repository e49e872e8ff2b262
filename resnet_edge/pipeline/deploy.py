"""Latency at the deploy size (`bench.deploy_size`): each architecture of the run rebuilt at that input size
with its trained weights (convolutions do not depend on the input size), converted to TFLite and timed
interleaved against the unpruned fp32 one. Latency only: the models were trained at another size."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from resnet_edge.config import BuildConfig, QuantMode
from resnet_edge.data import Dataset
from resnet_edge.pipeline.layout import RunLayout


def deploy_folder(config: BuildConfig, layout: RunLayout) -> list[Path]:
    """The deploy folder of this configuration: none when no deploy size (or the training size) was asked."""
    size = config.bench.deploy_size
    return [layout.deploy(size)] if size is not None and size != config.model.input_size else []


def _deploy_paths(config: BuildConfig, layout: RunLayout) -> dict[Path, tuple[Path, QuantMode]]:
    """{artifact: (Keras model, mode)}: each architecture as TFLite fp32, the compressed one also int8."""
    (folder,) = deploy_folder(config, layout)
    paths = {folder / "unpruned_fp32.tflite": (layout.baseline_model, QuantMode.FP32)}
    if layout.pruned_model.exists():
        paths[folder / "pruned_fp32.tflite"] = (layout.pruned_model, QuantMode.FP32)
    if QuantMode.INT8 in config.export.modes:
        name = "pruned" if layout.pruned_model.exists() else "unpruned"
        paths[folder / f"{name}_int8.tflite"] = (layout.compressed_model(), QuantMode.INT8)
    return paths


def deploy_bench(config: BuildConfig, data: Dataset, layout: RunLayout) -> Any:
    """The BenchResult at the deploy size (rows named by their run-folder paths), or None when not asked."""
    if not deploy_folder(config, layout):
        return None
    from resnet_edge._tf import tf
    from resnet_edge.bench import measure
    from resnet_edge.export.tflite import export_tflite
    from resnet_edge.models.io import load_keras, load_model_config
    from resnet_edge.models.resnet import at_input_size
    from resnet_edge.quantize.calibration import representative_images

    size = config.bench.deploy_size
    paths = _deploy_paths(config, layout)
    images = representative_images(data, config.quantize.representative_count, config.quantize.seed)
    resized = tf.image.resize(images.astype("float32"), (size, size)).numpy()
    for path, (keras_path, mode) in paths.items():
        model = at_input_size(load_keras(keras_path), load_model_config(keras_path), size)
        path.parent.mkdir(parents=True, exist_ok=True)
        export_tflite(model, mode, path, representative=resized, config=config.quantize)
    first, *rest = list(paths)
    result = measure(rest, baseline=first, config=config.bench)
    names = {row.name: layout.rel(path) for row, path in zip(result.rows, paths, strict=True)}
    return replace(result.renamed(names), input_size=size)
