"""build(BuildConfig, out=) -> BuildResult: train -> prune -> quantize/export -> bench -> report, in one run folder.

The folder's layout is `RunLayout` (layout.py). Each stage is cached by a hash of its configuration and of the
stages before it (`.stages/<stage>.json`, written last and atomically, with the sha256 of every file the stage
wrote): re-running the same command skips finished stages; a changed option or a changed file redoes its stage
and everything after. A killed training resumes from its last epoch.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from resnet_edge.config import BuildConfig, QuantMode
from resnet_edge.console import console
from resnet_edge.data import Dataset
from resnet_edge.fsutil import changed, digests, sha256, write_json, write_text
from resnet_edge.pipeline.layout import RunLayout

STAGES = ("train", "prune", "export", "bench", "report")


@dataclass(frozen=True)
class BuildResult:
    out: Path
    ran: tuple[str, ...]  # stages run this time
    cached: tuple[str, ...]  # stages reused from an earlier run
    bench_path: Path
    report_path: Path
    invalid: tuple[str, ...]  # artifacts that failed validation


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class StageMarkers:
    """The run folder's stage markers: what ran, with which key, and the digests of what it wrote."""

    def __init__(self, layout: RunLayout) -> None:
        self.layout = layout

    def done(self, stage: str, key: str) -> dict[str, Any] | None:
        """The stage's marker when it ran with this key and every file it produced is still there, unchanged."""
        path = self.layout.markers / f"{stage}.json"
        if not path.exists():
            return None
        try:
            mark = json.loads(path.read_text())
            files = mark["files"]
            matches = mark.get("key") == key
        except (ValueError, KeyError, TypeError):  # a damaged or foreign marker: redo the stage
            console.print(f"[yellow]{stage}: marker {path} is unreadable; running the stage again[/yellow]")
            return None
        if not matches:
            return None
        missing = changed(files, self.layout.root)
        if missing:
            console.print(f"[yellow]{stage}: {missing[0]} is missing or changed since the stage ran "
                          f"({len(missing)} file(s)); running it again[/yellow]")  # fmt: skip
            return None
        return mark

    def mark(self, stage: str, key: str, seconds: float, outputs: list[Path], **info: Any) -> None:
        """Written last: the key, the time, and the sha256 of every file the stage produced (what reuse checks)."""
        files = digests(*outputs, root=self.layout.root)
        write_json(self.layout.markers / f"{stage}.json", {"key": key, "seconds": seconds, "files": files, **info})

    def reset(self, stage: str, *paths: Path) -> None:
        """Forget a stage whose inputs changed: its marker and its outputs go."""
        (self.layout.markers / f"{stage}.json").unlink(missing_ok=True)
        for path in paths:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)


def _stage_keys(config: BuildConfig) -> dict[str, str]:
    keys = {"train": _key(config.model.to_dict(), config.data, config.train.to_dict())}
    keys["prune"] = _key(keys["train"], config.prune.to_dict() if config.prune else None)
    keys["export"] = _key(keys["prune"], config.quantize.to_dict(), config.export.to_dict())
    keys["bench"] = _key(keys["export"], config.bench.to_dict())
    return keys


def _outputs(config: BuildConfig, layout: RunLayout) -> dict[str, list[Path]]:
    from resnet_edge.pipeline.deploy import deploy_folder

    deploy = sorted(set(layout.deploy_folders()) | set(deploy_folder(config, layout)))  # an earlier size's too
    return {"train": [layout.baseline], "prune": [layout.pruned], "export": [layout.export],
            "bench": [layout.bench, *deploy]}  # fmt: skip


