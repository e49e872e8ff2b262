from __future__ import annotations

import pytest

from resnet_edge.errors import ConfigError
from resnet_edge.models.config import ModelConfig, Shortcut, Variant, Version


@pytest.mark.parametrize("depth", [18, 34, 50, 101, 152])
def test_imagenet_depths_default_to_imagenet_v1_5(depth: int) -> None:
    c = ModelConfig(depth=depth)
    assert (c.variant, c.version, c.shortcut, c.input_size, c.classes) == (
        Variant.IMAGENET,
        Version.V1_5,
        Shortcut.B,
        224,
        1000,
    )


CIFAR_DEFAULTS = [(20, Version.V1, Shortcut.A), (110, Version.V1, Shortcut.A), (29, Version.V2, Shortcut.B),
                  (11, Version.V2, Shortcut.B)]  # fmt: skip


@pytest.mark.parametrize(("depth", "version", "shortcut"), CIFAR_DEFAULTS)
def test_cifar_depths_are_inferred(depth: int, version: Version, shortcut: Shortcut) -> None:
    c = ModelConfig(depth=depth)
    assert (c.variant, c.version, c.shortcut, c.input_size, c.classes) == (Variant.CIFAR, version, shortcut, 32, 10)


def test_strings_are_accepted_case_insensitively() -> None:
    c = ModelConfig(depth=50, variant="CIFAR", version="v1", shortcut="b")
    assert (c.variant, c.version, c.shortcut) == (Variant.CIFAR, Version.V1, Shortcut.B)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"depth": 51}, "depth 51 is not supported"),
        ({"depth": 21, "variant": "cifar"}, "depth 21 is not a CIFAR ResNet"),
        ({"depth": 20, "variant": "imagenet"}, "depth 20 is not an ImageNet ResNet"),
        ({"depth": 20, "version": "v1.5"}, "'v1.5' is ImageNet-only"),
        ({"depth": 50, "version": "v2"}, "'v2' is CIFAR-only"),
        ({"depth": 14, "version": "v2"}, "does not fit CIFAR v2"),
        ({"depth": 20, "variant": "resnext"}, "variant 'resnext' is not accepted"),
        ({"depth": 20, "input_size": 16}, "input size 16 is too small"),
        ({"depth": 20, "classes": 1}, "classes 1"),
        ({"depth": 20, "channels": 2}, "channels 2"),
        ({"depth": 20, "blocks": (3, 3)}, "blocks [3, 3] do not fit a 3-stage network"),
        ({"depth": 20, "blocks": (3, -1, 3)}, "each >= 0"),
    ],
)
def test_bad_values_name_what_was_received(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        ModelConfig(**kwargs)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_blocks_override_gives_shallower_name() -> None:
    c = ModelConfig(depth=56, blocks=(9, 5, 2))
    assert c.arch.blocks == (9, 5, 2) and c.arch.depth == 2 * 16 + 2
    assert c.name == "resnet34"
    assert c.to_dict()["blocks"] == [9, 5, 2]
