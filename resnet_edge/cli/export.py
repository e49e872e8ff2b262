"""`resnet-edge export` (quantize, convert, validate) and `resnet-edge predict` (run an artifact on images)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from resnet_edge.cli.app import app
from resnet_edge.cli.options import (
    EVALUATION_DATA,
    AllowInvalidOpt,
    JsonOpt,
    Section,
    config_options,
    invalid_exit,
    out_dir,
)
from resnet_edge.config import INTEGER_MODES, ExportConfig, QuantizeConfig
from resnet_edge.console import console, err_console
from resnet_edge.data.config import DataConfig
from resnet_edge.errors import ConfigError, DataError


@app.command()
@config_options(Section("config", ExportConfig), Section("quantize", QuantizeConfig),
                Section("data_config", DataConfig, exclude=EVALUATION_DATA))  # fmt: skip
def export(
    config: ExportConfig,
    quantize: QuantizeConfig,
    data_config: DataConfig,
    model: Annotated[Path, typer.Option(help="A Keras model (.keras/.h5) written by `train` or `prune`.")],
    out: Annotated[
        Path, typer.Option(callback=out_dir, help="Folder for the artifacts, labels.txt and manifest.json.")
    ],
    allow_invalid: AllowInvalidOpt = False,
) -> int:
    """Quantize and export to TFLite and ONNX; every artifact is validated against the Keras model."""
    from resnet_edge.data import load_data
    from resnet_edge.export import export as export_model
    from resnet_edge.models.io import has_model_config, load_keras, load_model_config
    from resnet_edge.tables import print_artifacts

    if quantize.representative_count < 1 and any(m in config.modes for m in INTEGER_MODES):
        raise ConfigError(
            f"--representative {quantize.representative_count}: int8 and qat need calibration data (>= 1 image)"
        )
    keras_model = load_keras(model)
    # a model from elsewhere exports from its input shape alone; one written by train or prune must read back
    model_config = load_model_config(model) if has_model_config(model) else None
    height, channels = _image_classifier_input(keras_model, model)
    dataset = load_data(data_config, size=height, channels=channels)
    result = export_model(keras_model, data=dataset, config=config, quantize=quantize, out=out,
                          model_config=model_config)  # fmt: skip
    print_artifacts(result)
    code = invalid_exit(result.invalid, allow_invalid, " (kept, marked invalid in the manifest)")
    if result.not_ready:  # an int8 artifact made for --target that the target would not run whole
        names = ", ".join(result.not_ready)
        err_console.print(f"resnet-edge: {len(result.not_ready)} artifact(s) would fall back to the CPU on "
                          f"{config.target.value}: {names}", markup=False, soft_wrap=True)  # fmt: skip
        return 1
    return code


@app.command()
def predict(
    artifact: Annotated[Path, typer.Argument(help="A .tflite, .onnx, .keras or .h5 model.")],
    images: Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG, BMP) as the camera delivers them.")],
    top_k: Annotated[int, typer.Option(help="Classes to print per image.")] = 3,
    labels: Annotated[Path | None, typer.Option(help="Class names, one per line (default: labels.txt beside).")] = None,
    threads: Annotated[int | None, typer.Option(help="Runtime threads (default: all cores).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Top-k classes with scores for raw images, run by the artifact's own runtime (LiteRT, ONNX Runtime, Keras)."""
    import numpy as np

    from resnet_edge.data.folder import read_image
    from resnet_edge.runtime import load_runner

    if top_k < 1:
        raise ConfigError(f"--top-k {top_k} is not accepted; use an integer >= 1")
    runner = load_runner(artifact, threads=threads)
    names = _labels(artifact, labels)
    height, width, channels = runner.image_size
    results = {}
    for path in images:
        if not path.is_file():
            raise DataError(f"image '{path}' does not exist; give PNG, JPEG or BMP files")
        try:
            image = read_image(path, height, channels)
        except Exception as exc:  # PIL raises many kinds for a file that is not an image
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(f"image '{path}' could not be read: {reason}") from exc
        scores = runner.predict(image[None])[0]
        order = np.argsort(-scores)[:top_k]
        results[str(path)] = [(names[i] if i < len(names) else f"class {i}", float(scores[i])) for i in order]
    if as_json:
        sys.stdout.write(json.dumps({k: [{"class": c, "score": p} for c, p in v] for k, v in results.items()}) + "\n")
        return
    for path, top in results.items():
        console.print(f"{path}: " + ", ".join(f"{c} {p:.3f}" for c, p in top), soft_wrap=True, markup=False)


def _image_classifier_input(keras_model: Any, path: Path) -> tuple[int, int]:
    """(size, channels) of a model that takes square images and returns class scores, or a one-line error."""
    shape, out = keras_model.input_shape, keras_model.output_shape
    if (
        not isinstance(shape, tuple)
        or len(shape) != 4
        or shape[1] != shape[2]
        or shape[3] not in (1, 3)
        or not isinstance(out, tuple)
        or len(out) != 2
    ):
        raise ConfigError(
            f"model '{path}' takes {shape} and returns {out}; export needs an image classifier: "
            "(batch, size, size, 1 or 3) in, (batch, classes) out"
        )
    return shape[1], shape[3]


def _labels(artifact: Path, labels: Path | None) -> list[str]:
    """Class names from --labels, else labels.txt beside the artifact, else the export manifest's."""
    from resnet_edge.export import manifest_class_names
    from resnet_edge.models.io import LABELS, read_labels

    if labels is not None and not labels.is_file():
        raise DataError(f"labels file '{labels}' does not exist; give a text file with one class name per line")
    for candidate in (labels, artifact.parent / LABELS):
        names = read_labels(candidate) if candidate is not None else None
        if names is not None:
            return names
    return manifest_class_names(artifact.parent) or []
