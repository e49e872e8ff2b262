"""export(model, data=, config=, quantize=, out=) -> ExportResult: TFLite and ONNX artifacts, each validated.

Every artifact is run by its own runtime (LiteRT, ONNX Runtime) on the validation images and compared with
the Keras model before it is called valid: accuracy, top-1 agreement, max |difference| of the (dequantized)
class scores. An artifact that fails its thresholds is kept, marked invalid in `manifest.json`; with `fallback`
K an int8 one first keeps up to K layers in float until it passes (`export/fallback.py`). The run folder gets
`labels.txt` and `manifest.json` (sha256, tensor specs, preprocessing, accuracy, flash and peak RAM, versions),
which is what a camera needs to deploy the model. `tflm` adds a TensorFlow Lite Micro bundle (`model_data.cc` /
`.h`) of the int8 TFLite artifact, which it converts and validates even without `tflite`.
"""

from __future__ import annotations

import importlib.metadata
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from resnet_edge import metrics
from resnet_edge._tf import keras
from resnet_edge.check import check, for_target
from resnet_edge.config import (
    FLOAT_MODES,
    INTEGER_MODES,
    CheckConfig,
    ExportConfig,
    ExportFormat,
    QuantizeConfig,
    QuantMode,
    TfliteQuantizer,
)
from resnet_edge.console import console
from resnet_edge.data import Dataset
from resnet_edge.errors import DataError
from resnet_edge.export.tflm import TflmBundle, write_tflm
from resnet_edge.footprint import footprint
from resnet_edge.fsutil import read_json, sha256, staged_folder, write_json
from resnet_edge.models.config import ModelConfig
from resnet_edge.models.io import LABELS, write_labels

VERSIONED = ("resnet-edge", "tensorflow", "tf-keras", "tensorflow-model-optimization", "tf2onnx", "onnx",
             "onnxruntime", "onnxruntime-gpu", "ai-edge-litert", "ai-edge-quantizer", "numpy")  # fmt: skip


@dataclass(frozen=True)
class Artifact:
    path: Path
    format: ExportFormat
    mode: QuantMode
    bytes: int
    sha256: str
    input: dict[str, Any]
    output: dict[str, Any]
    accuracy: float  # % on the validation images
    agreement: float  # % top-1 agreement with the Keras model
    max_abs_diff: float  # max |score difference| against the Keras model's class scores
    valid: bool
    problems: tuple[str, ...] = ()
    seconds: float = 0.0  # conversion and validation
    layer_errors: tuple[dict[str, Any], ...] = ()
    val_drop: dict[str, Any] | None = None  # metrics.PairedDifference: Keras minus this artifact on validation
    escape_increase: dict[str, Any] | None = None  # this artifact's escape rate minus Keras', validation
    test: dict[str, Any] | None = None  # metrics.ClassReport on the test split: reported, never decided on
    target_check: dict[str, Any] | None = None  # check.CheckResult against ExportConfig.target (TFLite artifacts)
    footprint: dict[str, Any] | None = None  # resnet_edge.footprint.Footprint: flash (file, weights), peak RAM
    fallback: dict[str, Any] | None = None  # fallback.Fallback: layers kept float, accuracy before, latency cost

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(path=self.path.name, format=self.format.value, mode=self.mode.value, problems=list(self.problems),
                 layer_errors=list(self.layer_errors))  # fmt: skip
        return d


@dataclass(frozen=True)
class ExportResult:
    out: Path
    artifacts: tuple[Artifact, ...]
    keras_accuracy: float
    manifest_path: Path
    qat_accuracy: float | None = None
    weight_sparsity: float | None = None
    invalid: tuple[str, ...] = field(default=())
    not_ready: tuple[str, ...] = ()  # integer TFLite artifacts that would fall back to the CPU on config.target
    tflm: TflmBundle | None = None  # the TensorFlow Lite Micro bundle, with --format tflm


MANIFEST = "manifest.json"


