"""`resnet-edge bench` (measure artifacts side by side) and `resnet-edge gate` (fail CI on a real regression)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from resnet_edge.cli.app import app
from resnet_edge.cli.options import EVALUATION_DATA, Section, config_options, out_file
from resnet_edge.config import BenchConfig
from resnet_edge.console import console
from resnet_edge.data.config import DataConfig
from resnet_edge.errors import ConfigError
from resnet_edge.gate import GateConfig

BENCH_OPTIONS = ("threads", "rounds", "warmup", "block", "settle_ms", "budget_s", "provider", "confidence", "seed")
# bench measures accuracy only when given data: no --data means latency and counts alone
DATA_OPTIONS = Section("data_options", DataConfig, exclude=EVALUATION_DATA, as_dict=True, defaults={"source": None})


@app.command()
@config_options(Section("config", BenchConfig, only=BENCH_OPTIONS), DATA_OPTIONS)
def bench(
    config: BenchConfig,
    data_options: dict[str, Any],
    artifacts: Annotated[list[Path], typer.Argument(help="Artifacts to measure: .keras, .h5, .tflite, .onnx.")],
    baseline: Annotated[Path | None, typer.Option(help="The uncompressed model; ratios are to it.")] = None,
    out: Annotated[Path | None, typer.Option(callback=out_file, help="Write bench.json here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print bench.json instead of the table.")] = False,
    chain: Annotated[
        bool,
        typer.Option(
            "--chain",
            help="The baseline and the artifacts, in order, are one chain "
            "(e.g. model.keras, unpruned fp32, pruned fp32, pruned int8): split the total "
            "speed-up into one factor per link.",
        ),
    ] = False,  # fmt: skip
) -> None:
    """MACs, params, size, accuracy and latency of artifacts, side by side, as ratios to a baseline."""
    from resnet_edge.bench import measure
    from resnet_edge.fsutil import write_json
    from resnet_edge.runtime import load_runner
    from resnet_edge.tables import print_bench

    if chain and (baseline is None or not artifacts):
        raise ConfigError("--chain needs --baseline and at least one artifact: the chain runs from the baseline")
    for path in ([baseline] if baseline else []) + list(artifacts):
        load_runner(path, provider=config.provider)  # every file checked before any measurement
    dataset = _bench_data(data_options, baseline or artifacts[0])
    result = measure(artifacts, baseline=baseline, data=dataset, config=config)
    if chain:
        result = result.attribute([row.name for row in result.rows])
    if out is not None:
        write_json(out, result.to_dict())
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        print_bench(result)


def _bench_data(data_options: dict[str, Any], artifact: Path) -> Any:
    """The validation images at the artifact's input size, or None when no --data was given."""
    if data_options["source"] is None:
        return None
    from resnet_edge.data import load_data
    from resnet_edge.runtime import load_runner

    height, _, channels = load_runner(artifact).image_size
    return load_data(DataConfig(**data_options), size=height, channels=channels)


@app.command()
@config_options(Section("config", GateConfig, exclude=("warmup", "confidence", "seed")))
def gate(
    config: GateConfig,
    candidate: Annotated[Path, typer.Option(help="The artifact under test.")],
    baseline: Annotated[Path, typer.Option(help="The artifact it must not regress from.")],
    junit: Annotated[Path | None, typer.Option(callback=out_file, help="Write JUnit XML here.")] = None,
    out: Annotated[
        Path | None, typer.Option("--json", callback=out_file, help="Write the result as JSON here.")
    ] = None,
) -> int:
    """CI gate: exit 1 only on a real regression (latency interval above the threshold, or a static limit)."""
    from resnet_edge.gate import gate as run_gate
    from resnet_edge.gate import write_junit, write_result
    from resnet_edge.runtime import load_runner

    for path in (candidate, baseline):
        load_runner(path)
    result = run_gate(candidate, baseline, config)
    for check in result.checks:
        mark = "[green]pass[/green]" if check.passed else "[red]FAIL[/red]"
        console.print(f"{mark} {check.name}: {check.message}", soft_wrap=True)
    if junit is not None:
        write_junit(result, junit)
    if out is not None:
        write_result(result, out)
    return 0 if result.passed else 1
