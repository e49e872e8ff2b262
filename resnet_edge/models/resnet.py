"""build_resnet(ModelConfig) -> keras.Model: every ResNet of the depth table, with deterministic names.

Layout: `stem_*`, then `stage{s}_block{b}_*` (s, b from 1), then `head_*`. The classifier ends in a
float32 softmax layer (`head_softmax`) after the logits (`head_dense`), so distillation can read logits
and mixed-precision training keeps a float32 output.
"""

from __future__ import annotations

from resnet_edge._tf import keras, tf
from resnet_edge.models import blocks as B
from resnet_edge.models.config import ModelConfig, Version
from resnet_edge.models.specs import ArchSpec, BlockKind

layers = keras.layers


def _preprocess(x: tf.Tensor, config: ModelConfig) -> tf.Tensor:
    """Raw pixels in, normalized inside the model: an exported model needs no preprocessing code on the camera."""
    if config.input_mean is None and config.input_std is None:
        return x
    mean = config.input_mean or (0.0,) * config.channels
    std = config.input_std or (1.0,) * config.channels
    return layers.Normalization(mean=list(mean), variance=[s * s for s in std], name="preprocess")(x)


def _stem(x: tf.Tensor, arch: ArchSpec) -> tf.Tensor:
    if arch.stem == "imagenet":
        # symmetric padding as in the paper's code, torchvision and keras.applications ("same" would pad 2/3 at
        # even sizes and shift every window by a pixel), so their ImageNet weights give the same function
        x = layers.ZeroPadding2D(3, name="stem_pad")(x)
        x = B.conv(64, 7, 2, "stem_conv", padding="valid")(x)
        x = B.batch_norm("stem_bn")(x)
        x = layers.ReLU(name="stem_relu")(x)
        x = layers.ZeroPadding2D(1, name="stem_pool_pad")(x)  # zeros after a ReLU act as -inf for the max
        return layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    x = B.conv(arch.stages[0].width, 3, 1, "stem_conv")(x)
    x = B.batch_norm("stem_bn")(x)
    return layers.ReLU(name="stem_relu")(x)


def _stages(x: tf.Tensor, arch: ArchSpec, opts: B.BlockOptions) -> tf.Tensor:
    for s, stage in enumerate(arch.stages, start=1):
        for b in range(1, stage.blocks + 1):
            kwargs = {
                "width": stage.width,
                "out_channels": stage.out_channels,
                "stride": stage.stride if b == 1 else 1,
                "name": f"stage{s}_block{b}",
                "opts": opts,
            }
            if b == 1 and stage.shortcut_only:
                del kwargs["width"]
                x = B.shortcut_block(x, relu=arch.block is not BlockKind.PREACT_BOTTLENECK, **kwargs)
            elif arch.block is BlockKind.BASIC:
                x = B.basic_block(x, **kwargs)
            elif arch.block is BlockKind.BOTTLENECK:
                x = B.bottleneck_block(x, **kwargs)
            else:
                x = B.preact_bottleneck_block(x, preactivate=(s, b) != (1, 1), **kwargs)
    return x


def _head(x: tf.Tensor, arch: ArchSpec, classes: int) -> tf.Tensor:
    if arch.block is BlockKind.PREACT_BOTTLENECK:  # pre-activation nets end with the last BN-ReLU
        x = B.batch_norm("head_bn")(x)
        x = layers.ReLU(name="head_relu")(x)
    x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = layers.Dense(classes, name="head_dense")(x)
    return layers.Activation("softmax", dtype="float32", name="head_softmax")(x)


def build_resnet(config: ModelConfig) -> keras.Model:
    """The untrained ResNet (or its plain twin) that `config` describes."""
    arch = config.arch
    opts = B.BlockOptions(
        shortcut=config.shortcut,
        plain=config.plain,
        stride_on_3x3=config.version is Version.V1_5,
        residual_l1=config.residual_l1,
        zero_init_residual=config.zero_init_residual,
    )
    inputs = keras.Input((config.input_size, config.input_size, config.channels), name="image")
    x = _preprocess(inputs, config)
    x = _stem(x, arch)
    x = _stages(x, arch, opts)
    outputs = _head(x, arch, config.classes)
    return keras.Model(inputs, outputs, name=config.name)


def keras_accuracy(model: keras.Model, x, y, batch_size: int = 256) -> float:
    """Top-1 accuracy in % of a Keras model on raw images `x` with integer labels `y`."""
    from resnet_edge.metrics import accuracy

    return accuracy(model.predict(x.astype("float32"), batch_size=batch_size, verbose=0), y)


def copy_weights_by_name(src: keras.Model, dst: keras.Model) -> int:
    """Copy weights by layer name where the shapes agree (a pruned model keeps its survivors' names)."""
    copied = 0
    for layer in dst.layers:
        try:
            weights = src.get_layer(layer.name).get_weights()
        except ValueError:
            continue
        if weights and [w.shape for w in weights] == [w.shape for w in layer.get_weights()]:
            layer.set_weights(weights)
            copied += 1
    return copied


def at_input_size(model: keras.Model, config: ModelConfig, size: int) -> keras.Model:
    """The same network at another input size, its weights copied (convolutions do not depend on the size):
    for latency at a deploy size, not for accuracy, since the model was trained at its own size."""
    if size == config.input_size:
        return model
    from dataclasses import replace

    resized = build_resnet(replace(config, input_size=size))
    copy_weights_by_name(model, resized)
    return resized
