"""build(BuildConfig, out=) -> BuildResult: train -> prune -> quantize/export -> bench -> report, in one run folder.

The only place that lays out a run folder:

    runs/<name>/config.yaml     the resolved configuration (re-running it reproduces the run)
                baseline/       the uncompressed model (train)
                pruned/         the depth-pruned, fine-tuned model (prune), block scores, Pareto plot
                export/         validated TFLite/ONNX artifacts, labels.txt, the export manifest
                bench.json      every artifact against the uncompressed Keras model, measured in one run
                manifest.json   sha256 of every model and artifact, versions, seed, input spec
                report.md/html  tables and plots

Each stage is cached by a hash of its configuration and of the stages before it (`.stages/<stage>.json`,
written last and atomically): re-running the same command skips finished stages; a changed option redoes
its stage and everything after. A killed training resumes from its last epoch.
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

from resnet_edge.config import BuildConfig, ExportFormat, QuantMode
from resnet_edge.console import console
from resnet_edge.fsutil import changed, digests, sha256, write_json, write_text

STAGES = ("train", "prune", "export", "bench", "report")
UNPRUNED = "export/unpruned"  # the unpruned model as TFLite fp32 (written by export when a pruned model exists)


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


class _Run:
    """The run folder and its stage markers."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.marks = out / ".stages"

    def done(self, stage: str, key: str) -> dict[str, Any] | None:
        """The stage's marker when it ran with this key and every file it produced is still there, unchanged."""
        path = self.marks / f"{stage}.json"
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
        missing = changed(files, self.out)
        if missing:
            console.print(f"[yellow]{stage}: {missing[0]} is missing or changed since the stage ran "
                          f"({len(missing)} file(s)); running it again[/yellow]")  # fmt: skip
            return None
        return mark

    def mark(self, stage: str, key: str, seconds: float, outputs: list[Path], **info: Any) -> None:
        """Written last: the key, the time, and the sha256 of every file the stage produced (what reuse checks)."""
        files = digests(*outputs, root=self.out)
        write_json(self.marks / f"{stage}.json", {"key": key, "seconds": seconds, "files": files, **info})

    def reset(self, stage: str, *paths: Path) -> None:
        """Forget a stage whose inputs changed: its marker and its outputs go."""
        (self.marks / f"{stage}.json").unlink(missing_ok=True)
        for path in paths:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)


def build(config: BuildConfig, *, out: str | Path, allow_invalid: bool = True) -> BuildResult:
    """Run every stage of `config` into `out`, reusing the stages whose inputs did not change."""
    from resnet_edge.data import load_data

    run = _Run(Path(out))
    run.out.mkdir(parents=True, exist_ok=True)
    write_text(run.out / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
    model = config.model
    data = load_data(config.data, size=model.input_size, channels=model.channels)
    console.print(data.summary(), markup=False, soft_wrap=True)
    for line in data.skipped:
        console.print(f"[yellow]skipped {line}[/yellow]", soft_wrap=True)
    keys = {"train": _key(config.model.to_dict(), config.data, config.train.to_dict())}
    keys["prune"] = _key(keys["train"], config.prune.to_dict() if config.prune else None)
    keys["export"] = _key(keys["prune"], config.quantize.to_dict(), config.export.to_dict())
    keys["bench"] = _key(keys["export"], config.bench.to_dict())
    steps: dict[str, Callable[[], dict[str, Any]]] = {
        "train": lambda: _train(config, data, run),
        "prune": lambda: _prune(config, data, run),
        "export": lambda: _export(config, data, run),
        "bench": lambda: _bench(config, data, run),
    }
    deploy = sorted(set(run.out.glob("deploy*")) | _deploy_dir(config, run))  # an earlier size's folder goes too
    outputs = {"train": [run.out / "baseline"], "prune": [run.out / "pruned"], "export": [run.out / "export"],
               "bench": [run.out / "bench.json", *deploy]}  # fmt: skip
    ran, cached, info = [], [], {}
    for i, stage in enumerate(STAGES[:-1], start=1):
        mark = None if ran else run.done(stage, keys[stage])  # once a stage ran, every later one runs again
        if mark is not None:
            console.print(f"[{i}/{len(STAGES)}] {stage}: [dim]cached ({mark['seconds']:.0f} s when run)[/dim]")
            cached.append(stage)
            info[stage] = mark
            continue
        if stage != "train" or not _same_training(run, keys[stage]):
            run.reset(stage, *outputs[stage])
        console.rule(f"[{i}/{len(STAGES)}] {stage}")
        start = time.perf_counter()
        info[stage] = steps[stage]()
        run.mark(stage, keys[stage], time.perf_counter() - start, outputs[stage], **info[stage])
        ran.append(stage)
    console.rule(f"[{len(STAGES)}/{len(STAGES)}] report")
    _manifest(config, run, keys, info)
    from resnet_edge.report import write_report

    report = write_report(run.out)
    ran.append("report")
    invalid = tuple(info["export"].get("invalid", []))
    return BuildResult(run.out, tuple(ran), tuple(cached), run.out / "bench.json", report, invalid)


def _same_training(run: _Run, key: str) -> bool:
    """A training run of this configuration left unfinished (killed): resume it rather than start over."""
    state = run.out / "baseline" / "train_state.json"
    key_file = run.out / "baseline" / ".build_key"
    return state.exists() and key_file.exists() and key_file.read_text() == key


def _train(config: BuildConfig, data, run: _Run) -> dict[str, Any]:
    from resnet_edge.train import train

    out = run.out / "baseline"
    resume = (out / "train_state.json").exists()
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / ".build_key", _key(config.model.to_dict(), config.data, config.train.to_dict()))
    result = train(replace(config.model, classes=data.num_classes), data, config.train, out=out, resume=resume)
    return {"model": "baseline/model.keras", "val_accuracy": 100 * result.best_val_accuracy,
            "images_per_second": result.images_per_second}  # fmt: skip


