"""The `resnet-edge` command: parse, call a verb, print. User errors become one line and exit code 2.

One module per command group (zoo, train, prune, export, check, bench, build, data), each adding its commands to the
app in `app.py`; options come from the config dataclasses (`options.py`).
"""

from __future__ import annotations

import sys

import typer

# Typer >= 0.20 vendors Click; its exceptions are what `standalone_mode=False` lets through (typer is pinned).
from typer._click import exceptions as click_exc

# Each module registers its commands; this order is --help's command list (the stages in the order they run).
# isort: off
import resnet_edge.cli.zoo
import resnet_edge.cli.train
import resnet_edge.cli.prune
import resnet_edge.cli.export
import resnet_edge.cli.check
import resnet_edge.cli.bench
import resnet_edge.cli.build
import resnet_edge.cli.data  # noqa: F401

# isort: on
from resnet_edge.cli.app import app
from resnet_edge.console import console, err_console
from resnet_edge.errors import ResnetEdgeError

MAX_ERROR_CHARS = 400  # a value echoed into an error (a YAML alias bomb, a huge list) must not flood the terminal


def _bounded(message: str) -> str:
    """One line of at most MAX_ERROR_CHARS characters."""
    line = " ".join(message.split())
    return line if len(line) <= MAX_ERROR_CHARS else line[: MAX_ERROR_CHARS - 25] + f" ... ({len(line)} chars)"


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the app without click's own exit handling so every user error is one line."""
    try:
        result = app(args=argv, prog_name="resnet-edge", standalone_mode=False)
    except click_exc.NoArgsIsHelpError as exc:
        console.print(exc.ctx.get_help())
        return 0
    except click_exc.ClickException as exc:
        err_console.print(f"resnet-edge: error: {_bounded(exc.format_message())}", soft_wrap=True, markup=False)
        return exc.exit_code
    except ResnetEdgeError as exc:
        err_console.print(f"resnet-edge: error: {_bounded(str(exc))}", soft_wrap=True, markup=False)
        return exc.exit_code
    except OSError as exc:  # the machine refused: a full disk, a read-only or vanished folder
        where = f" '{exc.filename}'" if exc.filename else ""
        err_console.print(f"resnet-edge: error: cannot use{where}: {_bounded(exc.strerror or str(exc))}",
                          soft_wrap=True, markup=False)  # fmt: skip
        return 2
    except typer.Abort as exc:  # click turns an EOFError (a truncated stream, a closed stdin) into Abort
        if isinstance(exc.__cause__, EOFError):
            err_console.print(f"resnet-edge: error: input ended early (a truncated file?): {exc.__cause__}",
                              soft_wrap=True, markup=False)  # fmt: skip
            return 2
        return _interrupted()
    except KeyboardInterrupt:
        return _interrupted()
    if result == INTERRUPTED:  # typer maps Ctrl-C to a silent exit code 130
        return _interrupted()
    return result if isinstance(result, int) else 0


INTERRUPTED = 130  # 128 + SIGINT, the shell's convention


def _interrupted() -> int:
    message = ("resnet-edge: interrupted (Ctrl-C); finished epochs and stages are kept "
               "(train --resume, or the same build command, continues)")  # fmt: skip
    err_console.print(message, markup=False, soft_wrap=True)
    return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
