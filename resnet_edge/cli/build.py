"""`resnet-edge build` (every stage into one run folder) and `resnet-edge report` (its report.md/html)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from resnet_edge.cli.app import app
from resnet_edge.cli.options import AllowInvalidOpt, invalid_exit, out_dir, override_options
from resnet_edge.config import BuildConfig, QuantMode
from resnet_edge.console import console

# (section, field) of BuildConfig that build takes as options; each defaults to the recipe's (or BuildConfig's) value
BUILD_OPTIONS = (("model", "depth"), ("model", "input_size"), ("data", "source"), ("data", "per_class"),
                 ("data", "stream"), ("train", "epochs"), ("train", "lr"), ("train", "recipe"), ("train", "weights"),
                 ("train", "min_accuracy"), ("prune", "max_accuracy_drop"), ("prune", "target_macs"),
                 ("prune", "step_epochs"), ("prune", "max_escape_increase"), ("prune", "target_latency"),
                 ("prune", "target_runtime"), ("data", "good_class"),
                 ("export", "formats"), ("export", "fallback"), ("quantize", "tflite_quantizer"),
                 ("bench", "threads"), ("bench", "rounds"),
                 ("bench", "deploy_size"))  # fmt: skip
_MODES = ",".join(m.value for m in BuildConfig().export.modes if m is not QuantMode.FP32)
SEEDED = ("data", "train", "prune", "quantize", "bench")


def _extra_overrides(overrides: dict[str, dict[str, Any]], quantize: str | None, seed: int | None) -> None:
    """--quantize (modes besides fp32) and --seed (every stage's) as section overrides; a pruning mode given on
    the command line replaces the recipe's."""
    if quantize is not None:
        modes = [m.strip() for m in quantize.split(",") if m.strip() and m.strip().lower() not in ("none", "fp32")]
        overrides.setdefault("export", {})["modes"] = [QuantMode.FP32.value, *modes]
    if seed is not None:
        for section in SEEDED:
            overrides.setdefault(section, {})["seed"] = seed
    prune = overrides.get("prune", {})
    if prune.get("max_accuracy_drop") is not None or prune.get("target_macs") is not None:
        overrides["prune"] = {"threshold": None, "target_macs": None, "max_accuracy_drop": None, **prune}


@app.command()
@override_options(BuildConfig(), BUILD_OPTIONS)
def build(
    overrides: dict[str, dict[str, Any]],
    out: Annotated[Path, typer.Option(callback=out_dir, help="Run folder.")] = Path("runs/build"),
    config: Annotated[Path | None, typer.Option("--config", help="A YAML recipe (pipelines/*.yaml).")] = None,
    no_prune: Annotated[bool, typer.Option("--no-prune", help="Skip depth pruning.")] = False,
    quantize: Annotated[
        str | None,
        typer.Option(help=f"Comma-separated modes besides fp32: fp16, dynamic, int8, qat; none. Default: {_MODES}."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of every stage (data split, weights, order).")] = None,
    allow_invalid: AllowInvalidOpt = False,
    print_config: Annotated[
        bool, typer.Option("--print-config", help="Print the resolved configuration (YAML) and exit.")
    ] = False,
) -> int:
    """Train, prune, quantize, export, benchmark and report, in one run folder (finished stages are reused).
    Stops after training (exit 1, run folder kept) when the model ends near chance."""
    _extra_overrides(overrides, quantize, seed)
    if no_prune:
        overrides["prune"] = "none"
    resolved = BuildConfig.load(config, overrides)
    if print_config:
        import yaml

        sys.stdout.write(yaml.safe_dump(resolved.to_dict(), sort_keys=False))
        return 0
    from resnet_edge.pipeline import build as run_build

    result = run_build(resolved, out=out)
    console.print(f"run folder {result.out}: ran {', '.join(result.ran)}"
                  + (f"; reused {', '.join(result.cached)}" if result.cached else "")
                  + f" · report {result.report_path}")  # fmt: skip
    return invalid_exit(result.invalid, allow_invalid)


@app.command()
def report(run: Annotated[Path, typer.Argument(help="A run folder written by `resnet-edge build`.")]) -> None:
    """Write report.md and a self-contained report.html for a run folder."""
    from resnet_edge.pipeline.report import write_report

    path = write_report(run)
    console.print(f"report: {path.with_suffix('.md')} · {path}")
