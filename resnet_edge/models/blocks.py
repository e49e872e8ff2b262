"""Residual blocks: basic, bottleneck (v1 / v1.5) and pre-activation bottleneck, with shortcut option A or B.

Every layer gets a deterministic name `stage{s}_block{b}_{part}` so later stages (pruning, per-block
counting, per-layer error reports) can address a block by name. Convolutions that a BatchNorm follows
have no bias; BatchNorm momentum is 0.9 because 0.99 lags too far behind on small data sets.
"""

from __future__ import annotations

from dataclasses import dataclass

from resnet_edge._tf import keras, tf
from resnet_edge.models.config import Shortcut

layers = keras.layers

BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5  # torchvision's value, so ported weights give the same outputs


@dataclass(frozen=True)
class BlockOptions:
    shortcut: Shortcut
    plain: bool  # no skip connection at all: the degradation-study twin
    stride_on_3x3: bool  # v1.5 bottleneck (torchvision) instead of v1 (paper)
    residual_l1: float | None = None  # a learnable scale on every residual branch, with this L1 penalty
    # the residual branch's last BN starts with gamma = 0, so every block starts as the identity (Goyal et al.
    # 2017, for large-batch ImageNet). Off by default: a ResNet-20 on 2000 inspection images stayed at chance
    # for 8 epochs with it, and learned from epoch 3 without it.
    zero_init_residual: bool = False


