"""One console for everything the toolkit prints, so `--quiet` silences it all in one place.

Off a terminal (CI logs, pipes) rich would wrap tables at 80 columns; logs get 160.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console

_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160

console = Console(highlight=False, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, width=_WIDTH)


def set_quiet(quiet: bool) -> None:
    console.quiet = quiet
