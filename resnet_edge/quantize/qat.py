"""Quantization-aware training with tfmot: fake quantization, calibrated ranges, prune-preserving QAT.

QAT inserts fake-quantization around the layers TFLite fuses (conv + BN + ReLU, add, dense), fine-tunes
so the weights adapt to int8, and hands back a Keras model that converts to a full-integer TFLite model.
Optionally the weights are first magnitude-pruned to a target sparsity and QAT then preserves the zeros
(prune-preserving QAT, tfmot's collaborative optimization), and the sparsity reached is reported.

Traps: tfmot needs tf_keras; `prune_low_magnitude` wraps the layer objects it is given, so
every wrapper here wraps a fresh copy of the layer; a QAT model does not reload from `.keras`, so it is
saved as `.h5`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from resnet_edge._tf import keras
from resnet_edge.config import QuantizeConfig
from resnet_edge.data import Dataset
from resnet_edge.data.pipeline import train_dataset
from resnet_edge.models.blocks import ResidualScale, ZeroPadShortcut

# Layers tfmot's default 8-bit scheme knows; others (the preprocessing Normalization, the zero-pad shortcut)
# stay float in the Keras graph and are quantized by the TFLite converter from the calibrated ranges.
_QUANTIZABLE = (
    keras.layers.Conv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.BatchNormalization,
    keras.layers.ReLU,
    keras.layers.Add,
    keras.layers.Dense,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.MaxPooling2D,
)
_PRUNABLE = (keras.layers.Conv2D, keras.layers.Dense)
CUSTOM_OBJECTS = {"ZeroPadShortcut": ZeroPadShortcut, "ResidualScale": ResidualScale}


@functools.cache
def _no_op_config() -> type:
    """A tfmot QuantizeConfig that quantizes nothing, for layers the 8-bit scheme does not know."""
    import tensorflow_model_optimization as tfmot

    class NoOpQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
        def get_weights_and_quantizers(self, layer):
            return []

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            pass

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            return []

        def get_config(self):
            return {}

    return NoOpQuantizeConfig


@contextlib.contextmanager
def tfmot_scope() -> Iterator[None]:
    """tfmot's quantize scope with this toolkit's custom layers known (to clone, load and convert QAT models)."""
    import tensorflow_model_optimization as tfmot

    with tfmot.quantization.keras.quantize_scope({**CUSTOM_OBJECTS, "NoOpQuantizeConfig": _no_op_config()}):
        yield


def _fresh(layer: keras.layers.Layer) -> keras.layers.Layer:
    return layer.__class__.from_config(layer.get_config())


def _clone(model: keras.Model, wrap) -> keras.Model:
    """A copy of `model` whose layers are fresh objects, those of the wanted kinds wrapped by `wrap`."""
    with keras.utils.custom_object_scope(CUSTOM_OBJECTS):
        clone = keras.models.clone_model(model, clone_function=lambda layer: wrap(_fresh(layer)))
    for layer, copy in zip(model.layers, clone.layers, strict=True):  # clone_model keeps the layer order
        if layer.weights:
            getattr(copy, "layer", copy).set_weights(layer.get_weights())  # a wrapper holds the layer inside
    return clone


def fit(model: keras.Model, data: Dataset, config: QuantizeConfig, callbacks: list) -> None:
    ds = train_dataset(data.x_train, data.y_train, num_classes=data.num_classes, batch_size=config.batch_size,
                       seed=config.seed, augment=config.augment)  # fmt: skip
    steps = len(ds) * config.qat_epochs
    schedule = keras.optimizers.schedules.CosineDecay(config.qat_lr, max(steps, 1))
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9), loss="categorical_crossentropy")
    model.fit(ds, epochs=config.qat_epochs, callbacks=callbacks, verbose=0)


def prune_weights(model: keras.Model, data: Dataset, config: QuantizeConfig) -> tuple[keras.Model, float]:
    """Magnitude-prune conv and dense weights to `config.weight_sparsity` while fine-tuning; (model, reached)."""
    import tensorflow_model_optimization as tfmot

    sparsity = tfmot.sparsity.keras
    steps = -(-len(data.x_train) // config.batch_size) * config.qat_epochs
    # prune at 10 points of the run: the default frequency (100 steps) never prunes a short fine-tuning
    schedule = sparsity.PolynomialDecay(0.0, config.weight_sparsity, begin_step=0, end_step=max(1, int(steps * 0.8)),
                                        frequency=max(1, steps // 10))  # fmt: skip

    def wrap(layer: keras.layers.Layer) -> keras.layers.Layer:
        return sparsity.prune_low_magnitude(layer, pruning_schedule=schedule) if isinstance(layer, _PRUNABLE) else layer

    pruned = _clone(model, wrap)
    fit(pruned, data, config, [sparsity.UpdatePruningStep()])
    # strip_pruning reuses the unwrapped layers (two graphs share them): a fresh clone has one graph
    stripped = _clone(sparsity.strip_pruning(pruned), lambda layer: layer)
    return stripped, weight_sparsity(stripped)


def weight_sparsity(model: keras.Model) -> float:
    """Fraction of exactly-zero weights over every conv and dense kernel."""
    kernels = [layer.kernel.numpy() for layer in model.layers if isinstance(layer, _PRUNABLE)]
    total = sum(k.size for k in kernels)
    return float(sum(int((k == 0).sum()) for k in kernels) / max(total, 1))


def qat_model(model: keras.Model, *, preserve_sparsity: bool = False) -> keras.Model:
    """`model` with fake quantization (tfmot default 8-bit scheme) on every layer the scheme supports."""
    import tensorflow_model_optimization as tfmot

    qk = tfmot.quantization.keras

    def wrap(layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, keras.layers.BatchNormalization):
            # frozen statistics: with batch statistics under fake quantization ResNet-20 fell from 97.5 % to
            # 90 % in one epoch here; frozen, it stays within a point (the usual QAT recipe freezes BN)
            layer.trainable = False
        if isinstance(layer, _QUANTIZABLE):
            return qk.quantize_annotate_layer(layer)
        if preserve_sparsity and not isinstance(layer, keras.layers.InputLayer):
            # the prune-preserving registry claims to support every layer, then fails on unknown ones
            # (Normalization, the zero-pad shortcut): annotate them explicitly as not quantized
            return qk.quantize_annotate_layer(layer, quantize_config=_no_op_config()())
        return layer

    annotated = _clone(model, wrap)
    scheme = None
    if preserve_sparsity:
        scheme = tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
    with tfmot_scope():
        return qk.quantize_apply(annotated, scheme) if scheme else qk.quantize_apply(annotated)


def calibrate_ranges(qat: keras.Model, model: keras.Model, images: np.ndarray) -> int:
    """Start every activation range of `qat` at the float model's min/max on `images`; returns how many.

    tfmot starts each range at [-6, 6] and moves it with an EMA of decay 0.999, so a fine-tuning of a few
    hundred steps keeps ranges near [-6, 6] and clips larger activations: ResNet-20 lost 3.7 points under
    fake quantization before any weight changed. Calibrated starts remove that (as post-training int8 does).
    """
    targets = {}
    for layer in qat.layers:
        if not layer.name.startswith("quant_"):
            continue
        for w in layer.weights:
            kind = w.name.rsplit("/", 1)[-1].split(":")[0]
            if kind in ("output_min", "output_max", "post_activation_min", "post_activation_max"):
                targets.setdefault(layer.name.removeprefix("quant_"), []).append((kind.endswith("min"), w))
    names = [n for n in targets if n in {layer.name for layer in model.layers}]
    if not names:
        return 0
    probe = keras.Model(model.input, [model.get_layer(n).output for n in names])
    outputs = probe.predict(images.astype(np.float32), batch_size=64, verbose=0)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    for name, out in zip(names, outputs, strict=True):
        for is_min, var in targets[name]:
            var.assign(np.full(var.shape, min(0.0, float(out.min())) if is_min else max(0.0, float(out.max()))))
    return len(names)


def qat_sparsity(model: keras.Model) -> float:
    """Sparsity of the kernels inside a QAT model's wrappers (what the int8 converter will see)."""
    kernels = [w.numpy() for w in model.weights if w.name.endswith("kernel:0")]
    total = sum(k.size for k in kernels)
    return float(sum(int((k == 0).sum()) for k in kernels) / max(total, 1))


def load_qat(path: str | Path) -> keras.Model:
    """A QAT model saved by `quantize` (`.h5`: the `.keras` format does not reload QAT models)."""
    with tfmot_scope():
        return keras.models.load_model(path, compile=False)
