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


@dataclass(frozen=True)
class RunLayout:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def baseline(self) -> Path:
        return self.root / "baseline"

    @property
    def baseline_model(self) -> Path:
        return self.baseline / MODEL

    @property
    def baseline_config(self) -> Path:
        return self.baseline / MODEL_CONFIG

    @property
    def metrics(self) -> Path:
        return self.baseline / "metrics.json"

    @property
    def pruned(self) -> Path:
        return self.root / "pruned"

    @property
    def pruned_model(self) -> Path:
        return self.pruned / MODEL

    @property
    def prune_log(self) -> Path:
        return self.pruned / PRUNE_LOG

    @property
    def export(self) -> Path:
        return self.root / "export"

    @property
    def export_manifest(self) -> Path:
        return self.export / EXPORT_MANIFEST

    @property
    def unpruned(self) -> Path:
        """The unpruned model as TFLite fp32: what separates depth and int8 from the runtime."""
        return self.export / "unpruned"

    @property
    def unpruned_manifest(self) -> Path:
        return self.unpruned / EXPORT_MANIFEST

    @property
    def unpruned_tflite(self) -> Path:
        return self.unpruned / "model_fp32.tflite"

    @property
    def bench(self) -> Path:
        return self.root / "bench.json"

    @property
    def bench_plot(self) -> Path:
        return self.root / "bench.png"

    @property
    def manifest(self) -> Path:
        return self.root / RUN_MANIFEST

    @property
    def report_md(self) -> Path:
        return self.root / "report.md"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"

    @property
    def markers(self) -> Path:
        return self.root / ".stages"

    def deploy(self, size: int) -> Path:
        return self.root / f"deploy{size}"

    def deploy_folders(self) -> list[Path]:
        return sorted(self.root.glob("deploy*"))

    def compressed_model(self) -> Path:
        """The model export starts from: the pruned one when pruning ran, else the baseline."""
        return self.pruned_model if self.pruned_model.exists() else self.baseline_model

    def rel(self, path: Path) -> str:
        return str(path.relative_to(self.root))
