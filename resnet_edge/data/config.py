"""Where the images come from: the data settings every stage that reads images shares."""

from __future__ import annotations

from dataclasses import dataclass

from resnet_edge.errors import ConfigError
from resnet_edge.settings import setting


@dataclass(frozen=True)
class DataConfig:
    """Where images come from: `inspection` (built-in), `folder:DIR` or `cifar10:PATH`, and how they split into
    train (fitting), validation (every decision: best epoch, pruning steps, artifact checks) and test (reported
    only, never used to decide anything)."""

    source: str = setting("inspection", "inspection (built-in), folder:DIR or cifar10:PATH.", flag="--data")
    val_source: str | None = setting(None, "An explicit validation set (same schemes).", flag="--val-data")
    val_split: float = setting(0.2, "Validation fraction when no --val-data (stratified, seeded).")
    test_source: str | None = setting(None, "An explicit test set (same schemes): reported only.", flag="--test-data")
    test_split: float = setting(
        0.2, "Test fraction when no --test-data (folders: held out; built-in: extra images; CIFAR: its test batch)."
    )
    per_class: int = setting(1000, "Images per class of the built-in inspection set.")
    good_class: str | None = setting(
        None, "The pass class: escape and false-reject rates are counted against it (default: good, ok or pass)."
    )
    seed: int = setting(0, "Seed of the data split (use the one the model was trained with).")
    stream: bool | None = setting(None, "Folders: decode training images from disk (default: when large).")
    stream_cache: str | None = setting(None, "With --stream: keep decoded images in this cache file (tf.data).")

    def __post_init__(self) -> None:
        for what, value in (("validation split", self.val_split), ("test split", self.test_split)):
            if not 0 < value < 1:
                raise ConfigError(f"{what} {value!r} is not accepted; use a fraction in (0, 1)")
        if self.per_class < 2:
            raise ConfigError(f"per-class count {self.per_class!r} is too small; use an integer >= 2")
