"""CIFAR-10 from the official `cifar-10-python.tar.gz` (or its extracted folder), without general pickle.

The archive's batches are Python pickles. Loading them with `pickle.load` would run any code a tampered
file holds, so a restricted unpickler accepts only what the format contains: dicts, lists, bytes, ints,
strings and NumPy arrays (whose reconstruction goes through numpy's own two functions).
"""

from __future__ import annotations

import io
import pickle
import tarfile
import zlib
from pathlib import Path

import numpy as np

from resnet_edge.errors import DataError

ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of the CIFAR-10 format")
        return super().find_class(module, name)


def _load_batch(raw: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = _RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int32)
    except (pickle.UnpicklingError, KeyError, TypeError, ValueError, EOFError) as exc:
        raise DataError(f"CIFAR-10 batch '{name}' is not in the CIFAR-10 format: {exc}") from exc
    if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise DataError(f"CIFAR-10 batch '{name}' has data of shape {data.shape}; expected (N, 3072)")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _members(path: Path) -> dict[str, bytes]:
    wanted = (*TRAIN_BATCHES, TEST_BATCH, "batches.meta")
    if path.is_dir():
        folder = path / FOLDER if (path / FOLDER).is_dir() else path
        return {n: (folder / n).read_bytes() for n in wanted if (folder / n).is_file()}
    with tarfile.open(path, "r:gz") as tar:
        return {Path(m.name).name: tar.extractfile(m).read() for m in tar.getmembers()
                if m.isfile() and Path(m.name).name in wanted}  # fmt: skip


def load_cifar10(path: str | Path) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], tuple]:
    """((train images, labels), (test images, labels), class names) from the archive or its folder."""
    path = Path(path)
    if not path.exists():
        raise DataError(
            f"CIFAR-10 not found at '{path}'; download {ARCHIVE} from https://www.cs.toronto.edu/~kriz/cifar.html "
            f"and give its path (or the extracted {FOLDER} folder): --data cifar10:PATH"
        )
    try:
        members = _members(path)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:  # EOFError: a truncated gzip stream
        raise DataError(f"CIFAR-10 archive '{path}' could not be read (truncated or damaged?): {exc}") from None
    absent = [n for n in (*TRAIN_BATCHES, TEST_BATCH) if n not in members]
    if absent:
        raise DataError(f"CIFAR-10 at '{path}' lacks {', '.join(absent)}; give the official {ARCHIVE}")
    train = [_load_batch(members[n], n) for n in TRAIN_BATCHES]
    test = _load_batch(members[TEST_BATCH], TEST_BATCH)
    names = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    if "batches.meta" in members:
        names = _label_names(members["batches.meta"]) or names
    x = np.concatenate([b[0] for b in train])
    y = np.concatenate([b[1] for b in train])
    return (x, y), test, names


def _label_names(raw: bytes) -> tuple[str, ...]:
    """The class names of `batches.meta`, through the same restricted unpickler; a refused or malformed
    metadata batch is a one-line error, not a traceback."""
    try:
        meta = _RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load()
        names = tuple(n.decode() for n in meta.get(b"label_names", []))
    except (pickle.UnpicklingError, AttributeError, TypeError, ValueError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"CIFAR-10 batch 'batches.meta' is not in the CIFAR-10 format: {exc}") from None
    if names and len(names) != 10:
        raise DataError(f"CIFAR-10 batch 'batches.meta' names {len(names)} classes; CIFAR-10 has 10")
    return names
