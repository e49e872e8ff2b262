"""`resnet-edge prune`: remove the residual blocks that contribute least, then fine-tune."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from resnet_edge.cli.app import app
from resnet_edge.cli.options import EVALUATION_DATA, Section, config_options, out_dir
from resnet_edge.config import PruneConfig
from resnet_edge.console import console
from resnet_edge.data.config import DataConfig
from resnet_edge.errors import ConfigError
from resnet_edge.tables import drop_text


@app.command()
@config_options(Section("config", PruneConfig), Section("data_config", DataConfig, exclude=EVALUATION_DATA))
def prune(
    config: PruneConfig,
    data_config: DataConfig,
    model: Annotated[
        Path, typer.Option(help="A model.keras written by `resnet-edge train` (model_config.json beside).")
    ],
    out: Annotated[
        Path, typer.Option(callback=out_dir, help="Folder for the pruned model, block_scores, prune.json, pareto.png.")
    ],
) -> None:
    """Remove residual blocks that contribute least into a genuinely shallower model, then fine-tune."""
    from resnet_edge.data import load_data
    from resnet_edge.models.flops import count_keras
    from resnet_edge.models.io import load_keras, load_model_config
    from resnet_edge.prune import prune as prune_model
    from resnet_edge.prune import residual_blocks

    if out.resolve() == model.resolve().parent:
        raise ConfigError(f"--out '{out}' is the unpruned model's folder; choose another so nothing is overwritten")
    keras_model = load_keras(model)
    residual_blocks(keras_model)  # fail fast, before loading any data, on a model without residual blocks
    model_config = load_model_config(model)
    dataset = load_data(data_config, size=model_config.input_size, channels=model_config.channels)
    result = prune_model(keras_model, model_config, dataset, config, out=out)
    before = count_keras(keras_model)
    chosen = result.chosen
    console.print(
        f"depth {model_config.arch.depth} -> {result.model_config.arch.depth} · MACs {before.macs / 1e6:.2f} M -> "
        f"{result.final_macs / 1e6:.2f} M ({100 * (1 - result.final_macs / before.macs):.1f} % fewer) · removed "
        f"{len(result.removed)} blocks · accuracy drop, validation (decided on): {drop_text(chosen.val_drop)}, "
        f"test: {drop_text(chosen.test_drop)} points",
        soft_wrap=True,
    )
    console.print(f"pruned model: {result.model_path}")
