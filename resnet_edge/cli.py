"""The `resnet-edge` command: parse, call a verb, print. User errors become one line and exit code 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

# Typer >= 0.20 vendors Click; its exceptions are what `standalone_mode=False` lets through (typer is pinned).
from typer._click import exceptions as click_exc

from resnet_edge.config import Shortcut, Variant, Version
from resnet_edge.console import console, err_console, set_quiet
from resnet_edge.errors import ConfigError, ResnetEdgeError

if TYPE_CHECKING:
    from resnet_edge.models.flops import ModelCount

app = typer.Typer(
    name="resnet-edge",
    help="Turn a ResNet into a small, fast, verified model for edge devices.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False) -> None:
    set_quiet(quiet)


def _si(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3f} {unit}"
    return f"{n:.0f}"


def _shape(shape: tuple) -> str:
    return "x".join("?" if d is None else str(d) for d in shape[1:]) or "-"


def _print_count(count: ModelCount, title: str, per_block: bool) -> None:
    from resnet_edge.models.flops import MAC_NOTE

    groups = count.blocks if per_block else count.stages
    table = Table(title=title, title_justify="left")
    table.add_column("Block" if per_block else "Stage")
    if not per_block:
        table.add_column("Blocks", justify="right")
    table.add_column("Output", justify="right")
    table.add_column("Params", justify="right")
    table.add_column("MACs", justify="right")
    table.add_column("% MACs", justify="right")
    total = max(count.macs, 1)
    for g in groups:
        row = [g.name]
        if not per_block:
            row.append(str(sum(1 for b in count.blocks if b.stage == g.name)) if g.name.startswith("stage") else "")
        row += [_shape(g.output_shape), f"{g.params:,}", _si(g.macs), f"{100 * g.macs / total:.1f}"]
        table.add_row(*row)
    table.add_section()
    table.add_row("total", *([str(len(count.blocks))] if not per_block else []), "", f"{count.params:,}",
                  _si(count.macs), "100.0")  # fmt: skip
    console.print(table)
    console.print(
        f"trainable params {count.params:,} · non-trainable {count.non_trainable_params:,} · "
        f"MACs {count.macs:,} ({_si(count.macs)}) · FLOPs {_si(count.flops)} · "
        f"element-wise ops {_si(count.elementwise_ops)}",
        soft_wrap=True,
    )
    console.print(f"[dim]{MAC_NOTE}; BatchNorm, activations, additions and pooling are element-wise ops.[/dim]", soft_wrap=True)
    if count.uncounted:
        console.print(f"[yellow]not counted ({len(count.uncounted)}): {', '.join(count.uncounted)}[/yellow]")


@app.command()
def info(
    depth: Annotated[
        int | None, typer.Option(help="Depth: 18, 34, 50, 101, 152 (ImageNet), 6n+2 / 9n+2 (CIFAR).")
    ] = None,
    variant: Annotated[Variant | None, typer.Option(case_sensitive=False, help="Default: imagenet for 18-152.")] = None,
    version: Annotated[
        Version | None, typer.Option(case_sensitive=False, help="imagenet: v1|v1.5; cifar: v1|v2.")
    ] = None,
    shortcut: Annotated[Shortcut | None, typer.Option(case_sensitive=False, help="A zero-pad, B projection.")] = None,
    plain: Annotated[bool, typer.Option("--plain", help="The twin without skip connections.")] = False,
    input_size: Annotated[int | None, typer.Option(help="Input height = width (>= 32).")] = None,
    classes: Annotated[int | None, typer.Option(help="Number of classes.")] = None,
    channels: Annotated[int, typer.Option(help="1 (grayscale) or 3 (RGB).")] = 3,
    model: Annotated[Path | None, typer.Option(help="A saved .keras, .h5 or .onnx model instead of --depth.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    per_block: Annotated[bool, typer.Option("--blocks", help="One row per residual block.")] = False,
) -> None:
    """Parameters and MACs per stage (or block) of a ResNet from the zoo or of a saved model."""
    from resnet_edge.models import flops

    if (depth is None) == (model is None):
        raise ConfigError(f"give exactly one of --depth or --model (received depth={depth}, model={model})")
    config = None
    if model is not None:
        count = flops.count_file(model)
        title = f"{model} ({count.name})"
    else:
        from resnet_edge.config import ModelConfig
        from resnet_edge.models.resnet import build_resnet

        config = ModelConfig(depth=depth, variant=variant, version=version, shortcut=shortcut, plain=plain,
                             input_size=input_size, classes=classes, channels=channels)  # fmt: skip
        count = flops.count_keras(build_resnet(config))
        title = f"{config.name}: {config.variant.value} {config.version.value}, shortcut {config.shortcut.value}"
    if as_json:
        payload = {**count.to_dict(), **({"config": config.to_dict()} if config else {})}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        _print_count(count, title, per_block)


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the app without click's own exit handling so every user error is one line."""
    try:
        result = app(args=argv, prog_name="resnet-edge", standalone_mode=False)
    except click_exc.NoArgsIsHelpError as exc:
        console.print(exc.ctx.get_help())
        return 0
    except click_exc.ClickException as exc:
        err_console.print(f"resnet-edge: error: {exc.format_message()}", soft_wrap=True, markup=False)
        return exc.exit_code
    except ResnetEdgeError as exc:
        err_console.print(f"resnet-edge: error: {exc}", soft_wrap=True, markup=False)
        return 2
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("resnet-edge: interrupted", markup=False)
        return 130
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
