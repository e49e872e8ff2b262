"""Figures: a headless pyplot, and saving that never leaves a half-written image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from resnet_edge.fsutil import atomic_path


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed), imported only when a figure is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, dpi: int = 100) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi)
    pyplot().close(fig)
