"""`resnet-edge check`: will an accelerator take this `.tflite` (exit 0), or would part of it run on the CPU (1)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from resnet_edge.cli.app import app
from resnet_edge.cli.options import Section, config_options, out_file
from resnet_edge.config import CheckConfig


@app.command()
@config_options(Section("config", CheckConfig))
def check(
    config: CheckConfig,
    artifact: Annotated[Path, typer.Argument(help="A .tflite file (int8 for an accelerator).")],
    out: Annotated[
        Path | None, typer.Option("--json", callback=out_file, help="Write the result as JSON here.")
    ] = None,
) -> int:
    """Hold a TFLite model against an accelerator's published op list: exit 1 when part of it would run on the CPU."""
    from resnet_edge.check import check as run_check
    from resnet_edge.fsutil import write_json
    from resnet_edge.tables import print_check

    result = run_check(artifact, config=config)
    if out is not None:
        write_json(out, result.to_dict())
    print_check(result)
    return result.exit_code
