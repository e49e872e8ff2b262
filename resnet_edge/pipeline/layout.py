"""The run folder of `resnet-edge build`: every path in it, named once.

runs/<name>/config.yaml     the resolved configuration (re-running it reproduces the run)
            baseline/       the uncompressed model (train)
            pruned/         the depth-pruned, fine-tuned model (prune), block scores, Pareto plot
            export/         validated TFLite/ONNX artifacts, labels.txt, the export manifest
            export/unpruned the unpruned model as TFLite fp32, when pruning removed blocks (the yardstick)
            deploy<S>/      each architecture as TFLite at the deploy size S (bench.deploy_size)
            bench.json      every artifact against the uncompressed Keras model, measured in one run
            manifest.json   sha256 of every model and artifact, versions, seed, input spec
            report.md/html  tables and plots
            .stages/        one marker per finished stage (what reuse checks)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from resnet_edge.export import MANIFEST as EXPORT_MANIFEST
from resnet_edge.models.io import MODEL, MODEL_CONFIG
from resnet_edge.prune import PRUNE_LOG

RUN_MANIFEST = "manifest.json"


class _At:
    """A path inside the run folder, named once: `RunLayout(root).baseline_model` is root/baseline/model.keras."""

    def __init__(self, *parts: str) -> None:
        self.parts = parts

    def __get__(self, layout: RunLayout, owner: type | None = None) -> Path:
        return layout.root.joinpath(*self.parts)


@dataclass(frozen=True)
class RunLayout:
    root: Path

    config = _At("config.yaml")
    baseline = _At("baseline")
    baseline_model = _At("baseline", MODEL)
    baseline_config = _At("baseline", MODEL_CONFIG)
    metrics = _At("baseline", "metrics.json")
    pruned = _At("pruned")
    pruned_model = _At("pruned", MODEL)
    prune_log = _At("pruned", PRUNE_LOG)
    export = _At("export")
    export_manifest = _At("export", EXPORT_MANIFEST)
    unpruned = _At("export", "unpruned")  # the unpruned model as TFLite fp32: what separates depth and int8
    unpruned_manifest = _At("export", "unpruned", EXPORT_MANIFEST)
    unpruned_tflite = _At("export", "unpruned", "model_fp32.tflite")
    unpruned_onnx = _At("export", "unpruned", "model_fp32.onnx")
    bench = _At("bench.json")
    bench_plot = _At("bench.png")
    confusion_plot = _At("confusion.png")
    manifest = _At(RUN_MANIFEST)
    report_md = _At("report.md")
    report_html = _At("report.html")
    markers = _At(".stages")

    def deploy(self, size: int) -> Path:
        return self.root / f"deploy{size}"

    def deploy_folders(self) -> list[Path]:
        return sorted(self.root.glob("deploy*"))

    def compressed_model(self) -> Path:
        """The model export starts from: the pruned one when pruning ran, else the baseline."""
        return self.pruned_model if self.pruned_model.exists() else self.baseline_model

    def rel(self, path: Path) -> str:
        return str(path.relative_to(self.root))
