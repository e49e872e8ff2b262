from __future__ import annotations

import json
from pathlib import Path

from resnet_edge.cli import main


def test_degradation_trains_plain_and_residual_twins_into_one_figure(tmp_path: Path, capsys) -> None:
    out = tmp_path / "study"
    code = main(["degradation", "--depths", "8,14", "--epochs", "1", "--per-class", "8", "--batch-size", "16",
                 "--out", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "degradation.json").read_text())
    assert sorted(summary) == ["plain14", "plain8", "resnet14", "resnet8"]
    assert (out / "degradation.png").stat().st_size > 10_000
    # running it again reuses the finished runs
    assert main(["degradation", "--depths", "8,14", "--epochs", "1", "--per-class", "8", "--batch-size", "16",
                 "--out", str(out)]) == 0  # fmt: skip


def test_degradation_rejects_bad_depth_lists(tmp_path: Path, capsys) -> None:
    assert main(["degradation", "--depths", "20,x", "--out", str(tmp_path)]) == 2
    assert "depths '20,x' are not accepted" in capsys.readouterr().err


def test_data_synth_writes_a_folder(tmp_path: Path, capsys) -> None:
    out = tmp_path / "synth"
    assert main(["data", "synth", "--out", str(out), "--size", "32", "--per-class", "2"]) == 0
    assert len(list(out.rglob("*.png"))) == 10
    assert main(["data", "synth", "--out", str(out)]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
