"""How much memory a data set needs, and refusing one that cannot fit before anything is allocated."""

from __future__ import annotations

import os

from resnet_edge.errors import DataError


def available_memory() -> int:
    """Bytes of memory free for new allocations (Linux/macOS; a large number where unknown)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def check_memory(images: int, size: int, channels: int, source: str) -> None:
    """Refuse, before allocating, a data set that cannot fit in memory (uint8 pixels, plus the float32 batch
    copies training makes, kept under half of what is free)."""
    need = images * size * size * channels
    free = available_memory()
    if need > free // 2:
        raise DataError(
            f"data '{source}' at {size}x{size}x{channels} needs {need / 1e9:.1f} GB for {images} images, more than "
            f"half the {free / 1e9:.1f} GB free; use a smaller --input-size or fewer images"
        )
