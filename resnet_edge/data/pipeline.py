"""tf.data input pipelines: cached, shuffled, augmented on the fly, prefetched.

Augmentation is the papers': random horizontal flips (and vertical ones for surfaces, which have no
up) and pad-and-crop shifts of up to 1/8 of the image. Random draws are stateless and come from a
seeded random stream, so two runs with the same seed see the same batches.
"""

from __future__ import annotations

import numpy as np

from resnet_edge._tf import tf
from resnet_edge.data.folder import ImageFiles, read_image

AUTOTUNE = tf.data.AUTOTUNE
CACHE_SHUFFLE_BUFFER = 4096  # decoded images held for shuffling when streaming from an on-disk cache


def _augment(size: int, vertical_flips: bool):
    pad = max(1, size // 8)

    def fn(image: tf.Tensor, label: tf.Tensor, seeds: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image = tf.image.stateless_random_flip_left_right(image, seeds[0])
        if vertical_flips:
            image = tf.image.stateless_random_flip_up_down(image, seeds[1])
        padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
        image = tf.image.stateless_random_crop(padded, tf.shape(image), seeds[2])
        return image, label

    return fn


def train_dataset(
    x: np.ndarray,
    y: np.ndarray,
    *,
    num_classes: int,
    batch_size: int,
    seed: int,
    augment: bool,
    vertical_flips: bool = True,
) -> tf.data.Dataset:
    """Shuffled (reshuffled every epoch), augmented, one-hot, batched and prefetched training batches.

    In-memory images are cached as tensors; ImageFiles stream: the file names are shuffled (cheap), then
    decoded in parallel by the same reader as in memory, so memory is bounded by the batches in flight."""
    labels = tf.one_hot(y, num_classes)
    if isinstance(x, ImageFiles) and x.cache:
        # decoded once into an on-disk cache, then shuffled through a bounded buffer (memory stays bounded)
        ds = tf.data.Dataset.from_tensor_slices((list(x.paths), labels))
        ds = ds.map(_decoder(x.size, x.channels), num_parallel_calls=AUTOTUNE, deterministic=True).cache(x.cache)
        ds = ds.shuffle(min(len(x), CACHE_SHUFFLE_BUFFER), seed=seed, reshuffle_each_iteration=True)
    elif isinstance(x, ImageFiles):
        ds = tf.data.Dataset.from_tensor_slices((list(x.paths), labels))
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(_decoder(x.size, x.channels), num_parallel_calls=AUTOTUNE, deterministic=True)
    else:
        ds = tf.data.Dataset.from_tensor_slices((x, labels)).cache()
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    if augment:
        # three stateless seeds per image from a seeded stream that changes every epoch
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2).batch(3)
        ds = tf.data.Dataset.zip((ds, seeds)).map(
            lambda xy, s: _augment(x.shape[1], vertical_flips)(xy[0], xy[1], s), num_parallel_calls=AUTOTUNE
        )
    return ds.batch(batch_size).prefetch(AUTOTUNE)


def _decoder(size: int, channels: int):
    def decode(path: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image = tf.numpy_function(lambda p: read_image(p.decode(), size, channels), [path], tf.uint8, stateful=False)
        image.set_shape((size, size, channels))
        return image, label

    return decode


def eval_dataset(x: np.ndarray, y: np.ndarray, *, num_classes: int, batch_size: int) -> tf.data.Dataset:
    return (
        tf.data.Dataset.from_tensor_slices((x, tf.one_hot(y, num_classes))).cache().batch(batch_size).prefetch(AUTOTUNE)
    )
