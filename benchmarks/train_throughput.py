"""Training throughput of `resnet_edge.train` against a bare `model.fit` on in-memory tensors.

Same model (CIFAR ResNet-20 with the same normalization layer), same data (the built-in inspection set at
32x32), same batch size and optimizer, measured side by side in one process and interleaved (bare, ours,
bare, ours, ...) so machine noise hits both alike. Only the training part of each epoch counts (no
validation), and each run's first epoch (graph tracing) is dropped. `ours` runs without augmentation so
the work is the same; `ours+augment` shows what on-the-fly augmentation costs on this machine.

    python benchmarks/train_throughput.py [--rounds 5] [--epochs 3] [--per-class 250]

Each round measures all three back to back; the ratio to the bare loop is taken within a round, and the
median of those paired ratios is reported (noisy neighbours move a whole round, not one side).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from resnet_edge._tf import keras, tf
from resnet_edge.config import Recipe, TrainConfig
from resnet_edge.data import load_data
from resnet_edge.data.config import DataConfig
from resnet_edge.models.config import ModelConfig
from resnet_edge.models.resnet import build_resnet
from resnet_edge.train import make_optimizer, train


class _EpochTimer(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self._t = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.seconds.append(time.perf_counter() - self._t)


def bare(model_config: ModelConfig, x: np.ndarray, y: np.ndarray, epochs: int, batch: int) -> float:
    """The textbook loop: the same model, optimizer (recipe sgd-step) and loss, `fit` on in-memory tensors."""
    keras.utils.set_random_seed(0)
    model = build_resnet(model_config)
    config = TrainConfig(recipe=Recipe.SGD_STEP, epochs=epochs, batch_size=batch)
    optimizer = make_optimizer(config, Recipe.SGD_STEP, steps_per_epoch=-(-len(x) // batch))
    model.compile(optimizer, "categorical_crossentropy", ["accuracy"])
    timer = _EpochTimer()
    xt, yt = tf.constant(x.astype("float32")), tf.one_hot(y, model_config.classes)
    model.fit(xt, yt, batch_size=batch, epochs=epochs, shuffle=True, callbacks=[timer], verbose=0)
    return len(x) / statistics.median(timer.seconds[1:])


def ours(model_config: ModelConfig, data, epochs: int, batch: int, augment: bool) -> float:
    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig(recipe=Recipe.SGD_STEP, epochs=epochs, batch_size=batch, augment=augment, min_accuracy=0)
        train(model_config, data, config, out=out)
        history = json.loads((Path(out) / "train_state.json").read_text())["history"]
    return statistics.median(r["images_per_second"] for r in history[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--per-class", type=int, default=250)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()

    from resnet_edge.console import set_quiet

    data = load_data(DataConfig(per_class=args.per_class), size=32, channels=3)
    mean, std = data.channel_stats()
    model_config = ModelConfig(depth=20, classes=data.num_classes, input_mean=mean, input_std=std)
    results: dict[str, list[float]] = {"bare model.fit": [], "resnet-edge train": [], "resnet-edge train +augment": []}
    set_quiet(True)
    for _ in range(args.rounds):
        results["bare model.fit"].append(bare(model_config, data.x_train, data.y_train, args.epochs, args.batch_size))
        results["resnet-edge train"].append(ours(model_config, data, args.epochs, args.batch_size, augment=False))
        results["resnet-edge train +augment"].append(
            ours(replace(model_config), data, args.epochs, args.batch_size, augment=True)
        )
    set_quiet(False)
    bare_runs = results["bare model.fit"]
    print(f"ResNet-20, {len(data.x_train)} images 32x32, batch {args.batch_size}, {args.rounds} interleaved rounds")
    print(f"{'':28} {'images/s (median)':>18} {'runs':>34} {'vs bare: median of paired ratios':>34}")
    for name, values in results.items():
        ratios = sorted(v / b for v, b in zip(values, bare_runs, strict=True))  # same round: same machine state
        runs = ", ".join(f"{v:.0f}" for v in values)
        spread = f"{statistics.median(ratios):.1%} ({ratios[0]:.0%}-{ratios[-1]:.0%})"
        print(f"{name:28} {statistics.median(values):18.0f} {runs:>34} {spread:>34}")


if __name__ == "__main__":
    main()
