"""Data sets as in-memory uint8 arrays: the built-in inspection set, image folders, CIFAR-10 archives.

`load_data(DataConfig, size=, channels=)` returns a `Dataset` with a train and a validation split, resized
to the model's input and converted to its channels. Images stay raw pixels (0-255): normalization is a
layer of the model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from resnet_edge.data.config import DataConfig
from resnet_edge.data.folder import ImageFiles
from resnet_edge.data.memory import available_memory, check_memory
from resnet_edge.errors import DataError
from resnet_edge.metrics import good_class_index

STATS_SAMPLE = 2000

SCHEMES = "inspection, folder:DIR, cifar10:PATH"


@dataclass(frozen=True)
class Dataset:
    x_train: np.ndarray | ImageFiles  # uint8 [N, H, W, C], in memory or left on disk (streamed)
    y_train: np.ndarray  # int32 [N]
    x_val: np.ndarray  # every decision (best epoch, pruning steps, artifact checks) is made on validation
    y_val: np.ndarray
    x_test: np.ndarray  # reported only
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str
    skipped: tuple[str, ...] = ()  # unreadable files, each with its reason
    good: int | None = None  # index of the pass class (escape / false-reject rates), None when there is none

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def summary(self) -> str:
        """One line: split sizes, image shape, where the training images live, per-class counts, skips."""
        counts = np.bincount(self.y_train, minlength=self.num_classes)
        per_class = ", ".join(f"{n} {c}" for n, c in zip(self.class_names, counts, strict=True))
        _, h, w, c = self.x_train.shape
        where = "streamed from disk" if self.streamed else "in memory"
        skipped = f"; {len(self.skipped)} file(s) skipped" if self.skipped else ""
        return (f"data {self.source}: {len(self.y_train)} training / {len(self.y_val)} validation / "
                f"{len(self.y_test)} test images, {h}x{w}x{c}, "
                f"{where}; training images per class: {per_class}{skipped}")  # fmt: skip

    @property
    def streamed(self) -> bool:
        return not isinstance(self.x_train, np.ndarray)

    def channel_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel mean and std of the training pixels, for the model's normalization layer (of a seeded
        sample of 2000 images when they stream from disk)."""
        images = self.x_train
        if self.streamed and len(images) > STATS_SAMPLE:
            images = images[np.sort(np.random.default_rng(0).choice(len(images), STATS_SAMPLE, replace=False))]
        x = np.asarray(images).reshape(-1, self.x_train.shape[-1]).astype(np.float64)
        return tuple(float(v) for v in x.mean(0)), tuple(float(max(v, 1e-3)) for v in x.std(0))


def parse_source(source: str) -> tuple[str, str]:
    """('inspection' | 'folder' | 'cifar10', argument) or a DataError naming the accepted schemes."""
    scheme, _, arg = source.partition(":")
    scheme = scheme.strip().lower()
    if scheme == "inspection" and not arg:
        return scheme, ""
    if scheme in ("folder", "cifar10") and arg:
        return scheme, arg
    if scheme in ("folder", "cifar10"):
        raise DataError(f"data '{source}' lacks its path; use {scheme}:PATH")
    raise DataError(f"data '{source}' is not accepted; use one of: {SCHEMES}")


def _to_channels(x: np.ndarray, channels: int) -> np.ndarray:
    if x.shape[-1] == channels:
        return x
    if channels == 1:  # ITU-R 601 luma, as PIL's convert("L")
        return (x.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) + 0.5).astype(np.uint8)[..., None]
    return np.repeat(x, 3, axis=-1)


def _resize(x: np.ndarray, size: int) -> np.ndarray:
    if x.shape[1] == size and x.shape[2] == size:
        return x
    from resnet_edge._tf import tf

    return tf.cast(tf.round(tf.image.resize(x, (size, size), antialias=True)), tf.uint8).numpy()


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices): `fraction` of each class, at least one, chosen by `seed`."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = min(max(1, round(fraction * len(idx))), len(idx) - 1)
        val.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


STREAM_ABOVE_BYTES = 2 << 30  # decoded training images above this (or a quarter of free memory) stream from disk