def manifest_class_names(folder: Path) -> list[str] | None:
    """The class names of the export manifest in `folder`; None when there is no manifest."""
    raw = read_json(folder / MANIFEST, "`resnet-edge export`")
    if raw is None:
        return None
    names = raw.get("class_names") if isinstance(raw, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DataError(f"'{folder / MANIFEST}' is not an export manifest (class_names is not a list of names)")
    return names


def _versions() -> dict[str, str]:
    found = {}
    for name in VERSIONED:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def preprocessing(model: keras.Model) -> dict[str, Any]:
    """What the model expects: raw pixels with normalization inside, or already-normalized input."""
    channels = model.input_shape[-1]
    layout = {"layout": "NHWC", "channels": "RGB" if channels == 3 else "grayscale"}
    try:
        norm = model.get_layer("preprocess")
    except ValueError:
        return {"baked_in": False, **layout, "expects": "the input the Keras model was trained on"}
    mean = np.ravel(norm.mean.numpy()).tolist()
    std = np.sqrt(np.ravel(norm.variance.numpy())).tolist()
    return {"baked_in": True, **layout, "expects": "raw pixels 0-255", "mean": mean, "std": std}


def _check(mode: QuantMode, acc: float, agree: float, keras_acc: float, config: ExportConfig) -> list[str]:
    problems = []
    floor = config.float_agreement if mode in FLOAT_MODES else config.int8_agreement
    if agree < floor:
        problems.append(f"top-1 agreement {agree:.2f} % < {floor:g} %")
    if mode not in FLOAT_MODES and keras_acc - acc > config.int8_max_drop:
        problems.append(f"accuracy drop {keras_acc - acc:.2f} points > {config.int8_max_drop:g}")
    return problems


def _validate(path: Path, fmt: ExportFormat, mode: QuantMode, reference: np.ndarray, data: Dataset,
              keras_acc: float, config: ExportConfig, seconds: float) -> Artifact:  # fmt: skip
    from resnet_edge.runtime import load_runner

    runner = load_runner(path)
    scores = runner.predict(data.x_val)
    pred, keras_pred = metrics.top1(scores), metrics.top1(reference)
    acc = metrics.accuracy(pred, data.y_val)
    agree = metrics.agreement(pred, keras_pred)
    diff = float(np.abs(scores - reference).max())
    problems = _check(mode, acc, agree, keras_acc, config)
    escape = None
    if data.good is not None:
        escape = metrics.escape_increase(keras_pred, pred, data.y_val, data.good)
        if config.max_escape_increase is not None and escape.value > config.max_escape_increase:
            problems.append(f"escape rate +{escape.value:.2f} > {config.max_escape_increase:g} points")
    drop = metrics.PairedDifference.of(keras_pred == data.y_val, pred == data.y_val)
    test = metrics.ClassReport.of(metrics.top1(runner.predict(data.x_test)), data.y_test, data.class_names, data.good)
    return Artifact(path, fmt, mode, path.stat().st_size, sha256(path), runner.input.to_dict(), runner.output.to_dict(),
                    acc, agree, diff, not problems, tuple(problems), seconds, val_drop=drop.to_dict(),
                    escape_increase=escape.to_dict() if escape else None, test=test.to_dict())  # fmt: skip


def _convert(model, qat, fmt, mode, path, fp32_file, representative, config, quantize) -> None:
    from resnet_edge.export.onnx import export_onnx
    from resnet_edge.export.tflite import export_tflite

    source = qat if mode is QuantMode.QAT else model
    if fmt is ExportFormat.TFLITE:
        export_tflite(source, mode, path, representative=representative, config=quantize, fp32_path=fp32_file)
    else:
        export_onnx(source, mode, path, opset=config.opset, fp32_path=fp32_file, representative=representative,
                    config=quantize)  # fmt: skip


def _layer_errors(model, fmt, mode, path, fp32_file, representative, config, quantize) -> list[dict[str, Any]]:
    if not config.layer_report or mode is not QuantMode.INT8:
        return []
    if fmt is ExportFormat.TFLITE and quantize.tflite_quantizer is TfliteQuantizer.LITERT:
        # the converter's debugger would describe the converter's model: this one's activations instead
        from resnet_edge.export.tflite import convert
        from resnet_edge.quantize.layers import tflite_errors

        fp32 = fp32_file.read_bytes() if fp32_file else convert(model, QuantMode.FP32, config=quantize)
        errors = tflite_errors(path, fp32, model, representative[:16])
        return [e.to_dict() for e in errors if e.producer][: config.layer_report_top]
    if fmt is ExportFormat.TFLITE:
        from resnet_edge.export.tflite import tflite_converter
        from resnet_edge.quantize.tflite import layer_errors

        converter = tflite_converter(model, QuantMode.INT8, representative=representative, config=quantize)
        return layer_errors(converter, representative, top=config.layer_report_top)
    if fp32_file is None:
        return []
    from resnet_edge.quantize.onnx import layer_errors as onnx_layer_errors

    return onnx_layer_errors(fp32_file, path, representative[:16], top=config.layer_report_top)


def export(
    model: keras.Model,
    *,
    data: Dataset,
    config: ExportConfig,
    quantize: QuantizeConfig,
    out: str | Path,
    model_config: ModelConfig | None = None,
    qat_model: keras.Model | None = None,
) -> ExportResult:
    """Write every (format, mode) artifact of `config` to `out`, validated, with labels.txt and manifest.json.
    They are written to a staging folder and moved into `out` together at the end: a refusal or an error halfway
    (a model TFLite Micro cannot run, a failed conversion) leaves `out` as it was."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    representative = None
    if any(m in INTEGER_MODES for m in config.modes):  # before any work: no calibration data is a user error
        from resnet_edge.quantize.calibration import representative_images

        representative = representative_images(data, quantize.representative_count, quantize.seed)
    reference = model.predict(data.x_val.astype(np.float32), batch_size=256, verbose=0)
    keras_acc = metrics.accuracy(reference, data.y_val)
    qat_result = None
    if QuantMode.QAT in config.modes and qat_model is None:
        from resnet_edge.quantize import quantize as run_qat

        qat_result = run_qat(model, config=quantize, data=data, out=out)
        qat_model = qat_result.model
    with staged_folder(out) as stage:
        write_labels(stage, data.class_names)
        sources = _Sources(model, qat_model, data, representative, reference, keras_acc)
        artifacts, tflm = _write_artifacts(sources, config, quantize, stage)
        manifest = _manifest(model, artifacts, data, keras_acc, config, quantize, model_config, qat_result)
        if tflm is not None:
            manifest["tflm"] = tflm.to_dict()
        write_json(stage / MANIFEST, manifest)
    artifacts = [replace(a, path=out / a.path.name) for a in artifacts]
    if tflm is not None:
        tflm = replace(tflm, model=out / tflm.model.name, source=out / tflm.source.name, header=out / tflm.header.name)
    return ExportResult(out, tuple(artifacts), keras_acc, out / MANIFEST,
                        qat_result.qat_accuracy if qat_result else None,
                        qat_result.weight_sparsity if qat_result else None,
                        tuple(a.path.name for a in artifacts if not a.valid), _not_ready(artifacts), tflm)  # fmt: skip


@dataclass(frozen=True)
class _Sources:
    """What every artifact is converted from and validated against."""

    model: keras.Model
    qat_model: keras.Model | None
    data: Dataset
    representative: np.ndarray | None
    reference: np.ndarray  # the Keras model's scores on the validation split
    keras_acc: float


def _write_artifacts(src: _Sources, config: ExportConfig, quantize: QuantizeConfig, out: Path
                     ) -> tuple[list[Artifact], TflmBundle | None]:  # fmt: skip
    tflite_quantize = for_target(quantize, config.target)  # what the accelerator needs: I/O type, per-tensor weights
    artifacts: list[Artifact] = []
    fp32_files: dict[ExportFormat, Path] = {}  # the quantized ONNX modes and the LiteRT Quantizer start from it
    tflm = None
    for fmt, mode in _conversions(config):
        path = out / f"model_{mode.value}.{fmt.value}"
        fmt_quantize = tflite_quantize if fmt is ExportFormat.TFLITE else quantize
        fp32_file = fp32_files.get(fmt)
        start = time.perf_counter()
        _convert(src.model, src.qat_model, fmt, mode, path, fp32_file, src.representative, config, fmt_quantize)
        if mode is QuantMode.FP32:
            fp32_files[fmt] = fp32_file = path

        def revalidate(file: Path, fmt: ExportFormat = fmt, mode: QuantMode = mode, seconds: float = 0.0) -> Artifact:
            return _validate(file, fmt, mode, src.reference, src.data, src.keras_acc, config, seconds)

        artifact = revalidate(path, seconds=time.perf_counter() - start)
        errors = _layer_errors(src.model, fmt, mode, path, fp32_file, src.representative, config, fmt_quantize)
        if errors:
            artifact = replace(artifact, layer_errors=tuple(errors))
        if mode is QuantMode.INT8 and not artifact.valid and config.fallback:
            artifact = _fall_back(artifact, src.model, fmt, fp32_file, src.representative, config, fmt_quantize,
                                  revalidate)  # fmt: skip
        artifact = replace(artifact, footprint=footprint(artifact.path).to_dict())
        if config.target is not None and fmt is ExportFormat.TFLITE:
            artifact = replace(artifact, target_check=check(path, config=CheckConfig(target=config.target)).to_dict())
        artifacts.append(artifact)
        _print_artifact(artifact)
        if fmt is ExportFormat.TFLITE and mode is QuantMode.INT8 and ExportFormat.TFLM in config.formats:
            tflm = write_tflm(path, out)  # before any ONNX work: a model TFLite Micro cannot run stops here
    return artifacts, tflm


def _print_artifact(artifact: Artifact) -> None:
    status = "valid" if artifact.valid else "INVALID: " + "; ".join(artifact.problems)
    if artifact.fallback:
        status += f" · in float: {', '.join(artifact.fallback['float_layers']) or 'nothing validated'}"
    ram = artifact.footprint["ram_bytes"]
    console.print(f"{artifact.path.name}: accuracy {artifact.accuracy:.2f} %, agreement {artifact.agreement:.2f} %, "
                  f"{artifact.bytes / 1e6:.2f} MB"
                  f"{f', peak RAM {ram / 1024:,.1f} KiB' if ram is not None else ''} · {status}")  # fmt: skip


def _not_ready(artifacts: list[Artifact]) -> tuple[str, ...]:
    """The integer TFLite artifacts the target would not run whole (float ones are the CPU's references anyway)."""
    checked = [a for a in artifacts if a.target_check is not None and a.mode in INTEGER_MODES]
    return tuple(a.path.name for a in checked if not a.target_check["ready"])


def _conversions(config: ExportConfig) -> list[tuple[ExportFormat, QuantMode]]:
    """(format, mode) of every artifact to convert, TFLite first, fp32 first within a format (the quantized ONNX
    modes start from it); tflm alone adds the int8 TFLite artifact its bundle embeds."""
    modes = [m for m in QuantMode if m in config.modes]
    found = [(f, m) for f in (ExportFormat.TFLITE, ExportFormat.ONNX) if f in config.formats for m in modes]
    if ExportFormat.TFLM in config.formats and (ExportFormat.TFLITE, QuantMode.INT8) not in found:
        found.insert(0, (ExportFormat.TFLITE, QuantMode.INT8))
    return found


def _fall_back(artifact, model, fmt, fp32_file, representative, config, quantize, check) -> Artifact:
    """`artifact` with up to `config.fallback` layers in float, or as it was with what was tried."""
    import tempfile

    from resnet_edge.export.fallback import fall_back, requantizer
    from resnet_edge.export.onnx import export_onnx
    from resnet_edge.export.tflite import export_tflite
    from resnet_edge.quantize.layers import LayerNames

    console.print(f"{artifact.path.name} is invalid: keeping up to {config.fallback} layer(s) in float")
    with tempfile.TemporaryDirectory() as tmp:
        if fp32_file is None:  # the float model of this format, when fp32 was not asked for
            fp32_file = Path(tmp) / f"fp32.{fmt.value}"
            if fmt is ExportFormat.TFLITE:
                export_tflite(model, QuantMode.FP32, fp32_file)
            else:
                export_onnx(model, QuantMode.FP32, fp32_file, opset=config.opset)
        requant = requantizer(fmt, model, quantize=quantize, representative=representative, fp32=fp32_file)
        return fall_back(artifact, limit=config.fallback, requantizer=requant, names=LayerNames(model),
                         validate=check, rounds=config.fallback_rounds)  # fmt: skip


def _keras_test(model: keras.Model, data: Dataset) -> dict[str, Any]:
    pred = metrics.top1(model.predict(data.x_test.astype(np.float32), batch_size=256, verbose=0))
    return metrics.ClassReport.of(pred, data.y_test, data.class_names, data.good).to_dict()


def _manifest(model, artifacts, data, keras_acc, config, quantize, model_config, qat_result) -> dict[str, Any]:
    return {
        "model": model.name,
        "model_config": model_config.to_dict() if model_config else None,
        "class_names": list(data.class_names),
        "labels": LABELS,
        "preprocessing": preprocessing(model),
        "keras_accuracy": keras_acc,
        "validation": {"source": data.source, "images": int(len(data.x_val)), "used_for": "every validity check"},
        "test": {"images": int(len(data.x_test)), "used_for": "reported only", "keras": _keras_test(model, data)},
        "qat": (
            {
                "accuracy": qat_result.qat_accuracy,
                "weight_sparsity": qat_result.weight_sparsity,
                "model": qat_result.model_path.name,
            }
            if qat_result
            else None
        ),  # fmt: skip
        "export": config.to_dict(),
        "quantize": quantize.to_dict(),
        "seed": quantize.seed,
        "versions": _versions(),
        "artifacts": [a.to_dict() for a in artifacts],
    }
