"""ONNX through tf2onnx: fp32 and QAT (fake-quant ops become QDQ pairs) directly; fp16, dynamic and int8 from
the fp32 file by ONNX Runtime's quantizer (`resnet_edge.quantize.onnx`).

The ONNX models keep a free batch dimension and NHWC float input named `image` (raw pixels, normalization
inside), so the same camera code feeds the TFLite and the ONNX artifact.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from resnet_edge._tf import keras, quiet, tf
from resnet_edge.config import QuantizeConfig, QuantMode
from resnet_edge.fsutil import atomic_path
from resnet_edge.quantize.onnx import quantize_onnx


def _save(model: Any, path: Path) -> Path:
    import onnx

    with atomic_path(path) as tmp:
        onnx.save(model, str(tmp))
    return path


def to_onnx_model(model: keras.Model, opset: int) -> Any:
    """The ModelProto of a tf_keras model (float, or fake-quantized QAT which becomes QDQ)."""
    import tf2onnx

    spec = (tf.TensorSpec([None, *model.input_shape[1:]], tf.float32, name="image"),)
    with quiet():
        proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset)
    return proto


def export_onnx(
    model: keras.Model,
    mode: QuantMode,
    path: str | Path,
    *,
    opset: int = 17,
    fp32_path: str | Path | None = None,
    representative: np.ndarray | None = None,
    config: QuantizeConfig | None = None,
) -> Path:
    """Write the ONNX artifact of `mode` atomically. Quantized modes start from `fp32_path` when given.

    QAT: `model` is the fake-quantized Keras model; tf2onnx turns its fake-quant ops into QDQ pairs.
    """
    config = config or QuantizeConfig()
    path = Path(path)
    if mode in (QuantMode.FP32, QuantMode.QAT):
        return _save(to_onnx_model(model, opset), path)
    with tempfile.TemporaryDirectory() as tmp_dir:
        source = Path(fp32_path) if fp32_path else _save(to_onnx_model(model, opset), Path(tmp_dir) / "fp32.onnx")
        return quantize_onnx(source, mode, path, representative=representative, config=config)
