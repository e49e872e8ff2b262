"""TFLite through the TFLite converter, at batch 1 (what a camera runs), input named `image`.

The converter quantizes as it converts: `resnet_edge.quantize.tflite.configure` sets it up for each mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from resnet_edge._tf import keras, quiet, tf
from resnet_edge.config import QuantizeConfig, QuantMode
from resnet_edge.fsutil import atomic_path
from resnet_edge.quantize.tflite import configure


def tflite_converter(
    model: keras.Model,
    mode: QuantMode,
    *,
    representative: np.ndarray | None = None,
    config: QuantizeConfig,
    signature: bool = True,
) -> Any:
    """A `tf.lite.TFLiteConverter` for `model` from a concrete batch-1 function, configured for `mode`. With
    `signature` the file keeps a `serving_default` signature (LiteRT's signature runners use it): the converter
    then goes through a SavedModel of the model, 13 s for a ResNet-56 here; without, it freezes the graph
    (1-2 s, the same operators and outputs): what a latency probe converts."""
    spec = tf.TensorSpec([1, *model.input_shape[1:]], tf.float32, name="image")
    fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn], model if signature else None)
    return configure(converter, mode, representative=representative, config=config)


def export_tflite(
    model: keras.Model,
    mode: QuantMode,
    path: str | Path,
    *,
    representative: np.ndarray | None = None,
    config: QuantizeConfig | None = None,
    signature: bool = True,
) -> Path:
    """Convert and write `path` atomically: the file appears complete or not at all."""
    converter = tflite_converter(model, mode, representative=representative, config=config or QuantizeConfig(),
                                 signature=signature)  # fmt: skip
    with quiet():
        flatbuffer = converter.convert()
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(flatbuffer)
    return path


def to_tflite_fp32(model: keras.Model, path: str | Path) -> Path:
    """A float32 .tflite file (batch 1 input), written atomically."""
    return export_tflite(model, QuantMode.FP32, path)
