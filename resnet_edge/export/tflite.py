"""TFLite through the TFLite converter: fp32, fp16, dynamic-range, full-integer int8 and QAT models.

Every model is converted for batch 1 (what a camera runs) from a concrete function, so the input keeps the
name `image`. Full-integer models take int8 (default), uint8 or float32 input and output; with the pixel
normalization baked into the model, an int8 input's scale is ~1 and its zero point -128, so raw uint8
pixels map onto it exactly.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from resnet_edge._tf import keras, quiet, tf
from resnet_edge.config import IoType, QuantizeConfig, QuantMode
from resnet_edge.fsutil import atomic_path

_IO_TYPES = {IoType.INT8: tf.int8, IoType.UINT8: tf.uint8, IoType.FLOAT32: tf.float32}


def _converter(model: keras.Model) -> Any:
    spec = tf.TensorSpec([1, *model.input_shape[1:]], tf.float32, name="image")
    fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    return tf.lite.TFLiteConverter.from_concrete_functions([fn], model)


def _representative(images: np.ndarray):
    def gen():
        for image in images:
            yield [image[None].astype(np.float32)]

    return gen


def tflite_converter(
    model: keras.Model, mode: QuantMode, *, representative: np.ndarray | None = None, config: QuantizeConfig
) -> Any:
    """A configured `tf.lite.TFLiteConverter` for `mode` (QAT: `model` is the fake-quantized model)."""
    converter = _converter(model)
    if mode is QuantMode.FP32:
        return converter
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode is QuantMode.FP16:
        converter.target_spec.supported_types = [tf.float16]
    elif mode in (QuantMode.INT8, QuantMode.QAT):
        if representative is not None:
            converter.representative_dataset = _representative(representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = _IO_TYPES[config.io_type]
        converter.inference_output_type = _IO_TYPES[config.io_type]
    if not config.per_channel:  # per-tensor weights, for accelerators without per-channel support
        converter._experimental_disable_per_channel = True
    return converter


def export_tflite(
    model: keras.Model,
    mode: QuantMode,
    path: str | Path,
    *,
    representative: np.ndarray | None = None,
    config: QuantizeConfig | None = None,
) -> Path:
    """Convert and write `path` atomically: the file appears complete or not at all."""
    converter = tflite_converter(model, mode, representative=representative, config=config or QuantizeConfig())
    with quiet():
        flatbuffer = converter.convert()
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(flatbuffer)
    return path


def to_tflite_fp32(model: keras.Model, path: str | Path) -> Path:
    """A float32 .tflite file (batch 1 input), written atomically."""
    return export_tflite(model, QuantMode.FP32, path)


def layer_errors(
    model: keras.Model, representative: np.ndarray, *, config: QuantizeConfig, top: int = 10
) -> list[dict[str, Any]]:
    """The layers of the int8 model whose outputs differ most from float, by TFLite's quantization debugger.

    Metric: RMSE of the quantized tensor against its float twin, in units of the tensor's quantization step
    (rmse / scale): about 0.29 is the ideal rounding error of a uniform quantizer; much more means that
    layer's range or weights quantize badly.
    """
    converter = tflite_converter(model, QuantMode.INT8, representative=representative, config=config)
    converter.inference_input_type = tf.float32  # the debugger feeds float data
    converter.inference_output_type = tf.float32
    buffer = io.StringIO()
    with quiet():
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=_representative(representative[: min(len(representative), 32)])
        )
        debugger.run()
        debugger.layer_statistics_dump(buffer)
    rows = []
    for row in csv.DictReader(io.StringIO(buffer.getvalue())):
        rmse = float(row["mean_squared_error"]) ** 0.5
        scale = float(row["scale"] or 0.0)
        rows.append({"layer": row["tensor_name"], "op": row["op_name"], "rmse": rmse,
                     "max_abs_error": float(row["max_abs_error"]),
                     "rmse_per_scale": rmse / scale if scale else None})  # fmt: skip
    rows.sort(key=lambda r: -(r["rmse_per_scale"] or 0.0))
    return rows[:top]
