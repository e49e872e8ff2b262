"""Saved models: the one owner of a model folder (`model.keras`, `model_config.json`, `labels.txt`) and the
readers of Keras (`.keras`, `.h5`), ONNX and TFLite files, with one-line errors for what cannot be read.

A model written by `train` or `prune` has its ModelConfig beside it in `model_config.json` (what later stages
rebuild it from) and its class names in `labels.txt`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resnet_edge.errors import DataError, ModelFileError
from resnet_edge.fsutil import atomic_path, write_json, write_text

if TYPE_CHECKING:
    from resnet_edge.models.config import ModelConfig

MODEL = "model.keras"
MODEL_CONFIG = "model_config.json"
LABELS = "labels.txt"

KERAS_SUFFIXES = (".keras", ".h5")
ONNX_SUFFIXES = (".onnx",)
ACCEPTED = "a .keras, .h5 or .onnx file"


def _checked(path: str | Path, suffixes: tuple[str, ...]) -> Path:
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model file '{path}' does not exist; give {ACCEPTED}")
    if not path.is_file():
        raise ModelFileError(f"model path '{path}' is not a file; give {ACCEPTED}")
    if path.suffix.lower() not in suffixes:
        raise ModelFileError(f"model file '{path}' has suffix '{path.suffix}'; accepted: {', '.join(suffixes)}")
    return path


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (at most 200 characters): what a one-line error quotes."""
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


_trusted = False  # set once by the CLI's --trust-model (or trust_models(True) in code)


def trust_models(trusted: bool) -> None:
    """Allow (True) or refuse (False, the default) models whose layers carry executable Python."""
    global _trusted
    _trusted = bool(trusted)


def _executable_layers(config: Any) -> list[str]:
    """Names of Lambda layers anywhere in a Keras model config (nested models included)."""
    found: list[str] = []
    if isinstance(config, dict):
        if config.get("class_name") == "Lambda":
            found.append(str((config.get("config") or {}).get("name", "?")))
        for value in config.values():
            found += _executable_layers(value)
    elif isinstance(config, list):
        for value in config:
            found += _executable_layers(value)
    return found


def _refuse_executable_h5(path: Path) -> None:
    """A legacy .h5 model deserializes Lambda layers by unmarshalling their bytecode, which runs it: read the
    architecture with h5py first (no Keras) and refuse such layers unless the user trusts the file."""
    import json

    import h5py

    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
    except OSError as exc:
        raise ModelFileError(f"model file '{path}' could not be read as a Keras model: {first_line(exc)}") from None
    if raw is None:
        raise ModelFileError(f"model file '{path}' holds no model architecture (a weights-only .h5?); give {ACCEPTED}")
    try:
        config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except ValueError as exc:
        raise ModelFileError(f"model file '{path}' has an unreadable architecture: {first_line(exc)}") from None
    _refuse_lambdas(path, _executable_layers(config))


def _refuse_lambdas(path: Path, names: list[str]) -> None:
    if names and not _trusted:
        raise ModelFileError(
            f"model file '{path}' has Lambda layer(s) {', '.join(names[:3])} whose Python code would run on "
            "load; refused. If you trust the file, pass --trust-model (resnet-edge --trust-model COMMAND ...)"
        )


def load_keras(path: str | Path) -> Any:
    """A tf_keras model from `.keras` / `.h5`, with this toolkit's custom layers known. Safe by default:
    a model with executable (Lambda) layers is refused unless trust_models(True) was called."""
    from resnet_edge._tf import keras
    from resnet_edge.models import blocks  # noqa: F401  registers ZeroPadShortcut for deserialization

    path = _checked(path, KERAS_SUFFIXES)
    if path.suffix.lower() == ".h5":
        _refuse_executable_h5(path)
    try:
        return keras.models.load_model(path, compile=False, safe_mode=not _trusted)
    except Exception as exc:  # Keras raises many types for a bad file; the user needs one line
        if "Lambda" in str(exc) and "safe_mode" in str(exc):  # .keras: Keras' own safe mode refused it
            _refuse_lambdas(path, ["(in the .keras file)"])
        raise ModelFileError(f"model file '{path}' could not be read as a Keras model: {first_line(exc)}") from exc


def load_onnx(path: str | Path) -> Any:
    """An ONNX ModelProto, checked by the ONNX checker."""
    import onnx

    path = _checked(path, ONNX_SUFFIXES)
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as exc:  # protobuf DecodeError, ValidationError, ...
        raise ModelFileError(f"model file '{path}' could not be read as an ONNX model: {first_line(exc)}") from exc
    return model


def is_onnx(path: str | Path) -> bool:
    """Whether `path` names an ONNX file; any other suffix than Keras' or ONNX's is an error."""
    return _checked(path, KERAS_SUFFIXES + ONNX_SUFFIXES).suffix.lower() in ONNX_SUFFIXES


def load_tflite(path: str | Path, **kwargs: Any) -> Any:
    """A LiteRT interpreter for a `.tflite` file, tensors allocated; a truncated or foreign file is one line."""
    from ai_edge_litert.interpreter import Interpreter

    path = _checked(path, (".tflite",))
    try:
        interp = Interpreter(model_path=str(path), **kwargs)
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:  # LiteRT's "Could not open ..." / flatbuffer verification errors
        raise ModelFileError(f"model file '{path}' could not be read as a TFLite model: {first_line(exc)}") from None
    return interp


def save_keras(model: Any, path: str | Path) -> Path:
    """Write a Keras model atomically: the file appears complete or not at all."""
    path = Path(path)
    with atomic_path(path) as tmp:
        model.save(tmp)
    return path


def save_model_config(folder: str | Path, config: ModelConfig) -> None:
    write_json(Path(folder) / MODEL_CONFIG, config.to_dict())


def load_model_config(model_path: str | Path) -> ModelConfig:
    """The ModelConfig saved beside a model by `train` or `prune` (model_config.json)."""
    from resnet_edge.errors import ConfigError
    from resnet_edge.models.config import ModelConfig

    path = Path(model_path).parent / MODEL_CONFIG
    if not path.is_file():
        raise ModelFileError(f"'{path}' not found: a model written by train or prune has its {MODEL_CONFIG} beside it")
    try:
        raw = json.loads(path.read_text())
        if not isinstance(raw, dict):
            raise ValueError(f"a JSON object of model options, not {type(raw).__name__}")
        return ModelConfig.from_dict(raw)
    except (ValueError, ConfigError) as exc:  # garbage, unknown keys, values of the wrong type
        raise ModelFileError(f"'{path}' is not a {MODEL_CONFIG} that train writes: {first_line(exc)}") from None


def has_model_config(model_path: str | Path) -> bool:
    return (Path(model_path).parent / MODEL_CONFIG).exists()


def write_labels(folder: str | Path, class_names: tuple[str, ...] | list[str]) -> Path:
    path = Path(folder) / LABELS
    write_text(path, "\n".join(class_names) + "\n")
    return path


def read_labels(path: str | Path) -> list[str] | None:
    """Class names, one per line, from a labels file; None when it does not exist."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError:
        raise DataError(f"labels file '{path}' is not UTF-8 text with one class name per line") from None
