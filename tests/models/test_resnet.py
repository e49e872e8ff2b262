"""The zoo reproduces published parameter and MAC counts exactly, with deterministic names."""

from __future__ import annotations

import numpy as np
import pytest

from resnet_edge._tf import keras
from resnet_edge.models import specs
from resnet_edge.models.config import ModelConfig
from resnet_edge.models.flops import count_keras
from resnet_edge.models.io import load_keras
from resnet_edge.models.resnet import build_resnet

# torchvision's parameter counts (1000 classes, v1.5 layout; BN gamma/beta only are trainable)
TORCHVISION_PARAMS = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160, 152: 60_192_808}
# MACs at 224x224: He et al. 2015 Table 1 (1.8 / 3.6 / 3.8 / 7.6 / 11.3 G), computed exactly
PAPER_MACS = {
    (18, "v1.5"): 1.814e9,
    (34, "v1.5"): 3.664e9,
    (50, "v1"): 3.858e9,
    (50, "v1.5"): 4.089e9,
    (101, "v1"): 7.6e9,
    (152, "v1"): 11.282e9,
}


@pytest.mark.parametrize("depth", list(specs.IMAGENET_DEPTHS))
def test_imagenet_params_equal_torchvision(depth: int) -> None:
    model = build_resnet(ModelConfig(depth=depth))
    assert count_keras(model).params == TORCHVISION_PARAMS[depth]
    assert model.count_params() - count_keras(model).non_trainable_params == TORCHVISION_PARAMS[depth]


@pytest.mark.parametrize(("depth", "version"), list(PAPER_MACS))
def test_imagenet_macs_match_the_paper(depth: int, version: str) -> None:
    macs = count_keras(build_resnet(ModelConfig(depth=depth, version=version))).macs
    tolerance = 0.01 if depth == 101 else 0.005  # the paper rounds 101 to 7.6 G; the rest are exact to 4 digits
    assert macs == pytest.approx(PAPER_MACS[depth, version], rel=tolerance)


@pytest.mark.parametrize(
    ("depth", "params", "macs"), [(20, 269_722, 40.55e6), (56, 853_018, 125.49e6), (110, 1_727_962, 252.9e6)]
)
def test_cifar_option_a_matches_the_paper(depth: int, params: int, macs: float) -> None:
    count = count_keras(build_resnet(ModelConfig(depth=depth)))
    assert count.params == params
    assert count.macs == pytest.approx(macs, rel=0.005)


@pytest.mark.parametrize("depth", list(specs.IMAGENET_DEPTHS))
def test_every_block_is_addressable_by_name(depth: int) -> None:
    config = ModelConfig(depth=depth, input_size=32, classes=5)
    names = {layer.name for layer in build_resnet(config).layers}
    last_conv = 2 if config.arch.block is specs.BlockKind.BASIC else 3
    for s, stage in enumerate(config.arch.stages, start=1):
        for b in range(1, stage.blocks + 1):
            assert {f"stage{s}_block{b}_conv1", f"stage{s}_block{b}_conv{last_conv}", f"stage{s}_block{b}_add"} <= names
        assert f"stage{s}_block{stage.blocks + 1}_conv1" not in names
    assert {"stem_conv", "head_pool", "head_dense", "head_softmax"} <= names


def test_no_bias_before_batchnorm_and_bn_after_every_conv() -> None:
    model = build_resnet(ModelConfig(depth=50, input_size=32))
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and not any(c.use_bias for c in convs)
    for conv in convs:
        consumers = [n.outbound_layer for n in conv._outbound_nodes]
        assert len(consumers) == 1 and isinstance(consumers[0], keras.layers.BatchNormalization), conv.name


