from __future__ import annotations

import hashlib
import json
from pathlib import Path

from resnet_edge.cli import main

RUNS = ["plain14", "plain8", "resnet14", "resnet8"]


def _snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    """{relative path: (mtime in ns, sha256)} of every file under `folder`."""
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def test_degradation_trains_plain_and_residual_twins_into_one_figure(tmp_path: Path, capsys) -> None:
    out = tmp_path / "study"
    args = ["degradation", "--depths", "8,14", "--epochs", "1", "--per-class", "8", "--batch-size", "16",
            "--out", str(out)]  # fmt: skip
    code = main(args)
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "degradation.json").read_text())
    assert sorted(summary) == RUNS
    assert (out / "degradation.png").stat().st_size > 10_000
    runs = {name: _snapshot(out / name) for name in RUNS}
    for name, files in runs.items():
        assert {"model.keras", "train_state.json", "metrics.json", "history.csv"} <= set(files), name
        assert json.loads((out / name / "train_state.json").read_text())["status"] == "complete"
    first = " ".join(capsys.readouterr().out.split())
    assert all(f"training {name} on" in first for name in RUNS) and "training already complete" not in first
    # running it again reuses the finished runs: nothing in a run folder is trained or written again
    assert main(args) == 0, capsys.readouterr().err
    said = " ".join(capsys.readouterr().out.split())
    assert said.count("training already complete") == 4, said
    assert "epoch 1" not in said and not any(f"training {name} on" in said for name in RUNS), said
    for name, files in runs.items():
        assert _snapshot(out / name) == files, f"{name} was rewritten"
    assert json.loads((out / "degradation.json").read_text()) == summary


def test_degradation_rejects_bad_depth_lists(tmp_path: Path, capsys) -> None:
    assert main(["degradation", "--depths", "20,x", "--out", str(tmp_path)]) == 2
    assert "depths '20,x' are not accepted" in capsys.readouterr().err


def test_data_synth_writes_a_folder(tmp_path: Path, capsys) -> None:
    out = tmp_path / "synth"
    assert main(["data", "synth", "--out", str(out), "--size", "32", "--per-class", "2"]) == 0
    assert len(list(out.rglob("*.png"))) == 10
    assert main(["data", "synth", "--out", str(out)]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
