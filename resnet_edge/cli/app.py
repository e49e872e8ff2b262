"""The `resnet-edge` Typer app and its global options; each command module adds its commands to it."""

from __future__ import annotations

from typing import Annotated

import typer

from resnet_edge.console import set_quiet

app = typer.Typer(
    name="resnet-edge",
    help="Turn a ResNet into a small, fast, verified model for edge devices.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Data sets: write the built-in inspection set as an image folder.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@app.callback()
def _root(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
    trust_model: Annotated[
        bool,
        typer.Option("--trust-model", help="Allow models with Lambda layers, whose embedded Python runs on load."),
    ] = False,
) -> None:
    from resnet_edge.models.io import trust_models

    set_quiet(quiet)
    trust_models(trust_model)
