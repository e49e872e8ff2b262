"""Atomic writes (an artifact appears under its final name complete, or not at all) and file digests."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


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


@contextlib.contextmanager
def staged_folder(out: str | Path) -> Iterator[Path]:
    """A hidden folder inside `out` to write a set of files into; on success each is renamed into `out` (the
    files of a previous run under the same names are replaced only then), on an error `out` is left as it was."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
    try:
        yield stage
        for item in sorted(stage.iterdir()):
            os.replace(item, out / item.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def read_json(path: str | Path, writer: str) -> Any:
    """The JSON at `path`, None when it does not exist; damaged JSON is a one-line error naming `writer`, the
    command that writes the file (what to rerun)."""
    from resnet_edge.errors import ConfigError

    path = Path(path)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"'{path}' is not valid JSON ({str(exc)[:100]}); rerun {writer}") from None
    except IsADirectoryError:
        raise ConfigError(f"'{path}' is a folder, not the JSON file {writer} writes") from None


def read_record(path: str | Path, writer: str, parse: Callable[[Any], T]) -> T | None:
    """`parse` of the JSON at `path` (None when it does not exist); JSON of another shape is one line too."""
    from resnet_edge.errors import ConfigError

    raw = read_json(path, writer)
    if raw is None:
        return None
    try:
        return parse(raw)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        why = f"{type(exc).__name__} {exc!s:.60}"
        raise ConfigError(f"'{path}' is not the {Path(path).name} that {writer} writes ({why})") from None


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def digests(*paths: Path, root: Path) -> dict[str, str]:
    """{path relative to root: sha256} of every file at or under `paths` (hidden temporaries excluded)."""
    found = {}
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path] if path.exists() else []
        for f in files:
            if not any(part.startswith(".") for part in f.relative_to(root).parts):
                found[str(f.relative_to(root))] = sha256(f)
    return found


def changed(recorded: dict[str, str], root: Path) -> list[str]:
    """Files of `recorded` that are missing under `root` or whose sha256 differs."""
    return [rel for rel, digest in recorded.items() if not (root / rel).is_file() or sha256(root / rel) != digest]