@keras.saving.register_keras_serializable(package="resnet_edge")
class ZeroPadShortcut(layers.Layer):
    """Shortcut option A (He et al. 2015): subsample by `stride`, zero-pad the new channels. No parameters."""

    def __init__(self, stride: int, out_channels: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.stride = stride
        self.out_channels = out_channels

    def call(self, x: tf.Tensor) -> tf.Tensor:
        if self.stride > 1:
            x = x[:, :: self.stride, :: self.stride, :]
        extra = self.out_channels - x.shape[-1]
        if extra > 0:  # split the zeros over both sides, as the widely used CIFAR reference code does
            x = tf.pad(x, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])
        return x

    def compute_output_shape(self, input_shape: tf.TensorShape) -> tf.TensorShape:
        n, h, w, _ = tf.TensorShape(input_shape).as_list()
        s = self.stride
        h = None if h is None else -(-h // s)
        w = None if w is None else -(-w // s)
        return tf.TensorShape([n, h, w, self.out_channels])

    def get_config(self) -> dict[str, object]:
        return {**super().get_config(), "stride": self.stride, "out_channels": self.out_channels}


@keras.saving.register_keras_serializable(package="resnet_edge")
class ResidualScale(layers.Layer):
    """A learnable scalar on a residual branch, F(x) -> s F(x), with an L1 penalty on s (Sparse Structure
    Selection, Huang & Wang 2018): training drives the scales of blocks that do little towards 0, so
    their blocks become removable. `prune.fold_residual_scales` folds s into the branch's last layer."""

    def __init__(self, l1: float = 0.0, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.l1 = l1

    def build(self, input_shape: tf.TensorShape) -> None:
        regularizer = keras.regularizers.L1(self.l1) if self.l1 else None
        self.scale = self.add_weight(name="scale", shape=(), initializer="ones", regularizer=regularizer)
        super().build(input_shape)

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return x * tf.cast(self.scale, x.dtype)

    def get_config(self) -> dict[str, object]:
        return {**super().get_config(), "l1": self.l1}


def conv(filters: int, kernel: int, stride: int, name: str, padding: str = "same") -> keras.layers.Layer:
    # weight decay is the optimizer's (train.py), so a saved model carries no regularizer
    return layers.Conv2D(
        filters, kernel, strides=stride, padding=padding, use_bias=False, kernel_initializer="he_normal", name=name
    )


def batch_norm(name: str, zero_gamma: bool = False) -> keras.layers.Layer:
    gamma = "zeros" if zero_gamma else "ones"
    return layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, gamma_initializer=gamma, name=name)


def _shortcut(x: tf.Tensor, out_channels: int, stride: int, name: str, opts: BlockOptions) -> tf.Tensor:
    if stride == 1 and x.shape[-1] == out_channels:
        return x
    if opts.shortcut is Shortcut.A:
        return ZeroPadShortcut(stride, out_channels, name=f"{name}_shortcut_pad")(x)
    y = conv(out_channels, 1, stride, f"{name}_shortcut_conv")(x)
    return batch_norm(f"{name}_shortcut_bn")(y)


def _merge(
    x: tf.Tensor, residual: tf.Tensor, out_channels: int, stride: int, name: str, opts: BlockOptions
) -> tf.Tensor:
    """H(x) = F(x) + shortcut(x); a plain block keeps F(x) alone."""
    if opts.plain:
        return residual
    if opts.residual_l1 is not None:
        residual = ResidualScale(opts.residual_l1, name=f"{name}_scale")(residual)
    return layers.Add(name=f"{name}_add")([_shortcut(x, out_channels, stride, name, opts), residual])


def shortcut_block(
    x: tf.Tensor, *, out_channels: int, stride: int, name: str, opts: BlockOptions, relu: bool
) -> tf.Tensor:
    """A down-sampling block whose residual branch was pruned: H(x) = shortcut(x) (then ReLU for v1 blocks)."""
    y = _shortcut(x, out_channels, stride, name, opts)
    return layers.ReLU(name=f"{name}_out")(y) if relu else y


def _conv_bn(
    x: tf.Tensor, filters: int, kernel: int, stride: int, name: str, i: int, relu: bool, zero_gamma: bool = False
) -> tf.Tensor:
    """`{name}_conv{i}` -> `{name}_bn{i}` (-> `{name}_relu{i}`): the unit every block is made of."""
    y = conv(filters, kernel, stride, f"{name}_conv{i}")(x)
    y = batch_norm(f"{name}_bn{i}", zero_gamma)(y)
    return layers.ReLU(name=f"{name}_relu{i}")(y) if relu else y


def _zero_last(opts: BlockOptions) -> bool:
    return opts.zero_init_residual and not opts.plain  # a plain block has no identity path to start from


def basic_block(
    x: tf.Tensor, *, width: int, out_channels: int, stride: int, name: str, opts: BlockOptions
) -> tf.Tensor:
    y = _conv_bn(x, width, 3, stride, name, 1, relu=True)
    y = _conv_bn(y, out_channels, 3, 1, name, 2, relu=False, zero_gamma=_zero_last(opts))
    y = _merge(x, y, out_channels, stride, name, opts)
    return layers.ReLU(name=f"{name}_out")(y)


def bottleneck_block(
    x: tf.Tensor, *, width: int, out_channels: int, stride: int, name: str, opts: BlockOptions
) -> tf.Tensor:
    stride1, stride3 = (1, stride) if opts.stride_on_3x3 else (stride, 1)
    y = _conv_bn(x, width, 1, stride1, name, 1, relu=True)
    y = _conv_bn(y, width, 3, stride3, name, 2, relu=True)
    y = _conv_bn(y, out_channels, 1, 1, name, 3, relu=False, zero_gamma=_zero_last(opts))
    y = _merge(x, y, out_channels, stride, name, opts)
    return layers.ReLU(name=f"{name}_out")(y)


def preact_bottleneck_block(
    x: tf.Tensor,
    *,
    width: int,
    out_channels: int,
    stride: int,
    name: str,
    opts: BlockOptions,
    preactivate: bool = True,
) -> tf.Tensor:
    """BN-ReLU before each conv (He et al. 2016, "Identity mappings"); the block output is the sum itself.

    The network's first block skips its own pre-activation because the stem already ends in BN-ReLU
    (as in the Keras CIFAR-10 example's v2).
    """
    y = x
    if preactivate:
        y = batch_norm(f"{name}_preact_bn")(y)
        y = layers.ReLU(name=f"{name}_preact_relu")(y)
    y = _conv_bn(y, width, 1, stride, name, 1, relu=True)
    y = _conv_bn(y, width, 3, 1, name, 2, relu=True)
    y = conv(out_channels, 1, 1, f"{name}_conv3")(y)
    return _merge(x, y, out_channels, stride, name, opts)
