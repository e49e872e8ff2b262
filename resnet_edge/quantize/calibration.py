"""The calibration set: representative training images, stratified by class and seeded."""

from __future__ import annotations

import numpy as np

from resnet_edge.data import Dataset, stratified_split
from resnet_edge.errors import ConfigError


def representative_images(data: Dataset, count: int, seed: int = 0) -> np.ndarray:
    """`count` training images, stratified by class and seeded: the calibration set of every int8 converter."""
    if count < 1 or len(data.x_train) == 0:
        raise ConfigError(
            f"no calibration data: representative count {count}, {len(data.x_train)} training images; "
            "int8 and QAT need >= 1 representative training image"
        )
    if count >= len(data.x_train):
        return data.x_train
    _, idx = stratified_split(data.y_train, count / len(data.x_train), seed)
    return data.x_train[idx[:count]]
