from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from resnet_edge.config import DataConfig
from resnet_edge.data import load_data, parse_source, stratified_split
from resnet_edge.data.folder import read_folder
from resnet_edge.errors import DataError


def _folder(root, classes=("cat", "dog"), per_class=6, size=20):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (size, size + i, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def test_mixed_modes_and_formats_are_converted_and_resized(tmp_path) -> None:
    root = _folder(tmp_path / "d")
    Image.new("L", (40, 30), 128).save(root / "cat" / "gray.jpg")
    Image.new("RGBA", (10, 10), (255, 0, 0, 128)).save(root / "dog" / "alpha.png")
    Image.new("P", (16, 16)).save(root / "dog" / "palette.bmp")
    x, y, names, skipped = read_folder(root, size=32, channels=3)
    assert x.shape == (15, 32, 32, 3) and names == ("cat", "dog") and skipped == []
    gray, _, _, _ = read_folder(root, size=32, channels=1)
    assert gray.shape == (15, 32, 32, 1)
    assert np.bincount(y).tolist() == [7, 8]


def test_corrupt_files_are_skipped_and_named(tmp_path) -> None:
    root = _folder(tmp_path / "d")
    (root / "cat" / "broken.png").write_bytes(b"\x89PNG not really")
    good = root / "dog" / "0.png"
    (root / "dog" / "truncated.png").write_bytes(good.read_bytes()[:60])
    x, _, _, skipped = read_folder(root, size=32, channels=3)
    assert len(x) == 12
    assert len(skipped) == 2
    assert any("broken.png" in s for s in skipped) and any("truncated.png" in s for s in skipped)


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({}, "has 0 class sub-folder(s)"),
        ({"only": 3}, "has 1 class sub-folder(s) (only)"),
        ({"a": 3, "b": 0}, "has no readable image"),
    ],
)
def test_folder_errors(tmp_path, layout: dict, message: str) -> None:
    root = tmp_path / "d"
    root.mkdir()
    for c, n in layout.items():
        (root / c).mkdir()
        for i in range(n):
            Image.new("RGB", (8, 8)).save(root / c / f"{i}.png")
    with pytest.raises(DataError) as info:
        read_folder(root, size=32, channels=3)
    assert message in str(info.value)


def test_missing_folder(tmp_path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_folder(tmp_path / "nope", size=32, channels=3)


@pytest.mark.parametrize(
    ("source", "message"),
    [("imagenet", "not accepted; use one of: inspection, folder:DIR, cifar10:PATH"), ("folder", "lacks its path")],
)
def test_unknown_scheme(source: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        parse_source(source)


def test_stratified_split_is_seeded_and_keeps_every_class() -> None:
    labels = np.repeat(np.arange(3), [10, 20, 5])
    tr, va = stratified_split(labels, 0.2, seed=1)
    assert np.bincount(labels[va]).tolist() == [2, 4, 1]
    assert set(tr).isdisjoint(va) and len(tr) + len(va) == len(labels)
    np.testing.assert_array_equal(va, stratified_split(labels, 0.2, seed=1)[1])


def test_load_folder_with_explicit_validation(tmp_path) -> None:
    train, val = _folder(tmp_path / "train"), _folder(tmp_path / "val", per_class=2)
    data = load_data(DataConfig(source=f"folder:{train}", val_source=f"folder:{val}"), size=32, channels=3)
    assert (len(data.x_train), len(data.x_val)) == (12, 4)
    assert data.class_names == ("cat", "dog")
