"""Post-training quantization in the TFLite converter: fp16, dynamic-range, full-integer int8, and QAT models.

Full-integer models take int8 (default), uint8 or float32 input and output; with the pixel normalization baked
into the model, an int8 input's scale is ~1 and its zero point -128, so raw uint8 pixels map onto it exactly.

Selective int8 (the float fallback): the converter has no denylist of its own in TF 2.21; its quantization debugger
keeps nodes in float (`QuantizationDebugOptions(denylisted_nodes=...)`) by calibrating once
(`_experimental_calibrate_only`) and quantizing the calibrated model with `mlir_quantize(denylisted_nodes=...)`.
`calibrate` and `quantize_calibrated` do those two steps, with the artifact's I/O type (the debugger's model has
float or int8 I/O, by its `fully_quantize`, never uint8). With nothing kept float the result computes what
`converter.convert()` writes (the same outputs on every image, tests/test_fallback.py).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from resnet_edge._tf import quiet, tf
from resnet_edge.config import IoType, QuantizeConfig, QuantMode

_IO_TYPES = {IoType.INT8: tf.int8, IoType.UINT8: tf.uint8, IoType.FLOAT32: tf.float32}


def representative_dataset(images: np.ndarray) -> Callable[[], Iterator[list[np.ndarray]]]:
    """The converter's calibration generator: one image at a time, batch 1, float32."""

    def gen() -> Iterator[list[np.ndarray]]:
        for image in images:
            yield [image[None].astype(np.float32)]

    return gen


def configure(converter: Any, mode: QuantMode, *, representative: np.ndarray | None, config: QuantizeConfig) -> Any:
    """Set `converter` (a `tf.lite.TFLiteConverter`) up for `mode`; QAT: the converter holds the QAT model."""
    if mode is QuantMode.FP32:
        return converter
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode is QuantMode.FP16:
        converter.target_spec.supported_types = [tf.float16]
    elif mode in (QuantMode.INT8, QuantMode.QAT):
        if representative is not None:
            converter.representative_dataset = representative_dataset(representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = _IO_TYPES[config.io_type]
        converter.inference_output_type = _IO_TYPES[config.io_type]
    if not config.per_channel:  # per-tensor weights, for accelerators without per-channel support
        converter._experimental_disable_per_channel = True
    return converter


def layer_errors(converter: Any, representative: np.ndarray, *, top: int = 10) -> list[dict[str, Any]]:
    """The layers of the int8 model whose outputs differ most from float, by TFLite's quantization debugger.

    `converter` is configured for int8 (`configure(..., QuantMode.INT8)`). Metric: RMSE of the quantized tensor
    against its float twin, in units of the tensor's quantization step (rmse / scale): about 0.29 is the ideal
    rounding error of a uniform quantizer; much more means that layer's range or weights quantize badly.
    """
    converter.inference_input_type = tf.float32  # the debugger feeds float data
    converter.inference_output_type = tf.float32
    buffer = io.StringIO()
    with quiet():
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=representative_dataset(representative[: min(len(representative), 32)])
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


def calibrate(converter: Any) -> bytes:
    """The calibrated float model of `converter` (configured for int8): the debugger's first step."""
    converter.experimental_mlir_quantizer = True  # what QuantizationDebugger sets before calibrating
    converter._experimental_calibrate_only = True
    with quiet():
        return converter.convert()


def quantize_calibrated(calibrated: bytes, config: QuantizeConfig, *, keep_float: Callable[[str], bool]) -> bytes:
    """A full-integer model from `calibrate`'s output; every op whose output tensor name `keep_float` accepts
    runs in float (dequantized in, quantized out)."""
    from tensorflow.lite.python.convert import mlir_quantize

    denylisted = [name for name in op_outputs(calibrated) if keep_float(name)]
    io_type = _IO_TYPES[config.io_type]
    with quiet():
        return mlir_quantize(calibrated, disable_per_channel=not config.per_channel, input_data_type=io_type,
                             output_data_type=io_type, denylisted_nodes=denylisted or None)  # fmt: skip


def op_outputs(flatbuffer: bytes) -> list[str]:
    """The output tensor name of every operator of a .tflite flatbuffer, in execution order."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    # no default delegate: XNNPACK would replace the ops by DELEGATE nodes
    interp = Interpreter(model_content=flatbuffer,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)  # fmt: skip
    names = {t["index"]: t["name"] for t in interp.get_tensor_details()}
    return [names[op["outputs"][0]] for op in interp._get_ops_details() if len(op["outputs"])]
