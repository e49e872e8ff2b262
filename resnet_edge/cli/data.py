"""`resnet-edge data synth`: the built-in inspection set as an image folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from resnet_edge.cli.app import data_app
from resnet_edge.cli.options import Section, config_options, out_dir
from resnet_edge.console import console
from resnet_edge.data.synth import SynthSpec


@data_app.command("synth")
@config_options(Section("spec", SynthSpec))
def data_synth(
    spec: SynthSpec,
    out: Annotated[Path, typer.Option(callback=out_dir, help="A new folder: one sub-folder per class, PNG files.")],
) -> None:
    """Write the built-in synthetic inspection data set as an image folder, to look at or train from."""
    from resnet_edge.data.synth import write_folder

    counts = write_folder(spec, out)
    console.print(f"wrote {sum(counts.values())} images to {out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
