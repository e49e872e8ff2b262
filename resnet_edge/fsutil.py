"""Atomic writes: an artifact appears under its final name complete, or not at all."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary sibling of `path` (same suffixes, so Keras and friends accept it), renamed on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base, dot, suffixes = path.name.partition(".")  # keep every suffix: Keras reads `.weights.h5` by its name
    tmp = path.with_name(f".{base}.tmp-{os.getpid()}{dot}{suffixes}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")
