"""ImageNet weights from keras.applications' ResNet50/101/152 files, mapped exactly onto the zoo's v1 layout.

keras.applications builds the v1 ResNet of He et al. (stride on the bottleneck's first 1x1) with a bias in
every convolution, BatchNorm epsilon 1.001e-5 and 'caffe' preprocessing (BGR, ImageNet mean subtracted, no
scaling). The zoo has no convolution bias and epsilon 1e-5, and takes raw RGB pixels. So, exactly:
- each convolution's bias b is folded into the BatchNorm after it: BN(Wx + b) = BN'(Wx) with mean' = mean - b;
- the epsilon difference goes into the variance: var' = var + 1.001e-5 - 1e-5;
- the caffe mean becomes the model's preprocessing layer (as RGB) and the stem kernel's input channels are
  reversed, so the model reads RGB where the original read BGR.
The files are read with h5py alone (no Keras deserialization, so nothing in them can run), and nothing is
downloaded: the user gives the file.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from resnet_edge.errors import ModelFileError

# keras.applications' caffe preprocessing subtracts this from BGR pixels; here it is written as RGB
IMAGENET_MEAN_RGB = (123.68, 116.779, 103.939)
SOURCE_BN_EPSILON = 1.001e-5  # keras.applications.resnet's BatchNormalization epsilon
DEPTH_BY_STAGE3_BLOCKS = {6: 50, 23: 101, 36: 152}  # blocks of conv4 (the zoo's stage 3) identify the depth
CACHE_HINT = "~/.keras/models/"  # where keras.applications caches what it downloads


def keras_file_name(depth: int, top: bool = False) -> str:
    """The file name keras.applications downloads for this depth (with or without the classifier)."""
    return f"resnet{depth}_weights_tf_dim_ordering_tf_kernels{'' if top else '_notop'}.h5"


def _missing_file(path: Path, depth: int) -> ModelFileError:
    return ModelFileError(
        f"weights file '{path}' does not exist; give keras.applications' ResNet{depth} weights, "
        f"'{keras_file_name(depth)}' (or '{keras_file_name(depth, top=True)}'), which Keras caches in {CACHE_HINT}"
    )


def read_h5_weights(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """layer name -> {weight kind (kernel, bias, gamma, ...): array} from a Keras 2 HDF5 weights/model file."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            root = f.get("model_weights", f)  # a whole saved model, or weights alone
            layers: dict[str, dict[str, np.ndarray]] = {}
            for name in _attr_names(root, "layer_names"):
                group = root[name]
                layers[name] = {_kind(w): np.asarray(group[w]) for w in _attr_names(group, "weight_names")}
            return layers
    except (OSError, KeyError, ValueError) as exc:  # truncated or not HDF5, or HDF5 without Keras' layout
        first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise ModelFileError(f"weights file '{path}' is not a readable Keras HDF5 weights file: {first}") from None


def _attr_names(group: Any, attr: str) -> list[str]:
    if attr not in group.attrs:
        raise KeyError(f"no '{attr}' attribute")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs[attr]]


def _kind(weight_name: str) -> str:
    """'conv1_conv/kernel:0' -> 'kernel'."""
    return weight_name.rsplit("/", 1)[-1].split(":")[0]


def file_depth(layers: dict[str, dict[str, np.ndarray]], path: Path) -> int:
    """The ResNet depth a keras.applications weights file holds, or a one-line error naming what it holds."""
    stage3 = {int(m.group(1)) for name in layers if (m := re.fullmatch(r"conv4_block(\d+)_1_conv", name))}
    depth = DEPTH_BY_STAGE3_BLOCKS.get(max(stage3, default=0))
    if depth is None or "conv1_conv" not in layers:
        sample = ", ".join(list(layers)[:3]) or "no layers"
        raise ModelFileError(
            f"weights file '{path}' is not keras.applications ResNet50/101/152 weights (expected layers "
            f"conv1_conv, conv2_block1_1_conv, ...; found {sample})"
        )
    return depth


