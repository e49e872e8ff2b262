from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from resnet_edge.data import load_data, parse_source, stratified_split
from resnet_edge.data.config import DataConfig
from resnet_edge.data.folder import read_folder, read_image
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
    # the test split (0.2, stratified: one image per class) is held out of the training folder first
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (10, 4, 2)
    assert data.class_names == ("cat", "dog")
    test = load_data(DataConfig(source=f"folder:{train}", val_source=f"folder:{val}", test_source=f"folder:{val}"),
                     size=32, channels=3)  # fmt: skip
    assert (len(test.x_train), len(test.x_val), len(test.x_test)) == (12, 4, 4)  # --test-data: nothing held out


def test_the_three_splits_are_disjoint_and_stratified(tmp_path) -> None:
    root = _folder(tmp_path / "all", per_class=20)
    data = load_data(DataConfig(source=f"folder:{root}"), size=32, channels=3)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (26, 6, 8)  # test 4 a class, then val 3 of 16
    assert np.bincount(data.y_test).tolist() == [4, 4] and np.bincount(data.y_val).tolist() == [3, 3]
    rows = {x.tobytes() for x in data.x_train}
    assert not rows & {x.tobytes() for x in data.x_test} and not rows & {x.tobytes() for x in data.x_val}


def _gradient() -> np.ndarray:
    """A 16x16 8-bit image with a horizontal gradient and a bright top-left corner (orientation visible)."""
    img = np.tile(np.linspace(0, 255, 16).astype(np.uint8), (16, 1))
    img[:4, :4] = 255
    return img


def test_16_bit_images_are_scaled_not_clipped(tmp_path) -> None:
    eight = _gradient()
    Image.fromarray(eight).save(tmp_path / "eight.png")
    Image.fromarray(eight.astype(np.uint16) * 257).save(tmp_path / "sixteen.png")  # 255 -> 65535
    assert Image.open(tmp_path / "sixteen.png").mode.startswith("I")  # PIL really reads 16 bits
    a, b = read_image(tmp_path / "eight.png", 16, 1), read_image(tmp_path / "sixteen.png", 16, 1)
    assert np.array_equal(a, b)


def test_exif_orientation_is_applied(tmp_path) -> None:
    upright = _gradient()
    stored = Image.fromarray(np.rot90(upright, k=1).copy())  # the sensor pixels: upright turned 90 degrees CCW
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation 6: "rotate 90 CW to display": the viewer turns it back upright
    stored.save(tmp_path / "camera.jpg", exif=exif.tobytes(), quality=100)
    got = read_image(tmp_path / "camera.jpg", 16, 1)[..., 0].astype(int)
    assert np.abs(got - upright.astype(int)).mean() < 4  # JPEG noise only
    assert got[:4, :4].mean() > 240  # the bright corner is back at the top left


def test_gif_first_frame_hidden_files_and_other_files(tmp_path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.fromarray(_gradient()).save(tmp_path / name / "ok.png")
    frames = [Image.fromarray(np.full((16, 16), v, np.uint8)) for v in (200, 10)]
    frames[0].save(tmp_path / "a" / "anim.gif", save_all=True, append_images=frames[1:])
    (tmp_path / "a" / ".DS_Store").write_bytes(b"\x00garbage")
    (tmp_path / "a" / ".thumbs").mkdir()
    Image.fromarray(_gradient()).save(tmp_path / "a" / ".thumbs" / "t.png")
    (tmp_path / "b" / "notes.txt").write_text("not an image")
    x, y, names, skipped = read_folder(tmp_path, size=16, channels=1)
    assert names == ("a", "b") and list(y) == [0, 0, 1]  # anim.gif and ok.png in a; the hidden ones ignored
    assert abs(int(x[0].mean()) - 200) <= 2  # the GIF's first frame
    assert len(skipped) == 1 and "notes.txt: not an image file" in skipped[0]


def test_streamed_folder_trains_from_disk_like_the_in_memory_one(tmp_path) -> None:
    """--stream keeps the training images on disk: the same images, decoded by the same reader, batch by batch."""
    from resnet_edge.data.folder import ImageFiles
    from resnet_edge.data.pipeline import train_dataset

    root = _folder(tmp_path / "d", per_class=10)
    memory = load_data(DataConfig(source=f"folder:{root}", stream=False), size=16, channels=3)
    streamed = load_data(DataConfig(source=f"folder:{root}", stream=True), size=16, channels=3)
    assert isinstance(streamed.x_train, ImageFiles) and streamed.streamed and not memory.streamed
    assert np.array_equal(streamed.x_train[np.arange(len(streamed.x_train))], memory.x_train)
    assert np.array_equal(streamed.x_val, memory.x_val) and streamed.channel_stats() == memory.channel_stats()
    kwargs = {"num_classes": 2, "batch_size": 4, "seed": 3, "augment": False}
    a = np.concatenate([b[0].numpy() for b in train_dataset(memory.x_train, memory.y_train, **kwargs)])
    b = np.concatenate([b[0].numpy() for b in train_dataset(streamed.x_train, streamed.y_train, **kwargs)])
    assert a.shape == b.shape and np.array_equal(np.sort(a.reshape(len(a), -1), 0), np.sort(b.reshape(len(b), -1), 0))
    assert "streamed from disk" in streamed.summary() and "cat 6, dog 6" in streamed.summary()


def test_streamed_folder_with_an_on_disk_cache(tmp_path) -> None:
    from resnet_edge.data.pipeline import train_dataset

    root = _folder(tmp_path / "d", per_class=10)
    cache = tmp_path / "cache" / "decoded"
    cache.parent.mkdir()
    streamed = load_data(DataConfig(source=f"folder:{root}", stream=True, stream_cache=str(cache)), size=16, channels=3)
    memory = load_data(DataConfig(source=f"folder:{root}", stream=False), size=16, channels=3)
    kwargs = {"num_classes": 2, "batch_size": 4, "seed": 3, "augment": False}
    for _ in range(2):  # the second epoch reads the cache
        b = np.concatenate([b[0].numpy() for b in train_dataset(streamed.x_train, streamed.y_train, **kwargs)])
        a = np.sort(memory.x_train.reshape(len(memory.x_train), -1), 0)
        assert np.array_equal(np.sort(b.reshape(len(b), -1), 0), a)
    assert list(cache.parent.glob("decoded*"))  # the cache file was written
