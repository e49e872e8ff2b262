"""`resnet-edge info`: parameters and MACs of a zoo ResNet or a saved model."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from resnet_edge.cli.app import app
from resnet_edge.cli.options import JsonOpt, Section, config_options
from resnet_edge.errors import ConfigError
from resnet_edge.models.config import ModelConfig

MODEL_OPTIONS = ("depth", "variant", "version", "shortcut", "plain", "input_size", "channels", "classes")


@app.command()
@config_options(Section("model_options", ModelConfig, only=MODEL_OPTIONS, as_dict=True, defaults={"depth": None}))
def info(
    model_options: dict[str, Any],
    model: Annotated[Path | None, typer.Option(help="A saved .keras, .h5 or .onnx model instead of --depth.")] = None,
    as_json: JsonOpt = False,
    per_block: Annotated[bool, typer.Option("--blocks", help="One row per residual block.")] = False,
) -> None:
    """Parameters and MACs per stage (or block) of a ResNet from the zoo or of a saved model."""
    from resnet_edge.models import flops
    from resnet_edge.tables import print_count

    depth = model_options["depth"]
    if (depth is None) == (model is None):
        raise ConfigError(f"give exactly one of --depth or --model (received depth={depth}, model={model})")
    config = None
    if model is not None:
        count = flops.count_file(model)
        title = f"{model} ({count.name})"
    else:
        from resnet_edge.models.resnet import build_resnet

        config = ModelConfig(**model_options)
        count = flops.count_keras(build_resnet(config))
        title = f"{config.name}: {config.variant.value} {config.version.value}, shortcut {config.shortcut.value}"
    if as_json:
        payload = {**count.to_dict(), **({"config": config.to_dict()} if config else {})}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        print_count(count, title, per_block)
