"""Shared fixtures. Importing resnet_edge sets TF_USE_LEGACY_KERAS before TensorFlow loads."""

from __future__ import annotations

import pytest

from resnet_edge.config import ModelConfig
from resnet_edge.models.resnet import build_resnet


@pytest.fixture(scope="session")
def tiny_resnet():
    """CIFAR ResNet-8 at 32x32: the smallest real network of the zoo, for fast tests."""
    return build_resnet(ModelConfig(depth=8))
