"""Read saved models: Keras (`.keras`, `.h5`) and ONNX, with one-line errors for what cannot be read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from resnet_edge.errors import ModelFileError

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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def load_keras(path: str | Path) -> Any:
    """A tf_keras model from `.keras` / `.h5`, with this toolkit's custom layers known."""
    from resnet_edge._tf import keras
    from resnet_edge.models import blocks  # noqa: F401  registers ZeroPadShortcut for deserialization

    path = _checked(path, KERAS_SUFFIXES)
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for a bad file; the user needs one line
        raise ModelFileError(f"model file '{path}' could not be read as a Keras model: {_first_line(exc)}") from exc


def load_onnx(path: str | Path) -> Any:
    """An ONNX ModelProto, checked by the ONNX checker."""
    import onnx

    path = _checked(path, ONNX_SUFFIXES)
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as exc:  # protobuf DecodeError, ValidationError, ...
        raise ModelFileError(f"model file '{path}' could not be read as an ONNX model: {_first_line(exc)}") from exc
    return model


def is_onnx(path: str | Path) -> bool:
    """Whether `path` names an ONNX file; any other suffix than Keras' or ONNX's is an error."""
    return _checked(path, KERAS_SUFFIXES + ONNX_SUFFIXES).suffix.lower() in ONNX_SUFFIXES
