"""`resnet-edge train` and `resnet-edge degradation`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from resnet_edge.cli.app import app
from resnet_edge.cli.options import EVALUATION_DATA, Section, config_options, out_dir
from resnet_edge.config import DEGRADATION_TRAIN, TrainConfig
from resnet_edge.console import console, err_console
from resnet_edge.data.config import DataConfig
from resnet_edge.errors import ConfigError
from resnet_edge.models.config import ModelConfig, Version

TRAIN_MODEL_OPTIONS = ("depth", "variant", "version", "shortcut", "plain", "input_size", "channels")


@app.command()
@config_options(Section("train_config", TrainConfig), Section("data_config", DataConfig),
                Section("model_options", ModelConfig, only=TRAIN_MODEL_OPTIONS, as_dict=True))  # fmt: skip
def train(
    train_config: TrainConfig,
    data_config: DataConfig,
    model_options: dict[str, Any],
    out: Annotated[
        Path, typer.Option(callback=out_dir, help="Run folder: model.keras, history.csv, curves.png, metrics.json.")
    ],
    resume: Annotated[bool, typer.Option("--resume", help="Continue the interrupted run in --out.")] = False,
) -> None:
    """Train a ResNet: the uncompressed model that later stages compress and compare against. Exits 1 when the
    model ends near chance."""
    from dataclasses import replace

    from resnet_edge.data import load_data
    from resnet_edge.train import train as train_model

    if train_config.weights is not None and model_options["version"] is None:
        model_options = {**model_options, "version": Version.V1}  # keras.applications' weights are v1
    probe = ModelConfig(**model_options)
    dataset = load_data(data_config, size=probe.input_size, channels=probe.channels)
    for line in dataset.skipped:
        err_console.print(f"warning: skipped {line}", markup=False, soft_wrap=True)
    console.print(dataset.summary(), markup=False, soft_wrap=True)
    result = train_model(replace(probe, classes=dataset.num_classes), dataset, train_config, out=out, resume=resume)
    console.print(
        f"best validation accuracy {result.best_val_accuracy:.4f} at epoch {result.best_epoch}/{result.epochs} · "
        f"{result.images_per_second:.0f} images/s · {result.model_path}"
    )
    _print_test(out)


def _print_test(out: Path) -> None:
    """The test split's numbers from metrics.json (reported only: training never saw or chose by them)."""
    import json

    from resnet_edge.tables import rate_text

    metrics_path = out / "metrics.json"
    test = json.loads(metrics_path.read_text()).get("test") if metrics_path.exists() else None
    if test:
        rates = f"test accuracy {rate_text(test['accuracy'])} % (n={test['accuracy']['n']})"
        if test.get("escape"):
            rates += (f" · escape {rate_text(test['escape'])} % · false reject {rate_text(test['false_reject'])} % "
                      f"(pass class '{test['good_class']}')")  # fmt: skip
        console.print(rates, soft_wrap=True)


@app.command()
@config_options(Section("train_config", TrainConfig, base=DEGRADATION_TRAIN,
                        only=("recipe", "epochs", "batch_size", "seed")),
                Section("data_config", DataConfig, exclude=EVALUATION_DATA),
                Section("model_options", ModelConfig, only=("input_size", "channels"), as_dict=True))  # fmt: skip
def degradation(
    train_config: TrainConfig,
    data_config: DataConfig,
    model_options: dict[str, Any],
    out: Annotated[Path, typer.Option(callback=out_dir, help="Study folder: one run per model, degradation.png.")],
    depths: Annotated[str, typer.Option(help="Comma-separated CIFAR depths (6n+2).")] = "20,56",
) -> None:
    """Plain vs ResNet at two depths, trained alike: the degradation problem in one figure."""
    from resnet_edge.data import load_data
    from resnet_edge.degradation import degradation as run_study

    try:
        depth_list = tuple(int(d) for d in depths.split(","))
    except ValueError:
        raise ConfigError(f"depths {depths!r} are not accepted; use comma-separated integers such as 20,56") from None
    first = ModelConfig(depth=depth_list[0], variant="cifar", **model_options)  # the CIFAR default size: 32
    dataset = load_data(data_config, size=first.input_size, channels=first.channels)
    result = run_study(dataset, depths=depth_list, config=train_config, out=out)
    for name, run in result.runs.items():
        console.print(f"{name:>10}: best validation accuracy {run.best_val_accuracy:.4f}")
    console.print(f"figure: {result.figure}")
