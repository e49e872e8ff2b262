"""The quantize stage: quantization-aware training here, post-training quantization for each runtime.

- `quantize(model, config=, data=, out=) -> QuantizeResult`: quantization-aware fine-tuning with tfmot
  (`qat.py`), optionally prune-preserving; the result converts to a full-integer model.
- `calibration.representative_images`: the calibration set every int8 path uses.
- `tflite.configure`: the TFLite converter's settings for fp16, dynamic-range, int8 and QAT models, and
  `tflite.layer_errors` (TFLite's quantization debugger).
- `onnx.quantize_onnx`: ONNX Runtime's fp16, dynamic and static (QDQ) quantization of an fp32 ONNX file, and
  `onnx.layer_errors` (ONNX Runtime's QDQ debugger).
- `litert.quantize_litert`: full-integer TFLite by the LiteRT Quantizer (`ai-edge-quantizer`) from the fp32 file.
- `layers`: which layer an int8 model loses most in, named by its Keras name (what the float fallback keeps float).

The export stage calls these to write each artifact; nothing here writes an artifact on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from resnet_edge._tf import keras, quiet
from resnet_edge.config import QuantizeConfig
from resnet_edge.console import console
from resnet_edge.data import Dataset
from resnet_edge.fsutil import atomic_path
from resnet_edge.models.resnet import keras_accuracy
from resnet_edge.quantize.calibration import representative_images
from resnet_edge.quantize.qat import calibrate_ranges, fit, prune_weights, qat_model, qat_sparsity

QAT_MODEL = "qat.h5"  # a QAT model does not reload from `.keras`


@dataclass(frozen=True)
class QuantizeResult:
    model: keras.Model  # the QAT model (fake-quantized); convert it with export_tflite(..., QuantMode.QAT)
    model_path: Path  # qat.h5
    float_accuracy: float  # % on the validation data, before
    qat_accuracy: float  # % after QAT fine-tuning (fake-quantized forward pass)
    weight_sparsity: float | None  # fraction of zero conv/dense weights reached, when pruning was asked for


def quantize(model: keras.Model, *, config: QuantizeConfig, data: Dataset, out: str | Path) -> QuantizeResult:
    """Quantization-aware fine-tuning of a float model (untouched); writes `out/qat.h5`."""
    out = Path(out)
    float_acc = keras_accuracy(model, data.x_val, data.y_val)
    reached = None
    source = model
    if config.weight_sparsity:
        console.print(f"pruning weights to {config.weight_sparsity:.0%} sparsity ({config.qat_epochs} epochs)")
        source, reached = prune_weights(model, data, config)
        console.print(f"weight sparsity reached {reached:.1%}")
    console.print(f"quantization-aware fine-tuning ({config.qat_epochs} epochs, lr {config.qat_lr:g})")
    q = qat_model(source, preserve_sparsity=bool(config.weight_sparsity))
    calibrate_ranges(q, source, representative_images(data, config.representative_count, config.seed))
    fit(q, data, config, [])
    if config.weight_sparsity:
        reached = qat_sparsity(q)
    path = out / QAT_MODEL
    with atomic_path(path) as tmp, quiet():  # quiet: Keras warns that .h5 is a legacy format
        q.save(tmp, include_optimizer=False)
    return QuantizeResult(q, path, float_acc, keras_accuracy(q, data.x_val, data.y_val), reached)