def build(config: BuildConfig, *, out: str | Path) -> BuildResult:
    """Run every stage of `config` into `out`, reusing the stages whose inputs did not change."""
    from resnet_edge.data import load_data

    layout = RunLayout(Path(out))
    markers = StageMarkers(layout)
    layout.root.mkdir(parents=True, exist_ok=True)
    write_text(layout.config, yaml.safe_dump(config.to_dict(), sort_keys=False))
    data = load_data(config.data, size=config.model.input_size, channels=config.model.channels)
    console.print(data.summary(), markup=False, soft_wrap=True)
    for line in data.skipped:
        console.print(f"[yellow]skipped {line}[/yellow]", soft_wrap=True)
    keys, outputs = _stage_keys(config), _outputs(config, layout)
    steps: dict[str, Callable[[], dict[str, Any]]] = {
        "train": lambda: _train(config, data, layout, keys["train"]),
        "prune": lambda: _prune(config, data, layout),
        "export": lambda: _export(config, data, layout),
        "bench": lambda: _bench(config, data, layout),
    }
    ran, cached, info = [], [], {}
    for i, stage in enumerate(STAGES[:-1], start=1):
        mark = None if ran else markers.done(stage, keys[stage])  # once a stage ran, every later one runs again
        if mark is not None:
            console.print(f"[{i}/{len(STAGES)}] {stage}: [dim]cached ({mark['seconds']:.0f} s when run)[/dim]")
            cached.append(stage)
            info[stage] = mark
            continue
        if stage != "train" or not _same_training(layout, keys[stage]):
            markers.reset(stage, *outputs[stage])
        console.rule(f"[{i}/{len(STAGES)}] {stage}")
        start = time.perf_counter()
        info[stage] = steps[stage]()
        markers.mark(stage, keys[stage], time.perf_counter() - start, outputs[stage], **info[stage])
        ran.append(stage)
    console.rule(f"[{len(STAGES)}/{len(STAGES)}] report")
    _manifest(config, layout, keys, info)
    from resnet_edge.pipeline.report import write_report

    report = write_report(layout.root)
    ran.append("report")
    invalid = tuple(info["export"].get("invalid", []))
    return BuildResult(layout.root, tuple(ran), tuple(cached), layout.bench, report, invalid)


BUILD_KEY = ".build_key"  # in baseline/: the train key of an unfinished training, so a rerun resumes it


def _same_training(layout: RunLayout, key: str) -> bool:
    """A training run of this configuration left unfinished (killed): resume it rather than start over."""
    from resnet_edge.train import has_run

    key_file = layout.baseline / BUILD_KEY
    return has_run(layout.baseline) and key_file.exists() and key_file.read_text() == key


def _train(config: BuildConfig, data: Dataset, layout: RunLayout, key: str) -> dict[str, Any]:
    from resnet_edge.train import has_run, train

    out = layout.baseline
    resume = has_run(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / BUILD_KEY, key)
    result = train(replace(config.model, classes=data.num_classes), data, config.train, out=out, resume=resume)
    return {"model": layout.rel(layout.baseline_model), "val_accuracy": 100 * result.best_val_accuracy,
            "images_per_second": result.images_per_second}  # fmt: skip


def _prune(config: BuildConfig, data: Dataset, layout: RunLayout) -> dict[str, Any]:
    from resnet_edge.models.io import load_keras, load_model_config
    from resnet_edge.prune import prune

    baseline = layout.baseline_model
    if config.prune is None:
        return {"model": layout.rel(baseline), "skipped": True}
    result = prune(load_keras(baseline), load_model_config(baseline), data, config.prune, out=layout.pruned)
    return {"model": layout.rel(layout.pruned_model), "depth": result.model_config.arch.depth,
            "macs_ratio": result.final_macs / result.base_macs, "val_accuracy": result.final_accuracy}  # fmt: skip


def _export(config: BuildConfig, data: Dataset, layout: RunLayout) -> dict[str, Any]:
    from resnet_edge.export import export
    from resnet_edge.models.io import load_keras, load_model_config

    source, baseline = layout.compressed_model(), layout.baseline_model
    result = export(load_keras(source), data=data, config=config.export, quantize=config.quantize,
                    out=layout.export, model_config=load_model_config(source))  # fmt: skip
    # the unpruned model as fp32 TFLite and ONNX: what separates the runtime's share of the speed-up from depth's
    # and int8's (when the search removed nothing, the export's own fp32 files are that model)
    if load_model_config(source).arch != load_model_config(baseline).arch:
        unpruned = replace(config.export, modes=(QuantMode.FP32,))
        export(load_keras(baseline), data=data, config=unpruned, quantize=config.quantize, out=layout.unpruned,
               model_config=load_model_config(baseline))  # fmt: skip
    return {"source": layout.rel(source), "artifacts": [a.path.name for a in result.artifacts],
            "invalid": list(result.invalid)}  # fmt: skip


