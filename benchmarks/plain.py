"""What a user gets from the plain tools with their documented int8 recipes (for side-by-side benchmarks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plain_tflite_int8(model, images: np.ndarray, path: Path, *, full_integer: bool = False) -> Path:
    """TFLite converter: Optimize.DEFAULT + representative dataset (float I/O), or full-integer int8 I/O."""
    from resnet_edge._tf import quiet, tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([img[None].astype(np.float32)] for img in images)
    if full_integer:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    with quiet():
        path.write_bytes(converter.convert())
    return path


def plain_ort_int8(fp32: Path, images: np.ndarray, path: Path, *, u8s8: bool = False) -> Path:
    """ONNX Runtime quantize_static with its defaults (QDQ, S8S8, per-tensor), or U8S8 per-channel."""
    from onnxruntime.quantization import QuantType, quantize_static

    from resnet_edge._tf import quiet
    from resnet_edge.quantize.onnx import CalibrationReader, input_name

    kwargs = {"activation_type": QuantType.QUInt8, "weight_type": QuantType.QInt8, "per_channel": True} if u8s8 else {}
    with quiet():
        quantize_static(str(fp32), str(path), CalibrationReader(images, input_name(fp32)), **kwargs)
    return path
