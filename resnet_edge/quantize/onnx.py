"""Post-training quantization of an fp32 ONNX file by ONNX Runtime's quantizer: fp16, dynamic, static int8 (QDQ).

Static int8 follows ONNX Runtime's recipe: `quant_pre_process` (shape inference and graph optimization), then
`quantize_static` in QDQ format with per-channel int8 weights and activations calibrated on representative
training images. fp16 keeps float32 inputs and outputs, so the camera code stays the same. A layer kept in float
(the fallback) is ONNX Runtime's `nodes_to_exclude`: named by the nodes of the pre-processed model.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from resnet_edge._tf import quiet
from resnet_edge.config import ActivationType, CalibrationMethod, QuantizeConfig, QuantMode
from resnet_edge.fsutil import atomic_path


class CalibrationReader:
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


def input_name(path: Path) -> str:
    import onnx

    return onnx.load(str(path), load_external_data=False).graph.input[0].name


def preprocessed(fp32: Path, folder: str) -> Path:
    """ONNX Runtime's quantization pre-processing: shape inference and graph optimization (fusions)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = Path(folder) / "pre.onnx"
    with quiet():
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    return pre


def _static(fp32: Path, path: Path, representative: np.ndarray, config: QuantizeConfig,
            keep_float: Callable[[str], bool] | None) -> None:  # fmt: skip
    import onnx
    from onnxruntime.quantization import CalibrationMethod as OrtCal
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    methods = {CalibrationMethod.MINMAX: OrtCal.MinMax, CalibrationMethod.ENTROPY: OrtCal.Entropy,
               CalibrationMethod.PERCENTILE: OrtCal.Percentile}  # fmt: skip
    activation = QuantType.QUInt8 if config.activation_type is ActivationType.UINT8 else QuantType.QInt8
    with tempfile.TemporaryDirectory() as tmp_dir:
        pre = preprocessed(fp32, tmp_dir)
        nodes = onnx.load(str(pre), load_external_data=False).graph.node
        excluded = [n.name for n in nodes if keep_float and keep_float(n.name)]
        with atomic_path(path) as tmp, quiet():
            quantize_static(str(pre), str(tmp), CalibrationReader(representative, input_name(pre)),
                            quant_format=QuantFormat.QDQ, per_channel=config.per_channel,
                            activation_type=activation, weight_type=QuantType.QInt8,
                            reduce_range=config.reduce_range,
                            calibrate_method=methods[config.calibration], nodes_to_exclude=excluded,
                            extra_options={"CalibTensorRangeSymmetric": False})  # fmt: skip


def _dynamic(fp32: Path, path: Path, config: QuantizeConfig) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp_dir, atomic_path(path) as tmp, quiet():
        quantize_dynamic(str(preprocessed(fp32, tmp_dir)), str(tmp), per_channel=config.per_channel,
                         reduce_range=config.reduce_range, weight_type=QuantType.QInt8)  # fmt: skip


def quantize_onnx(
    fp32: Path,
    mode: QuantMode,
    path: Path,
    *,
    representative: np.ndarray | None,
    config: QuantizeConfig,
    keep_float: Callable[[str], bool] | None = None,
) -> Path:
    """Write the `mode` (fp16, dynamic, int8) version of the fp32 ONNX file `fp32` to `path`, atomically; int8 keeps
    the nodes whose names `keep_float` accepts in float."""
    if mode is QuantMode.FP16:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16

        half = convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True)
        with atomic_path(path) as tmp:
            onnx.save(half, str(tmp))
    elif mode is QuantMode.DYNAMIC:
        _dynamic(fp32, path, config)
    elif mode is QuantMode.INT8:
        if representative is None:
            raise ValueError("int8 ONNX needs representative images")
        _static(fp32, path, representative, config, keep_float)
    else:
        raise ValueError(f"ONNX Runtime does not quantize mode {mode.value} (fp32 and qat convert directly)")
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

    name = input_name(Path(fp32))
    with tempfile.TemporaryDirectory() as tmp_dir:
        aug_fp32, aug_qdq = Path(tmp_dir) / "fp32.onnx", Path(tmp_dir) / "qdq.onnx"
        modify_model_output_intermediate_tensors(str(fp32), str(aug_fp32))
        modify_model_output_intermediate_tensors(str(qdq), str(aug_qdq))
        float_acts = collect_activations(str(aug_fp32), CalibrationReader(images, name))
        qdq_acts = collect_activations(str(aug_qdq), CalibrationReader(images, name))
    errors = compute_activation_error(create_activation_matching(qdq_acts, float_acts))
    rows = [{"layer": k, "sqnr_db": float(v["xmodel_err"])} for k, v in errors.items() if "xmodel_err" in v]
    rows = [r for r in rows if np.isfinite(r["sqnr_db"])]
    rows.sort(key=lambda r: r["sqnr_db"])
    return rows[:top]
