from __future__ import annotations

import pytest

from resnet_edge.models import specs
from resnet_edge.models.config import ModelConfig


@pytest.mark.parametrize("depth", list(specs.IMAGENET_DEPTHS))
def test_imagenet_table_depth_is_its_layer_count(depth: int) -> None:
    assert ModelConfig(depth=depth).arch.depth == depth


@pytest.mark.parametrize("depth", [8, 14, 20, 32, 44, 56, 110, 1202])
def test_cifar_v1_rule(depth: int) -> None:
    arch = ModelConfig(depth=depth, variant="cifar", version="v1").arch
    assert arch.depth == depth and arch.blocks == ((depth - 2) // 6,) * 3


@pytest.mark.parametrize("depth", [11, 20, 29, 56, 164])
def test_cifar_v2_rule(depth: int) -> None:
    arch = ModelConfig(depth=depth, variant="cifar", version="v2").arch
    assert arch.depth == depth and arch.blocks == ((depth - 2) // 9,) * 3


@pytest.mark.parametrize("depth", [0, 2, 7, 21])
def test_cifar_n_rejects_what_does_not_fit(depth: int) -> None:
    assert specs.cifar_n(depth, 6) is None
