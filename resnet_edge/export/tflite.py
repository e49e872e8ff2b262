"""TFLite through the TFLite converter, at batch 1 (what a camera runs), input named `image`.

The converter quantizes as it converts: `resnet_edge.quantize.tflite.configure` sets it up for each mode. With
`tflite_quantizer: litert`, int8 is the LiteRT Quantizer's work on the fp32 flatbuffer (`quantize.litert`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from resnet_edge._tf import keras, quiet, tf
from resnet_edge.config import QuantizeConfig, QuantMode, TfliteQuantizer
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
    fp32_path: str | Path | None = None,
) -> Path:
    """Convert and write `path` atomically: the file appears complete or not at all. The LiteRT Quantizer starts
    from `fp32_path` when given."""
    config = config or QuantizeConfig()
    if mode is QuantMode.INT8 and config.tflite_quantizer is TfliteQuantizer.LITERT:
        from resnet_edge.quantize.litert import calibrate, quantize_litert

        if representative is None:
            raise ValueError("int8 TFLite needs representative images")
        fp32 = Path(fp32_path).read_bytes() if fp32_path else convert(model, QuantMode.FP32, config=config,
                                                                        signature=signature)  # fmt: skip
        flatbuffer = quantize_litert(fp32, config, calibration=calibrate(fp32, representative, config))
    else:
        flatbuffer = convert(model, mode, representative=representative, config=config, signature=signature)
    return write_flatbuffer(flatbuffer, path)


def convert(model: keras.Model, mode: QuantMode, *, representative: np.ndarray | None = None,
            config: QuantizeConfig, signature: bool = True) -> bytes:  # fmt: skip
    """The TFLite converter's flatbuffer of `model` in `mode` (`signature`: see tflite_converter)."""
    converter = tflite_converter(model, mode, representative=representative, config=config, signature=signature)
    with quiet():
        return converter.convert()


def write_flatbuffer(flatbuffer: bytes, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(flatbuffer)
    return path


def to_tflite_fp32(model: keras.Model, path: str | Path) -> Path:
    """A float32 .tflite file (batch 1 input), written atomically."""
    return export_tflite(model, QuantMode.FP32, path)
