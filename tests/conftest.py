"""Shared fixtures. Importing resnet_edge sets TF_USE_LEGACY_KERAS before TensorFlow loads."""

from __future__ import annotations

import math

import numpy as np
import pytest

from resnet_edge._tf import keras, tf

# Two logical CPU devices, so MirroredStrategy is tested on a machine without GPUs. This must happen
# before TensorFlow creates its first tensor.
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from resnet_edge.models.config import ModelConfig  # noqa: E402
from resnet_edge.models.resnet import build_resnet  # noqa: E402


@pytest.fixture(scope="session")
def tiny_resnet():
    """CIFAR ResNet-8 at 32x32: the smallest real network of the zoo, for fast tests."""
    return build_resnet(ModelConfig(depth=8))


@pytest.fixture(scope="session")
def tiny_data():
    """60 training / 15 validation images of the built-in inspection set at 32x32."""
    from resnet_edge.data import load_data
    from resnet_edge.data.config import DataConfig

    return load_data(DataConfig(per_class=15), size=32, channels=3)


@pytest.fixture(scope="session")
def digits(tmp_path_factory):
    """scikit-learn's bundled handwritten digits (1797 real 8x8 images, 10 classes) as a 32x32 grayscale data set,
    read through the image-folder loader: real data that a small network learns in a few epochs."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    from resnet_edge.data import load_data
    from resnet_edge.data.config import DataConfig

    root = tmp_path_factory.mktemp("digits")
    data = load_digits()
    for i, (img, label) in enumerate(zip(data.images, data.target, strict=True)):
        (root / str(label)).mkdir(exist_ok=True)
        Image.fromarray((img * 255 / 16).astype(np.uint8)).save(root / str(label) / f"{i:04d}.png")
    return load_data(DataConfig(source=f"folder:{root}"), size=32, channels=1)


@pytest.fixture(scope="session")
def learned_digits(digits):
    """(model, config): ResNet-8 fitted 8 epochs on sklearn's digits without augmentation (1150 training images,
    about 8 s): about 98 % on the 287 validation images, where one disagreement is 0.35 %, so 97 % agreement and a
    1-point drop are 8.6 and 2.9 images. Shared by the int8 and QAT numerics tests."""
    mean, std = digits.channel_stats()
    config = ModelConfig(depth=8, input_size=32, channels=1, classes=digits.num_classes, input_mean=mean, input_std=std)
    keras.utils.set_random_seed(0)
    model = build_resnet(config)
    epochs, batch = 8, 32
    schedule = keras.optimizers.schedules.CosineDecay(3e-3, epochs * math.ceil(len(digits.x_train) / batch))
    model.compile(keras.optimizers.Adam(schedule), "sparse_categorical_crossentropy")
    model.fit(digits.x_train.astype(np.float32), digits.y_train, epochs=epochs, batch_size=batch, verbose=0)
    return model, config
