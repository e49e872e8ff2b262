"""Full-integer TFLite by the LiteRT Quantizer (`ai-edge-quantizer`), which supersedes the converter's
post-training quantization: the fp32 .tflite in, an int8 .tflite out.

The recipe is the quantizer's `static_wi8_ai8` (int8 weights and activations, every op it supports), with per-tensor
weights when the config asks for them, calibrated on the same representative images as the converter
(`calibration.representative_images`). Two differences from the converter that show in the numbers:
- calibration: the quantizer keeps a moving average of each tensor's min/max over the images (smoothing 0.95),
  the converter the overall min/max; so ranges are narrower (raw pixels 0-255: input scale 0.85 instead of 1.0 on
  a digits ResNet-8 here, pixels above ~217 clip).
- input and output: the quantizer makes the graph's own input and output tensors int8 (no uint8 tensors); float32
  I/O keeps them float (a QUANTIZE / DEQUANTIZE op at each end).
A layer kept in float (the fallback) is one more recipe entry: `no_quantize` for the op's scope (its output name).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from resnet_edge._tf import quiet
from resnet_edge.config import IoType, QuantizeConfig
from resnet_edge.quantize.tflite import op_outputs

SIGNATURE = "serving_default"  # the converter's name for the one signature of a concrete function


def _recipe(config: QuantizeConfig, float_ops: list[str]) -> list[dict[str, Any]]:
    """`static_wi8_ai8` with the config's weight granularity, then float entries: the last matching entry wins."""
    from ai_edge_quantizer import algorithm_manager, qtyping, recipe_manager

    manager = recipe_manager.RecipeManager()
    granularity = qtyping.QuantGranularity.CHANNELWISE if config.per_channel else qtyping.QuantGranularity.TENSORWISE
    manager.add_static_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                              activation_num_bits=8, weight_num_bits=8, weight_granularity=granularity)  # fmt: skip
    no_quantize = algorithm_manager.AlgorithmName.NO_QUANTIZE
    if config.io_type is IoType.FLOAT32:  # the graph's input and output are virtual ops named INPUT and OUTPUT
        for op in (qtyping.TFLOperationName.INPUT, qtyping.TFLOperationName.OUTPUT):
            manager.add_quantization_config(".*", op, algorithm_key=no_quantize)
    for name in float_ops:  # an op's scope is its output tensor names, each followed by ';'
        manager.add_quantization_config(f"^{re.escape(name)};$", qtyping.TFLOperationName.ALL_SUPPORTED,
                                        algorithm_key=no_quantize)  # fmt: skip
    return manager.get_quantization_recipe()


def calibrate(fp32: bytes, representative: np.ndarray, config: QuantizeConfig) -> dict[str, Any]:
    """Each tensor's range over the representative images (batch 1, float32), by the quantizer's calibrator."""
    from ai_edge_quantizer import quantizer

    qt = quantizer.Quantizer(fp32, _recipe(config, []))
    feeds = [{_input_name(fp32): image[None].astype(np.float32)} for image in representative]
    with quiet():
        return qt.calibrate({SIGNATURE: feeds}, num_threads=os.cpu_count() or 1)


def quantize_litert(
    fp32: bytes, config: QuantizeConfig, *, calibration: dict[str, Any], keep_float: Callable[[str], bool] | None = None
) -> bytes:
    """The int8 flatbuffer of the fp32 one; ops whose output tensor name `keep_float` accepts stay float."""
    from ai_edge_quantizer import quantizer

    float_ops = [name for name in op_outputs(fp32) if keep_float and keep_float(name)]
    qt = quantizer.Quantizer(fp32, _recipe(config, float_ops))
    with quiet():
        result = qt.quantize(calibration, enable_progress_bar=False, enable_progress_report=False)
    return bytes(result.quantized_model)


def _input_name(fp32: bytes) -> str:
    from ai_edge_litert.interpreter import Interpreter

    signature = Interpreter(model_content=fp32).get_signature_list()[SIGNATURE]
    return signature["inputs"][0]