def check_model_config(model_config: Any) -> None:
    """The zoo layout the files map onto: ImageNet v1, projection shortcuts, residual, RGB, unpruned."""
    from resnet_edge.errors import ConfigError
    from resnet_edge.models.config import Shortcut, Variant, Version

    problems = []
    if model_config.variant is not Variant.IMAGENET or model_config.depth not in DEPTH_BY_STAGE3_BLOCKS.values():
        problems.append(f"depth {model_config.depth} {model_config.variant.value} (accepted: ImageNet 50, 101, 152)")
    elif model_config.version is not Version.V1:
        problems.append(f"version {model_config.version.value} (keras.applications is v1: stride on the first 1x1)")
    if model_config.shortcut is not Shortcut.B or model_config.plain or model_config.residual_l1 is not None:
        problems.append("shortcut A, plain or sparsify layers (accepted: projection shortcuts, B)")
    if model_config.channels != 3:
        problems.append(f"{model_config.channels} channel(s) (ImageNet weights read RGB: 3)")
    if model_config.blocks not in (None, model_config.default_blocks) or model_config.shortcut_only:
        problems.append("a pruned layout (load the weights into the full model, then prune)")
    if problems:
        raise ConfigError(f"ImageNet weights do not fit this model: {'; '.join(problems)}")


def _zoo_name(source: str) -> str | None:
    """keras.applications layer name -> zoo layer name (None: a layer without weights or the classifier)."""
    if source in ("conv1_conv", "conv1_bn"):
        return "stem_" + source.split("_")[1]
    m = re.fullmatch(r"conv(\d)_block(\d+)_(\d)_(conv|bn)", source)
    if m is None:
        return "head_dense" if source == "predictions" else None
    stage, block, part, kind = int(m.group(1)) - 1, m.group(2), m.group(3), m.group(4)
    prefix = f"stage{stage}_block{block}"
    return f"{prefix}_shortcut_{kind}" if part == "0" else f"{prefix}_{kind}{part}"


def zoo_weights(layers: dict[str, dict[str, np.ndarray]]) -> dict[str, list[np.ndarray]]:
    """Zoo layer name -> its weights in Keras order, biases folded, epsilon compensated, stem reading RGB."""
    from resnet_edge.models.blocks import BN_EPSILON

    out: dict[str, list[np.ndarray]] = {}
    for source, weights in layers.items():
        target = _zoo_name(source)
        if target is None or not weights:
            continue
        if source.endswith("_conv"):
            kernel = weights["kernel"]
            out[target] = [kernel[:, :, ::-1, :] if source == "conv1_conv" else kernel]  # BGR -> RGB input
        elif source.endswith("_bn"):
            bias = layers[source[: -len("_bn")] + "_conv"].get("bias", 0.0)
            out[target] = [weights["gamma"], weights["beta"], weights["moving_mean"] - bias,
                           weights["moving_variance"] + (SOURCE_BN_EPSILON - BN_EPSILON)]  # fmt: skip
        else:  # the 1000-class classifier
            out[target] = [weights["kernel"], weights["bias"]]
    return out


def imagenet_model_config(path: str | Path, model_config: Any) -> Any:
    """The model config with ImageNet's preprocessing, after the cheap checks (the file exists, the layout fits);
    reading the weights is load_imagenet_weights'."""
    if not Path(path).is_file():
        raise _missing_file(Path(path), model_config.depth)
    check_model_config(model_config)
    return replace(model_config, input_mean=IMAGENET_MEAN_RGB, input_std=(1.0, 1.0, 1.0))


def load_imagenet_weights(path: str | Path, model_config: Any) -> tuple[Any, Any]:
    """(model config with ImageNet preprocessing, the zoo model holding the file's weights).

    A classifier in the file is kept only when the model has its 1000 classes; otherwise the head stays
    freshly initialised, for the task's classes.
    """
    from resnet_edge.models.resnet import build_resnet

    path = Path(path)
    model_config = imagenet_model_config(path, model_config)
    layers = read_h5_weights(path)
    depth = file_depth(layers, path)
    if depth != model_config.depth:
        raise ModelFileError(
            f"weights file '{path}' holds ResNet-{depth} weights; the model is ResNet-{model_config.depth}"
        )
    model = build_resnet(model_config)
    weights = zoo_weights(layers)
    for layer in model.layers:
        if layer.name == "head_dense" and (model_config.classes != 1000 or layer.name not in weights):
            continue  # a new head for the task's classes (or a file without the classifier)
        if layer.get_weights() and layer.name not in weights:
            raise ModelFileError(f"weights file '{path}' has no weights for {layer.name} (a ResNet-{depth} v1 layer)")
        if layer.name in weights:
            expected = [w.shape for w in layer.get_weights()]
            got = [w.shape for w in weights[layer.name]]
            if expected != got:
                raise ModelFileError(f"weights file '{path}': layer {layer.name} has shapes {got}, expected {expected}")
            layer.set_weights(weights[layer.name])
    return model_config, model
