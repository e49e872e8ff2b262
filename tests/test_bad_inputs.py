"""Broken and hostile inputs, by class: every file the toolkit reads back, malformed, truncated, of the wrong
type or kind, and options that are files where folders go, unwritable, absurd or overflowing. Each case must
end in one bounded line on stderr, exit 2 (no traceback), and leave earlier good output as it was.
"""

from __future__ import annotations

import io
import json
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from resnet_edge.cli import MAX_ERROR_CHARS, main
from resnet_edge.fsutil import write_json
from resnet_edge.models.config import ModelConfig
from resnet_edge.models.resnet import build_resnet


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A ResNet-8 saved as train leaves it: model.keras beside model_config.json and labels.txt."""
    folder = tmp_path_factory.mktemp("model")
    config = ModelConfig(depth=8, classes=5)
    build_resnet(config).save(folder / "model.keras")
    write_json(folder / "model_config.json", config.to_dict())
    (folder / "labels.txt").write_text("good\nscratch\ncrack\nspot\nhole\n")
    return folder


@pytest.fixture(scope="module")
def tflite(model_dir: Path, tmp_path_factory) -> Path:
    from resnet_edge.export.tflite import to_tflite_fp32
    from resnet_edge.models.io import load_keras

    return to_tflite_fp32(load_keras(model_dir / "model.keras"), tmp_path_factory.mktemp("t") / "model.tflite")


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def _one_line(capsys, args: list[str], code: int = 2) -> str:
    got = main([str(a) for a in args])
    err = capsys.readouterr().err.strip()
    assert got == code, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert len(err) <= MAX_ERROR_CHARS + 40
    return err


# ---------------------------------------------------------------------------------- files the toolkit wrote
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{garbage", "is not a model_config.json"),
        (json.dumps({"depth": 8, "colour": "red"}), "unknown key 'colour'"),
        (json.dumps({"depth": "eight"}), "is not a model_config.json"),
        (json.dumps([8, 8]), "not list"),
    ],
)
def test_damaged_model_config(tmp_path: Path, model_dir: Path, capsys, content: str, expected: str) -> None:
    folder = _copy(model_dir, tmp_path / "m")
    (folder / "model_config.json").write_text(content)
    for command in (["prune", "--threshold", "0.1", "--out", tmp_path / "p"], ["export", "--out", tmp_path / "e"]):
        err = _one_line(capsys, [*command, "--model", folder / "model.keras", "--per-class", "4"])
        assert expected in err
    assert not (tmp_path / "p").exists() or not any((tmp_path / "p").iterdir())


@pytest.mark.parametrize("content", ["not json", json.dumps({"status": "complete"}), json.dumps([1])])
def test_damaged_train_state(tmp_path: Path, capsys, content: str) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "train_state.json").write_text(content)
    args = ["train", "--depth", "8", "--per-class", "4", "--epochs", "1", "--batch-size", "8", "--resume"]
    err = _one_line(capsys, [*args, "--out", out])
    assert "damaged train_state.json" in err
    assert (out / "train_state.json").read_text() == content  # nothing overwritten


@pytest.mark.parametrize(
    ("bench", "expected"),
    [
        ("{", "not valid JSON"),
        (json.dumps({"rows": 5}), "is not the bench.json that `resnet-edge bench` (or build) writes"),
    ],
)
def test_damaged_bench_json_for_report(tmp_path: Path, capsys, bench: str, expected: str) -> None:
    (tmp_path / "bench.json").write_text(bench)
    assert expected in _one_line(capsys, ["report", tmp_path])


@pytest.mark.parametrize("name", ["pruned/prune.json", "baseline/metrics.json"])
def test_damaged_stage_results_for_report(tmp_path: Path, capsys, name: str) -> None:
    from resnet_edge.bench import BenchResult, Row
    from resnet_edge.config import BenchConfig

    row = Row("baseline/model.keras", "baseline/model.keras", "keras", 1, 1, 1, 1, 1.0, {"1": {"p50_ms": 1.0}})
    (tmp_path / "bench.json").write_text(json.dumps(BenchResult((row,), None, (1,), BenchConfig()).to_dict()))
    (tmp_path / name).parent.mkdir()
    (tmp_path / name).write_text(json.dumps({"steps": "none"}))
    err = _one_line(capsys, ["report", tmp_path])
    assert Path(name).name in err and "writes" in err


def test_damaged_manifest_and_labels_for_predict(tmp_path: Path, tflite: Path, capsys) -> None:
    from PIL import Image

    folder = tmp_path / "export"
    folder.mkdir()
    artifact = folder / "model.tflite"
    artifact.write_bytes(tflite.read_bytes())
    Image.new("RGB", (32, 32)).save(tmp_path / "img.png")
    (folder / "manifest.json").write_text('{"class_names": 5}')
    assert "is not an export manifest" in _one_line(capsys, ["predict", artifact, tmp_path / "img.png"])
    (folder / "labels.txt").write_bytes(b"\xff\xfe\x00binary")
    assert "is not UTF-8 text" in _one_line(capsys, ["predict", artifact, tmp_path / "img.png"])


@pytest.mark.parametrize("keep", [0, 100, 2000])
def test_truncated_tflite(tmp_path: Path, tflite: Path, capsys, keep: int) -> None:
    path = tmp_path / "cut.tflite"
    path.write_bytes(tflite.read_bytes()[:keep])
    assert "could not be read as a TFLite model" in _one_line(capsys, ["info", "--model", path])
    assert "could not be read as a TFLite model" in _one_line(
        capsys, ["bench", path, "--rounds", "5", "--threads", "1"]
    )


def test_keras_model_of_another_kind_for_export(tmp_path: Path, capsys) -> None:
    from resnet_edge._tf import keras

    inputs = keras.Input((10,))
    keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs)).save(tmp_path / "tabular.keras")
    err = _one_line(capsys, ["export", "--model", tmp_path / "tabular.keras", "--out", tmp_path / "e"])
    assert "export needs an image classifier" in err


# -------------------------------------------------------------------------------------------- CIFAR archives
def _cifar_archive(path: Path, meta: bytes | None = None) -> Path:
    batch = pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0]})
    members = {f"cifar-10-batches-py/data_batch_{i}": batch for i in range(1, 6)}
    members["cifar-10-batches-py/test_batch"] = batch
    members["cifar-10-batches-py/batches.meta"] = meta or pickle.dumps({b"label_names": [b"x"] * 10})
    with tarfile.open(path, "w:gz") as tar:
        for name, raw in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /dev/null",))


def test_truncated_cifar_archive_is_not_an_interruption(tmp_path: Path, capsys) -> None:
    archive = _cifar_archive(tmp_path / "cifar-10-python.tar.gz")
    archive.write_bytes(archive.read_bytes()[:-200])
    err = _one_line(capsys, ["train", "--depth", "8", "--data", f"cifar10:{archive}", "--out", tmp_path / "r"])
    assert "could not be read (truncated or damaged?)" in err


def test_cifar_metadata_that_would_run_code_is_refused(tmp_path: Path, capsys) -> None:
    archive = _cifar_archive(tmp_path / "cifar-10-python.tar.gz", meta=pickle.dumps({b"label_names": _Evil()}))
    err = _one_line(capsys, ["train", "--depth", "8", "--data", f"cifar10:{archive}", "--out", tmp_path / "r"])
    assert "batches.meta" in err and "posix.system is not part of the CIFAR-10 format" in err


# -------------------------------------------------------------------------------------------- YAML recipes
# a billion-laughs YAML: nine levels of six aliases each (10 million leaves when expanded)
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("train:\n  epochs: ten\n", "section 'train'"),
        ("bench:\n  threads: [1, many]\n", "are not accepted"),
        ("model:\n  depth: [50]\n", "depth"),
        ("train: 5\n", "must be a mapping"),
        (
            ALIAS_BOMB,
            "unknown section",
        ),  # fmt: skip
    ],
)
def test_bad_yaml_values(tmp_path: Path, capsys, yaml_text: str, expected: str) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml_text)
    assert expected in _one_line(capsys, ["build", "--config", recipe, "--out", tmp_path / "run"])
    assert not (tmp_path / "run").exists()


# -------------------------------------------------------------------------------- outputs, sizes, numbers
def test_out_that_is_a_file_or_under_a_file(tmp_path: Path, capsys) -> None:
    taken = tmp_path / "taken"
    taken.write_text("keep me")
    assert "is an existing file" in _one_line(capsys, ["train", "--depth", "8", "--out", taken])
    assert "is a file, not a folder" in _one_line(capsys, ["build", "--out", taken / "run"])
    assert taken.read_text() == "keep me"


def test_report_files_that_are_folders(tmp_path: Path, tflite: Path, capsys) -> None:
    (tmp_path / "j").mkdir()
    args = ["gate", "--candidate", tflite, "--baseline", tflite, "--rounds", "5"]
    assert "is an existing folder" in _one_line(capsys, [*args, "--junit", tmp_path / "j"])
    assert "is an existing folder" in _one_line(capsys, ["bench", tflite, "--out", tmp_path / "j"])


def test_absurd_image_size_is_refused_before_allocating(tmp_path: Path, capsys) -> None:
    err = _one_line(capsys, ["train", "--depth", "8", "--input-size", "200000", "--out", tmp_path / "r"])
    assert "needs" in err and "GB" in err and "free" in err


def test_absurd_batch_is_one_batch_of_the_data_with_a_word(tmp_path: Path, capsys) -> None:
    code = main(["train", "--depth", "8", "--per-class", "4", "--epochs", "1", "--batch-size", "1000000000",
                 "--min-accuracy", "0", "--out", str(tmp_path / "r")])  # fmt: skip
    assert code == 0 and "batch size 1000000000 > 15 training images: using 15" in capsys.readouterr().out


def test_threshold_that_overflows_is_refused(tmp_path: Path, tflite: Path, capsys) -> None:
    args = ["gate", "--candidate", tflite, "--baseline", tflite, "--rounds", "5"]
    assert "too large to be a threshold" in _one_line(capsys, [*args, "--max-slowdown", "9" * 400 + "%"])
    assert "too large to be a threshold" in _one_line(capsys, [*args, "--max-size", "9" * 400 + "MB"])


def test_damaged_stage_marker_redoes_the_stage(tmp_path: Path) -> None:
    from resnet_edge.pipeline import StageMarkers
    from resnet_edge.pipeline.layout import RunLayout

    run = StageMarkers(RunLayout(tmp_path))
    (tmp_path / ".stages").mkdir()
    (tmp_path / ".stages" / "train.json").write_text("{not json")
    assert run.done("train", "key") is None
    (tmp_path / ".stages" / "train.json").write_text(json.dumps({"key": "key"}))  # no file list
    assert run.done("train", "key") is None


@pytest.mark.parametrize(
    ("threads", "expected"), [("-1", "threads -1 are not accepted"), ("two", "Input should be a valid integer")]
)
def test_gate_threads_it_does_not_know(tflite: Path, capsys, threads: str, expected: str) -> None:
    args = ["gate", "--candidate", tflite, "--baseline", tflite, "--rounds", "5", "--threads", threads]
    assert expected in _one_line(capsys, args)


def test_gate_threads_zero_means_all_cores(tflite: Path, capsys) -> None:
    assert main(["gate", "--candidate", str(tflite), "--baseline", str(tflite), "--rounds", "5", "--threads", "0"]) == 0


def test_ctrl_c_says_so(tmp_path: Path) -> None:
    """SIGINT during training: one line that says what happened and what is kept, exit 130."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "resnet_edge", "train", "--depth", "8", "--per-class", "100", "--epochs", "200",
           "--min-accuracy", "0", "--out", str(out)]  # fmt: skip
    # a shell that starts jobs in the background (CI) ignores SIGINT for them, and an ignored signal stays
    # ignored across exec: give the child the default disposition a terminal's foreground job has
    restore = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=restore)
    deadline = time.time() + 120
    while not (out / "history.csv").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "resnet-edge: interrupted (Ctrl-C)" in err and len(err.strip().splitlines()) == 1