def streams(config: DataConfig, folder: str, size: int, channels: int) -> bool:
    """Whether a folder's training images stay on disk: `config.stream`, or by their decoded size."""
    if config.stream is not None:
        return config.stream
    from resnet_edge.data.folder import IMAGE_SUFFIXES

    count = sum(1 for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    return count * size * size * channels > min(STREAM_ABOVE_BYTES, available_memory() // 4)


def _load(source: str, size: int, channels: int, config: DataConfig, names: tuple[str, ...] | None = None):
    """(x, y, class names, skipped, test split or None) of one source: CIFAR-10's official test batch, or the
    built-in set's extra images (drawn after the training ones, so disjoint from them)."""
    scheme, arg = parse_source(source)
    if scheme == "inspection":
        from resnet_edge.data.synth import CLASSES, SynthSpec, generate

        test_per_class = max(1, round(config.per_class * config.test_split))
        check_memory((config.per_class + test_per_class) * len(CLASSES), size, channels, source)
        # image i depends only on (seed, i): the images after the first per_class x classes are new ones
        x, y, names = generate(SynthSpec(size=size, per_class=config.per_class + test_per_class, seed=config.seed,
                                         channels=channels))  # fmt: skip
        cut = config.per_class * len(CLASSES)
        return x[:cut], y[:cut], names, [], (x[cut:], y[cut:])
    if scheme == "folder":
        from resnet_edge.data.folder import list_folder, read_folder

        if streams(config, arg, size, channels):
            files, y, names, skipped = list_folder(arg, size=size, channels=channels, class_names=names)
            return replace(files, cache=config.stream_cache), y, names, skipped, None
        x, y, names, skipped = read_folder(arg, size=size, channels=channels, class_names=names)
        return x, y, names, skipped, None
    from resnet_edge.data.cifar import load_cifar10

    check_memory(60000, size, channels, source)
    (x, y), (xt, yt), names = load_cifar10(Path(arg))
    test = (_resize(_to_channels(xt, channels), size), yt)
    return _resize(_to_channels(x, channels), size), y, names, [], test


def _take(x: np.ndarray | ImageFiles, idx: np.ndarray) -> np.ndarray | ImageFiles:
    return x.subset(idx) if isinstance(x, ImageFiles) else x[idx]


def _decoded(x: np.ndarray | ImageFiles) -> np.ndarray:
    """Validation and test images live in memory, even when training images stream from disk."""
    return x[np.arange(len(x))] if isinstance(x, ImageFiles) else x


def load_data(config: DataConfig, *, size: int, channels: int) -> Dataset:
    """The train, validation and test splits of `config`, at `size` x `size` x `channels`.

    Test: `test_source`, else the source's own (CIFAR-10's test batch, the built-in set's extra images), else a
    stratified seeded `test_split` of the source held out first. Validation: `val_source`, else a stratified
    seeded `val_split` of what remains.
    """
    x, y, names, skipped, test = _load(config.source, size, channels, config)
    if config.test_source is not None:
        xt, yt, _, skipped_test, _ = _load(config.test_source, size, channels, config, names=names)
        test, skipped = (xt, yt), skipped + skipped_test
    elif test is None:
        rest, test_idx = stratified_split(y, config.test_split, config.seed + 1)
        test = (_take(x, test_idx), y[test_idx])
        x, y = _take(x, rest), y[rest]
    if config.val_source is not None:
        xv, yv, _, skipped_val, _ = _load(config.val_source, size, channels, config, names=names)
        skipped += skipped_val
    else:
        train_idx, val_idx = stratified_split(y, config.val_split, config.seed)
        xv, yv = _take(x, val_idx), y[val_idx]
        x, y = _take(x, train_idx), y[train_idx]
    xt, yt = test
    if len(x) == 0 or len(xv) == 0 or len(xt) == 0:
        raise DataError(
            f"data '{config.source}' gives {len(x)} training, {len(xv)} validation and {len(xt)} test images"
        )
    good = good_class_index(tuple(names), config.good_class)
    return Dataset(x, y, _decoded(xv), yv, _decoded(xt), yt, tuple(names), config.source, tuple(skipped), good)
