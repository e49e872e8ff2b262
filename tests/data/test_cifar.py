"""The CIFAR-10 loader reads the official format and nothing else (no code in pickles runs)."""

from __future__ import annotations

import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from resnet_edge.data.cifar import TEST_BATCH, TRAIN_BATCHES, load_cifar10
from resnet_edge.errors import DataError


def _batch(n: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    data = {b"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, n))}
    return pickle.dumps({k: (v if k == b"data" else [int(i) for i in v]) for k, v in data.items()}, protocol=2)


def _archive(path, batches: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, raw in batches.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))


def test_reads_the_official_layout(tmp_path) -> None:
    path = tmp_path / "cifar-10-python.tar.gz"
    meta = pickle.dumps({b"label_names": [f"c{i}".encode() for i in range(10)]})
    _archive(path, {**{n: _batch(4, i) for i, n in enumerate(TRAIN_BATCHES)}, TEST_BATCH: _batch(3, 9),
                    "batches.meta": meta})  # fmt: skip
    (x, y), (xt, yt), names = load_cifar10(path)
    assert x.shape == (20, 32, 32, 3) and xt.shape == (3, 32, 32, 3) and names[0] == "c0"
    raw = np.frombuffer(pickle.loads(_batch(4, 0))[b"data"], dtype=np.uint8).reshape(4, 3, 32, 32)
    np.testing.assert_array_equal(x[:4], raw.transpose(0, 2, 3, 1))  # channels last


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_a_pickle_that_runs_code_is_refused(tmp_path) -> None:
    path = tmp_path / "cifar-10-python.tar.gz"
    batches = {n: _batch(2, i) for i, n in enumerate(TRAIN_BATCHES)}
    batches[TEST_BATCH] = pickle.dumps({b"data": _Evil(), b"labels": [0]})
    _archive(path, batches)
    with pytest.raises(DataError, match="not in the CIFAR-10 format"):
        load_cifar10(path)


def test_missing_archive_says_where_to_put_it(tmp_path) -> None:
    with pytest.raises(DataError, match="download cifar-10-python.tar.gz"):
        load_cifar10(tmp_path / "cifar-10-python.tar.gz")


def test_cifar_test_batch_is_the_test_split_and_validation_comes_from_training(tmp_path) -> None:
    from resnet_edge.data import load_data
    from resnet_edge.data.config import DataConfig

    path = tmp_path / "cifar-10-python.tar.gz"
    meta = pickle.dumps({b"label_names": [f"c{i}".encode() for i in range(10)]})
    _archive(path, {**{n: _batch(20, i) for i, n in enumerate(TRAIN_BATCHES)}, TEST_BATCH: _batch(7, 9),
                    "batches.meta": meta})  # fmt: skip
    data = load_data(DataConfig(source=f"cifar10:{path}", val_split=0.2), size=32, channels=3)
    _, (xt, _), _ = load_cifar10(path)
    np.testing.assert_array_equal(data.x_test, xt)  # the official test batch, untouched
    assert len(data.y_train) + len(data.y_val) == 100 and 10 <= len(data.y_val) <= 30