def _bench(config: BuildConfig, data: Dataset, layout: RunLayout) -> dict[str, Any]:
    from resnet_edge.bench import measure
    from resnet_edge.pipeline.deploy import deploy_bench
    from resnet_edge.tables import print_bench

    baseline = layout.baseline_model
    artifacts = [p for p in (layout.pruned_model, layout.unpruned_tflite, layout.unpruned_onnx) if p.exists()]
    artifacts += sorted(layout.export.glob("*.tflite")) + sorted(layout.export.glob("*.onnx"))
    reference = next((p for p in artifacts if p.suffix == ".tflite" and "fp32" in p.name), None)  # unpruned first
    result = _named(measure(artifacts, baseline=baseline, reference=reference, data=data, config=config.bench),
                    [baseline, *artifacts], layout)  # fmt: skip
    result = _attribute(result, layout)
    print_bench(result)
    deploy = deploy_bench(config, data, layout)
    if deploy is not None:
        result = replace(result, deploy=deploy)
        size = deploy.input_size
        print_bench(deploy, f"at deploy size {size}x{size} (latency only: the models were trained at "
                            f"{config.model.input_size}x{config.model.input_size})")  # fmt: skip
    write_json(layout.bench, result.to_dict())
    return {"rows": len(result.rows)}


def _attribute(result: Any, layout: RunLayout) -> Any:
    """Per runtime, the speed-up of the int8 artifact over the Keras model as runtime x depth x int8: Keras ->
    the unpruned fp32 artifact -> the pruned fp32 one -> the pruned int8 one (depth is absent when nothing was
    removed), all from the same interleaved run."""
    measured = {row.name for row in result.rows}
    for suffix in (".tflite", ".onnx"):
        unpruned = layout.unpruned / f"model_fp32{suffix}"
        links = [(layout.baseline_model, ""), (unpruned, "runtime"), (layout.export / f"model_fp32{suffix}", "depth"),
                 (layout.export / f"model_int8{suffix}", "int8")]  # fmt: skip
        links = [(layout.rel(p), label) for p, label in links if layout.rel(p) in measured]
        if len(links) < 3 or links[-1][1] != "int8":
            continue
        if links[1][1] == "depth":  # nothing removed: the export's fp32 file is the unpruned model
            links[1] = (links[1][0], "runtime")
        result = result.attribute([p for p, _ in links], [label for _, label in links[1:]])
    return result


def _named(result: Any, paths: list[Path], layout: RunLayout) -> Any:
    """bench.json rows named by their paths in the run folder: unique and findable."""
    return result.renamed({row.name: layout.rel(path) for row, path in zip(result.rows, paths, strict=True)})


def _manifest(config: BuildConfig, layout: RunLayout, keys: dict[str, str], info: dict[str, Any]) -> None:
    """The run's manifest: the export manifest (artifacts, input spec, versions) plus the Keras models."""
    export_manifest = json.loads(layout.export_manifest.read_text())
    models = {}
    for path in (layout.baseline_model, layout.pruned_model):
        if path.exists():
            models[layout.rel(path)] = {"sha256": sha256(path), "bytes": path.stat().st_size}
    for artifact in export_manifest["artifacts"]:
        artifact["path"] = layout.rel(layout.export / artifact["path"])
    write_json(layout.manifest, {**export_manifest, "run": str(layout.root), "stage_keys": keys,
                                 "keras_models": models, "seed": config.train.seed,
                                 "stages": info})  # fmt: skip
