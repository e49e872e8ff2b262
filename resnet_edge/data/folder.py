"""Image folders: one sub-folder per class, PNG/JPEG/BMP. Unreadable files are skipped and named."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from resnet_edge.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def read_image(path: str | Path, size: int, channels: int) -> np.ndarray:
    """One image file as uint8 [size, size, channels]: any mode converted, resized bilinearly."""
    from PIL import Image

    with Image.open(path) as img:
        img.load()  # decode now: a truncated file fails here, not later in training
        img = img.convert("L" if channels == 1 else "RGB")  # grayscale, palette and RGBA all convert
        if img.size != (size, size):
            img = img.resize((size, size), Image.Resampling.BILINEAR)
        arr = np.asarray(img, dtype=np.uint8)
    return arr[..., None] if channels == 1 else arr


def read_folder(
    root: str | Path, *, size: int, channels: int, class_names: tuple[str, ...] | None = None
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], list[str]]:
    """(images, labels, class names, skipped files with reasons) of an image folder.

    `class_names` fixes the label order (a validation folder must use the training folder's classes).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder '{root}' does not exist; give a folder with one sub-folder per class")
    found = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    names = class_names or tuple(found)
    if class_names is None and len(found) < 2:
        raise DataError(
            f"data folder '{root}' has {len(found)} class sub-folder(s) ({', '.join(found) or 'none'}); "
            "give at least 2, one per class"
        )
    missing = [c for c in names if c not in found]
    if missing:
        raise DataError(f"data folder '{root}' lacks the class folder(s) {', '.join(missing)}")
    images, labels, skipped = [], [], []
    for label, name in enumerate(names):
        files = sorted(p for p in (root / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        before = len(images)
        for path in files:
            try:
                images.append(read_image(path, size, channels))
                labels.append(label)
            except Exception as exc:  # PIL raises many kinds for a bad file; the file is skipped, and named
                skipped.append(f"{path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
        if len(images) == before:
            raise DataError(f"class folder '{root / name}' has no readable image ({', '.join(IMAGE_SUFFIXES)})")
    return np.stack(images), np.asarray(labels, np.int32), tuple(names), skipped