def _prune(config: BuildConfig, data, run: _Run) -> dict[str, Any]:
    from resnet_edge.models.io import load_keras
    from resnet_edge.prune import load_model_config, prune

    baseline = run.out / "baseline" / "model.keras"
    if config.prune is None:
        return {"model": "baseline/model.keras", "skipped": True}
    result = prune(load_keras(baseline), load_model_config(baseline), data, config.prune, out=run.out / "pruned")
    return {"model": "pruned/model.keras", "depth": result.model_config.arch.depth,
            "macs_ratio": result.final_macs / result.base_macs, "val_accuracy": result.final_accuracy}  # fmt: skip


def _compressed_model(run: _Run) -> Path:
    pruned = run.out / "pruned" / "model.keras"
    return pruned if pruned.exists() else run.out / "baseline" / "model.keras"


def _export(config: BuildConfig, data, run: _Run) -> dict[str, Any]:
    from resnet_edge.export import export
    from resnet_edge.models.io import load_keras
    from resnet_edge.prune import load_model_config

    source = _compressed_model(run)
    result = export(load_keras(source), data=data, config=config.export, quantize=config.quantize,
                    out=run.out / "export", model_config=load_model_config(source))  # fmt: skip
    baseline = run.out / "baseline" / "model.keras"
    # the unpruned model as TFLite fp32: the yardstick that separates depth and int8 from the runtime (when the
    # search removed nothing, the export's own fp32 file is that model)
    if load_model_config(source).arch != load_model_config(baseline).arch:
        unpruned = replace(config.export, formats=(ExportFormat.TFLITE,), modes=(QuantMode.FP32,))
        export(load_keras(baseline), data=data, config=unpruned, quantize=config.quantize, out=run.out / UNPRUNED,
               model_config=load_model_config(baseline))  # fmt: skip
    return {"source": str(source.relative_to(run.out)), "artifacts": [a.path.name for a in result.artifacts],
            "invalid": list(result.invalid)}  # fmt: skip


