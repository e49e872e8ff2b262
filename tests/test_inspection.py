"""An image folder with a good/ class: escape and false-reject rates reach metrics.json, bench.json and the manifest."""

from __future__ import annotations

import json
from pathlib import Path

from resnet_edge.cli import main


def test_a_good_folder_gives_escape_and_false_reject_rates(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "parts"
    assert main(["data", "synth", "--out", str(folder), "--size", "32", "--per-class", "12"]) == 0
    run = tmp_path / "run"
    data = ["--data", f"folder:{folder}"]
    args = ["train", "--depth", "8", "--epochs", "1", "--batch-size", "16", "--min-accuracy", "0", "--out", str(run)]
    assert main([*args, *data]) == 0, capsys.readouterr().err
    metrics = json.loads((run / "metrics.json").read_text())
    for split in ("validation", "test"):
        report = metrics[split]
        assert report["good_class"] == "good"
        n_good = report["confusion"][0]
        assert report["false_reject"]["n"] == sum(n_good)  # every good test part counted once
        assert report["escape"]["n"] == sum(map(sum, report["confusion"])) - sum(n_good)
        assert report["escape"]["low"] <= report["escape"]["value"] <= report["escape"]["high"]
    out = tmp_path / "bench.json"
    assert main(["bench", str(run / "model.keras"), *data, "--rounds", "5", "--threads", "1", "--out", str(out)]) == 0
    row = json.loads(out.read_text())["rows"][0]
    assert row["test"]["escape"] == metrics["test"]["escape"]  # the same model on the same test images
    assert row["accuracy"] == metrics["test"]["accuracy"]["value"]
    assert "escape %" in capsys.readouterr().out


def test_good_class_can_be_named_and_must_exist(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "parts"
    assert main(["data", "synth", "--out", str(folder), "--size", "32", "--per-class", "4"]) == 0
    code = main(["train", "--depth", "8", "--epochs", "1", "--data", f"folder:{folder}", "--good-class", "pass",
                 "--out", str(tmp_path / "r")])  # fmt: skip
    assert code == 2 and "good class 'pass' is not a class of the data" in capsys.readouterr().err
