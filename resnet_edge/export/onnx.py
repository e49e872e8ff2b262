"""ONNX through tf2onnx, then ONNX Runtime's quantizer: fp32, fp16, dynamic, static int8 (QDQ) and QAT.

The ONNX models keep a free batch dimension and NHWC float input named `image` (raw pixels, normalization
inside), so the same camera code feeds the TFLite and the ONNX artifact. Static int8 follows ONNX Runtime's
recipe: `quant_pre_process` (shape inference and graph optimization), then `quantize_static` in QDQ format
with per-channel int8 weights and activations calibrated on representative training images.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from resnet_edge._tf import keras, quiet, tf
from resnet_edge.config import ActivationType, CalibrationMethod, QuantizeConfig, QuantMode
from resnet_edge.fsutil import atomic_path


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


class _Reader:
    """ONNX Runtime calibration reader over representative images, one batch of 1 at a time."""

    def __init__(self, images: np.ndarray, input_name: str) -> None:
        self._feeds = [{input_name: image[None].astype(np.float32)} for image in images]
        self._items = iter(self._feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)

    def rewind(self) -> None:
        self._items = iter(self._feeds)

    def __iter__(self):  # the QDQ debugger iterates the reader
        return iter(self._feeds)


def _input_name(path: Path) -> str:
    import onnx

    return onnx.load(str(path), load_external_data=False).graph.input[0].name


def _preprocessed(fp32: Path, folder: str) -> Path:
    """ONNX Runtime's quantization pre-processing: shape inference and graph optimization (fusions)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = Path(folder) / "pre.onnx"
    with quiet():
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    return pre


def _static(fp32: Path, path: Path, representative: np.ndarray, config: QuantizeConfig) -> None:
    from onnxruntime.quantization import CalibrationMethod as OrtCal
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    methods = {CalibrationMethod.MINMAX: OrtCal.MinMax, CalibrationMethod.ENTROPY: OrtCal.Entropy,
               CalibrationMethod.PERCENTILE: OrtCal.Percentile}  # fmt: skip
    activation = QuantType.QUInt8 if config.activation_type is ActivationType.UINT8 else QuantType.QInt8
    with tempfile.TemporaryDirectory() as tmp_dir:
        pre = _preprocessed(fp32, tmp_dir)
        with atomic_path(path) as tmp, quiet():
            quantize_static(str(pre), str(tmp), _Reader(representative, _input_name(pre)),
                            quant_format=QuantFormat.QDQ, per_channel=config.per_channel,
                            activation_type=activation, weight_type=QuantType.QInt8,
                            reduce_range=config.reduce_range,
                            calibrate_method=methods[config.calibration],
                            extra_options={"CalibTensorRangeSymmetric": False})  # fmt: skip


def _dynamic(fp32: Path, path: Path, config: QuantizeConfig) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp_dir, atomic_path(path) as tmp, quiet():
        quantize_dynamic(str(_preprocessed(fp32, tmp_dir)), str(tmp), per_channel=config.per_channel,
                         reduce_range=config.reduce_range, weight_type=QuantType.QInt8)  # fmt: skip


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
        if mode is QuantMode.FP16:
            import onnx
            from onnxruntime.transformers.float16 import convert_float_to_float16

            # float16 inside, float32 at the edges: the camera code stays the same
            half = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
            return _save(half, path)
        if mode is QuantMode.DYNAMIC:
            _dynamic(source, path, config)
        else:
            if representative is None:
                raise ValueError("int8 ONNX needs representative images")
            _static(source, path, representative, config)
    return path


def layer_errors(fp32: str | Path, qdq: str | Path, images: np.ndarray, *, top: int = 10) -> list[dict[str, Any]]:
    """The activations of the QDQ model that differ most from the float model's (ONNX Runtime's QDQ debugger).

    Metric: signal-to-quantization-noise ratio in dB of each tensor against its float twin (lower is worse).
    """
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations,
        compute_activation_error,
        create_activation_matching,
        modify_model_output_intermediate_tensors,
    )

    name = _input_name(Path(fp32))
    with tempfile.TemporaryDirectory() as tmp_dir:
        aug_fp32, aug_qdq = Path(tmp_dir) / "fp32.onnx", Path(tmp_dir) / "qdq.onnx"
        modify_model_output_intermediate_tensors(str(fp32), str(aug_fp32))
        modify_model_output_intermediate_tensors(str(qdq), str(aug_qdq))
        float_acts = collect_activations(str(aug_fp32), _Reader(images, name))
        qdq_acts = collect_activations(str(aug_qdq), _Reader(images, name))
    errors = compute_activation_error(create_activation_matching(qdq_acts, float_acts))
    rows = [{"layer": k, "sqnr_db": float(v["xmodel_err"])} for k, v in errors.items() if "xmodel_err" in v]
    rows = [r for r in rows if np.isfinite(r["sqnr_db"])]
    rows.sort(key=lambda r: r["sqnr_db"])
    return rows[:top]
