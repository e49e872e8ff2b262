"""One console for everything the toolkit prints, so `--quiet` silences it all in one place."""

from __future__ import annotations

from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def set_quiet(quiet: bool) -> None:
    console.quiet = quiet
