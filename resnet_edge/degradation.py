"""The degradation study (He et al. 2015, Fig. 1 and 6): plain nets get worse with depth, ResNets better.

`degradation(data, depths=(20, 56), ...)` trains a plain twin and a ResNet of each depth the same way on
the same data and draws their training (dashed) and validation (solid) error curves in one figure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from resnet_edge.config import TrainConfig
from resnet_edge.data import Dataset
from resnet_edge.fsutil import write_json
from resnet_edge.models.config import ModelConfig
from resnet_edge.plotting import pyplot, save_figure
from resnet_edge.train import TrainResult, has_run, read_history, train


@dataclass(frozen=True)
class DegradationResult:
    runs: dict[str, TrainResult]
    figure: Path


def degradation(
    data: Dataset, *, depths: tuple[int, ...] = (20, 56), config: TrainConfig, out: str | Path
) -> DegradationResult:
    out = Path(out)
    size, channels = data.x_train.shape[1], data.x_train.shape[-1]
    runs: dict[str, TrainResult] = {}
    for depth in depths:
        for plain in (True, False):
            model = ModelConfig(depth=depth, variant="cifar", plain=plain, input_size=size, channels=channels,
                                classes=data.num_classes)  # fmt: skip
            folder = out / model.name
            # a plain twin that fails to learn is the study's finding, not an error
            study = replace(config, min_accuracy=0.0 if config.min_accuracy is None else config.min_accuracy)
            runs[model.name] = train(model, data, study, out=folder, resume=has_run(folder))
    figure = out / "degradation.png"
    _plot(out, list(runs), figure, data.source)
    write_json(out / "degradation.json", {name: {"best_val_accuracy": r.best_val_accuracy, "epochs": r.epochs}
                                          for name, r in runs.items()})  # fmt: skip
    return DegradationResult(runs, figure)


def _plot(out: Path, names: list[str], path: Path, source: str) -> None:
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(8, 5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for color, name in zip(colors, names, strict=False):
        history = read_history(out / name)
        epochs = [r["epoch"] for r in history]
        ax.plot(epochs, [100 * (1 - r["accuracy"]) for r in history], "--", color=color, alpha=0.7)
        ax.plot(epochs, [100 * (1 - r["val_accuracy"]) for r in history], "-", color=color, label=name)
    ax.set(
        xlabel="epoch", ylabel="error (%)", title=f"plain vs residual on {source} (dashed: train, solid: validation)"
    )
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)
