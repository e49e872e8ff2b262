"""Image folders: one sub-folder per class, PNG/JPEG/BMP/GIF/TIFF/WebP. Unreadable files are skipped and named;
hidden files and folders are ignored."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from resnet_edge.data.memory import check_memory
from resnet_edge.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_WIDE_MODES = ("I;16", "I;16B", "I;16L", "I")  # 16-bit grayscale (PIL opens 16-bit PNG/TIFF as I;16 or I)


def read_image(path: str | Path, size: int, channels: int) -> np.ndarray:
    """One image file as uint8 [size, size, channels], as a camera wrote it: EXIF orientation applied, 16-bit
    pixels scaled (not clipped) to 8 bits, a GIF's first frame, any mode converted, resized bilinearly."""
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        img.seek(0)  # an animated GIF or multi-page TIFF: the first frame
        img.load()  # decode now: a truncated file fails here, not later in training
        img = ImageOps.exif_transpose(img)  # cameras store rotation as a tag, not in the pixels
        if img.mode in _WIDE_MODES:
            wide = np.asarray(img, dtype=np.float64)
            img = Image.fromarray(np.clip(np.round(wide * 255.0 / 65535.0), 0, 255).astype(np.uint8), mode="L")
        img = img.convert("L" if channels == 1 else "RGB")  # grayscale, palette and RGBA all convert
        if img.size != (size, size):
            img = img.resize((size, size), Image.Resampling.BILINEAR)
        arr = np.asarray(img, dtype=np.uint8)
    return arr[..., None] if channels == 1 else arr


def _class_files(folder: Path) -> tuple[list[Path], list[str]]:
    """(image files, skipped files with reasons) under a class folder; hidden files and folders are ignored
    (.DS_Store, ._ resource forks, .ipynb_checkpoints), other suffixes are skipped by name."""
    files, skipped = [], []
    for path in sorted(folder.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(folder).parts) or not path.is_file():
            continue
        if path.suffix.lower() in IMAGE_SUFFIXES:
            files.append(path)
        else:
            skipped.append(f"{path}: not an image file (accepted: {', '.join(IMAGE_SUFFIXES)})")
    return files, skipped


def _class_folders(root: Path, class_names: tuple[str, ...] | None) -> tuple[Path, tuple[str, ...]]:
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
    return root, tuple(names)


def read_folder(
    root: str | Path, *, size: int, channels: int, class_names: tuple[str, ...] | None = None
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], list[str]]:
    """(images, labels, class names, skipped files with reasons) of an image folder.

    `class_names` fixes the label order (a validation folder must use the training folder's classes).
    """
    root, names = _class_folders(Path(root), class_names)
    listed = {name: _class_files(root / name) for name in names}
    check_memory(sum(len(files) for files, _ in listed.values()), size, channels, f"folder:{root}")
    images, labels, skipped = [], [], []
    for label, name in enumerate(names):
        files, not_images = listed[name]
        skipped += not_images
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


@dataclass(frozen=True)
class ImageFiles:
    """Images left on disk: an array-like [N, size, size, channels] of uint8 that decodes only what is indexed.

    Training streams them through tf.data (parallel decode, bounded memory); code that needs a few images
    (calibration, normalization statistics) indexes them like an array.
    """

    paths: tuple[str, ...]
    size: int
    channels: int
    cache: str | None = None  # a file prefix for tf.data's on-disk cache of the decoded images

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.paths), self.size, self.size, self.channels)

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            return read_image(self.paths[index], self.size, self.channels)
        picked = np.arange(len(self.paths))[index]
        if picked.ndim == 0:
            return read_image(self.paths[int(picked)], self.size, self.channels)
        empty = np.zeros((0, self.size, self.size, self.channels), np.uint8)
        return np.stack([read_image(self.paths[i], self.size, self.channels) for i in picked]) if len(picked) else empty

    def subset(self, index: np.ndarray) -> ImageFiles:
        return ImageFiles(tuple(self.paths[i] for i in index), self.size, self.channels, self.cache)


def list_folder(
    root: str | Path, *, size: int, channels: int, class_names: tuple[str, ...] | None = None
) -> tuple[ImageFiles, np.ndarray, tuple[str, ...], list[str]]:
    """Like read_folder, but the images stay on disk: (ImageFiles, labels, class names, skipped). Each file's
    header is opened so that non-images are skipped and named now, not mid-training."""
    from PIL import Image

    root, names = _class_folders(Path(root), class_names)
    paths, labels, skipped = [], [], []
    for label, name in enumerate(names):
        files, not_images = _class_files(root / name)
        skipped += not_images
        before = len(paths)
        for path in files:
            try:
                with Image.open(path) as img:
                    img.verify()  # reads and checks the file without decoding the pixels
                paths.append(str(path))
                labels.append(label)
            except Exception as exc:  # PIL raises many kinds for a bad file; the file is skipped, and named
                skipped.append(f"{path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
        if len(paths) == before:
            raise DataError(f"class folder '{root / name}' has no readable image ({', '.join(IMAGE_SUFFIXES)})")
    return ImageFiles(tuple(paths), size, channels), np.asarray(labels, np.int32), names, skipped