def _bench(config: BuildConfig, data, run: _Run) -> dict[str, Any]:
    from resnet_edge.bench import measure
    from resnet_edge.cli import print_bench

    baseline = run.out / "baseline" / "model.keras"
    export = run.out / "export"
    artifacts = [
        p for p in (run.out / "pruned" / "model.keras", run.out / UNPRUNED / "model_fp32.tflite") if p.exists()
    ]
    artifacts += sorted(export.glob("*.tflite")) + sorted(export.glob("*.onnx"))
    reference = next((p for p in artifacts if p.suffix == ".tflite" and "fp32" in p.name), None)  # unpruned first
    result = measure(artifacts, baseline=baseline, reference=reference, data=data, config=config.bench)
    payload = _named(result, [baseline, *artifacts], run)
    print_bench(result)
    size = config.bench.deploy_size
    if size is not None and size != config.model.input_size:
        deploy = _deploy_bench(config, data, run, size)
        payload["deploy"] = {
            "input_size": size,
            "latency_only": True,
            **_named(deploy, list(_deploy_paths(config, run, size)), run),
        }
        print_bench(deploy, f"at deploy size {size}x{size} (latency only: the models were trained at "
                            f"{config.model.input_size}x{config.model.input_size})")  # fmt: skip
    write_json(run.out / "bench.json", payload)
    return {"rows": len(payload["rows"])}


def _deploy_dir(config: BuildConfig, run: _Run) -> set[Path]:
    size = config.bench.deploy_size
    return {run.out / f"deploy{size}"} if size is not None and size != config.model.input_size else set()


def _named(result, paths: list[Path], run: _Run) -> dict[str, Any]:
    """bench.json rows named by their paths in the run folder: unique and findable."""
    payload = result.to_dict()
    names = {row["name"]: str(path.relative_to(run.out)) for row, path in zip(payload["rows"], paths, strict=True)}
    for row in payload["rows"]:
        row["name"] = names[row["name"]]
    for key in ("baseline", "reference"):
        payload[key] = names.get(payload[key], payload[key])
    return payload


def _deploy_paths(config: BuildConfig, run: _Run, size: int) -> dict[Path, tuple[str, QuantMode]]:
    """The deploy-size artifacts: each architecture of the run as TFLite fp32, the compressed one also int8."""
    (folder,) = _deploy_dir(config, run)
    paths = {folder / "unpruned_fp32.tflite": ("baseline", QuantMode.FP32)}
    if (run.out / "pruned" / "model.keras").exists():
        paths[folder / "pruned_fp32.tflite"] = ("pruned", QuantMode.FP32)
    name = "pruned" if len(paths) > 1 else "unpruned"
    if QuantMode.INT8 in config.export.modes:
        paths[folder / f"{name}_int8.tflite"] = (name.replace("unpruned", "baseline"), QuantMode.INT8)
    return paths


def _deploy_bench(config: BuildConfig, data, run: _Run, size: int):
    """Each architecture rebuilt at the deploy size with its trained weights (convolutions do not depend on the
    input size), converted to TFLite and timed interleaved against the unpruned fp32 one. int8 calibrates on
    training images resized to that size."""
    from resnet_edge._tf import tf
    from resnet_edge.bench import measure
    from resnet_edge.export.tflite import export_tflite
    from resnet_edge.models.io import load_keras
    from resnet_edge.models.resnet import build_resnet, copy_weights_by_name
    from resnet_edge.prune import load_model_config
    from resnet_edge.quantize import representative_images

    paths = _deploy_paths(config, run, size)
    images = representative_images(data, config.quantize.representative_count, config.quantize.seed)
    resized = tf.image.resize(images.astype("float32"), (size, size)).numpy()
    for path, (source, mode) in paths.items():
        keras_path = run.out / source / "model.keras"
        model = build_resnet(replace(load_model_config(keras_path), input_size=size))
        copy_weights_by_name(load_keras(keras_path), model)
        path.parent.mkdir(parents=True, exist_ok=True)
        export_tflite(model, mode, path, representative=resized, config=config.quantize)
    first, *rest = list(paths)
    return measure(rest, baseline=first, config=config.bench)


def _manifest(config: BuildConfig, run: _Run, keys: dict[str, str], info: dict[str, Any]) -> None:
    """The run's manifest: the export manifest (artifacts, input spec, versions) plus the Keras models."""
    export_manifest = json.loads((run.out / "export" / "manifest.json").read_text())
    models = {}
    for name in ("baseline/model.keras", "pruned/model.keras"):
        path = run.out / name
        if path.exists():
            models[name] = {"sha256": sha256(path), "bytes": path.stat().st_size}
    for artifact in export_manifest["artifacts"]:
        artifact["path"] = f"export/{artifact['path']}"
    write_json(run.out / "manifest.json", {**export_manifest, "run": str(run.out), "stage_keys": keys,
                                           "keras_models": models, "seed": config.train.seed,
                                           "stages": info})  # fmt: skip