def test_v1_strides_on_first_1x1_and_v1_5_on_3x3() -> None:
    v1 = build_resnet(ModelConfig(depth=50, version="v1", input_size=64))
    v15 = build_resnet(ModelConfig(depth=50, version="v1.5", input_size=64))
    assert v1.get_layer("stage2_block1_conv1").strides == (2, 2)
    assert v1.get_layer("stage2_block1_conv2").strides == (1, 1)
    assert v15.get_layer("stage2_block1_conv1").strides == (1, 1)
    assert v15.get_layer("stage2_block1_conv2").strides == (2, 2)


@pytest.mark.parametrize("config", [ModelConfig(depth=20), ModelConfig(depth=18, input_size=64, classes=4),
                                    ModelConfig(depth=11, version="v2")], ids=str)  # fmt: skip
def test_plain_twin_has_the_same_layers_without_skips(config: ModelConfig) -> None:
    from dataclasses import replace

    res, plain = build_resnet(config), build_resnet(replace(config, plain=True))
    assert not any(isinstance(layer, keras.layers.Add) for layer in plain.layers)
    assert plain.name.startswith("plain")
    main_path = {n for n in (layer.name for layer in res.layers) if "shortcut" not in n and not n.endswith("_add")}
    assert main_path == {layer.name for layer in plain.layers}
    shortcut_params = sum(layer.count_params() for layer in res.layers if "shortcut" in layer.name)
    assert res.count_params() - shortcut_params == plain.count_params()


def test_option_a_has_no_shortcut_parameters_and_b_projects() -> None:
    a = count_keras(build_resnet(ModelConfig(depth=20, shortcut="A")))
    b = count_keras(build_resnet(ModelConfig(depth=20, shortcut="B")))
    assert b.params - a.params == (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)  # two 1x1 projections + their BN


@pytest.mark.parametrize(("size", "channels", "classes"), [(32, 1, 2), (97, 3, 7)])
def test_any_input_size_channels_and_classes(size: int, channels: int, classes: int) -> None:
    model = build_resnet(ModelConfig(depth=18, input_size=size, channels=channels, classes=classes))
    x = np.random.default_rng(0).uniform(0, 1, (2, size, size, channels)).astype("float32")
    y = model.predict(x, verbose=0)
    assert y.shape == (2, classes)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_save_and_reload_give_the_same_outputs(tmp_path, suffix: str) -> None:
    model = build_resnet(ModelConfig(depth=8, version="v1"))  # option A: the custom zero-pad layer round-trips
    path = tmp_path / f"m{suffix}"
    model.save(path)
    x = np.random.default_rng(1).uniform(0, 1, (3, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(load_keras(path).predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_zero_pad_shortcut_is_subsample_and_zero_channels() -> None:
    from resnet_edge.models.blocks import ZeroPadShortcut

    x = np.arange(2 * 4 * 4 * 2, dtype="float32").reshape(2, 4, 4, 2)
    y = ZeroPadShortcut(stride=2, out_channels=6)(x).numpy()
    assert y.shape == (2, 2, 2, 6)
    np.testing.assert_array_equal(y[..., 2:4], x[:, ::2, ::2, :])
    assert not y[..., :2].any() and not y[..., 4:].any()


def test_zero_init_residual_starts_every_block_as_the_identity() -> None:
    from resnet_edge.models.config import ModelConfig
    from resnet_edge.models.resnet import build_resnet

    model = build_resnet(ModelConfig(depth=14, zero_init_residual=True))
    last = [layer for layer in model.layers if layer.name.endswith("_bn2")]
    assert len(last) == 6 and all(not layer.gamma.numpy().any() for layer in last)
    assert model.get_layer("stage1_block1_bn1").gamma.numpy().all()
    plain = build_resnet(ModelConfig(depth=14, plain=True, zero_init_residual=True))
    assert plain.get_layer("stage1_block1_bn2").gamma.numpy().all(), "a plain net keeps its signal"
    bottleneck = build_resnet(ModelConfig(depth=50, input_size=32, classes=5, zero_init_residual=True))
    assert not bottleneck.get_layer("stage4_block3_bn3").gamma.numpy().any()
