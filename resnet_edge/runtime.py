"""Run any artifact the toolkit writes (`.tflite`, `.onnx`, `.keras`/`.h5`) on raw pixels with its own runtime.

One `Runner` per file: LiteRT (`ai_edge_litert`) for TFLite, ONNX Runtime for ONNX, tf_keras for Keras.
`predict` takes raw images as the camera delivers them (uint8 or float pixels 0-255, NHWC), quantizes them
when the model's input is an integer tensor, and returns float class scores (dequantized when the output is
an integer tensor). Validation, `predict` and the benchmark all go through here, so they see one model alike.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from resnet_edge.errors import ModelFileError
from resnet_edge.models.io import first_line

ARTIFACT_SUFFIXES = (".tflite", ".onnx", ".keras", ".h5")

# ONNX Runtime keeps a telemetry database under the user's cache folder unless told not to.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


@dataclass(frozen=True)
class TensorSpec:
    shape: tuple[int | None, ...]
    dtype: str
    scale: float | None = None  # integer tensors: real = scale * (q - zero_point)
    zero_point: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "dtype": self.dtype, "scale": self.scale, "zero_point": self.zero_point}


def _quantize(x: np.ndarray, spec: TensorSpec) -> np.ndarray:
    if spec.scale is None:
        return x.astype(spec.dtype)
    info = np.iinfo(spec.dtype)
    q = np.round(x.astype(np.float32) / spec.scale) + spec.zero_point
    return np.clip(q, info.min, info.max).astype(spec.dtype)


def _dequantize(y: np.ndarray, spec: TensorSpec) -> np.ndarray:
    if spec.scale is None:
        return y.astype(np.float32)
    return (y.astype(np.float32) - spec.zero_point) * spec.scale


class Runner(abc.ABC):
    """A loaded artifact. Subclasses fill `input`, `output` and `_run` (one batch of input-typed tensors)."""

    kind: str
    input: TensorSpec
    output: TensorSpec

    def __init__(self, path: Path, threads: int | None) -> None:
        self.path = path
        self.threads = threads

    @property
    def image_size(self) -> tuple[int, int, int]:
        """(height, width, channels) the model takes."""
        _, h, w, c = self.input.shape
        return int(h), int(w), int(c)  # type: ignore[arg-type]

    @abc.abstractmethod
    def _run(self, x: np.ndarray) -> np.ndarray:
        """The runtime's output tensor for one input-typed batch."""

    def raw(self, images: np.ndarray) -> np.ndarray:
        """The output tensor as the runtime returns it (integer for a full-integer model)."""
        return self._run(_quantize(images, self.input))

    def predict(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Float class scores [N, classes] for raw images [N, H, W, C]."""
        step = 1 if self.kind == "tflite" else batch_size  # TFLite models are exported for batch 1
        out = [_dequantize(self.raw(images[i : i + step]), self.output) for i in range(0, len(images), step)]
        return np.concatenate(out) if out else np.zeros((0, self.output.shape[-1] or 0), np.float32)

    def timer(self, image: np.ndarray) -> Callable[[], None]:
        """A call that runs one prepared inference (the input already converted), for latency measurements."""
        x = _quantize(image[None] if image.ndim == 3 else image, self.input)
        return lambda: self._run(x)


class TFLiteRunner(Runner):
    kind = "tflite"

    def __init__(self, path: Path, threads: int | None) -> None:
        super().__init__(path, threads)
        from resnet_edge._tf import quiet
        from resnet_edge.models.io import load_tflite

        with quiet():  # LiteRT prints a line on fd 2 when it applies the XNNPACK delegate (first invoke)
            self._interp = load_tflite(path, num_threads=threads or os.cpu_count())
            self._interp.invoke()
        self._in = self._interp.get_input_details()[0]
        self._out = self._interp.get_output_details()[0]
        self.input = self._spec(self._in)
        self.output = self._spec(self._out)

    @staticmethod
    def _spec(detail: dict[str, Any]) -> TensorSpec:
        scale, zero = detail["quantization"]
        dtype = np.dtype(detail["dtype"]).name
        integer = dtype in ("int8", "uint8", "int16") and scale != 0
        return TensorSpec(tuple(int(d) for d in detail["shape"]), dtype, float(scale) if integer else None,
                          int(zero) if integer else None)  # fmt: skip

    def _run(self, x: np.ndarray) -> np.ndarray:
        self._interp.set_tensor(self._in["index"], x)
        self._interp.invoke()
        return self._interp.get_tensor(self._out["index"])


class ONNXRunner(Runner):
    kind = "onnx"

    def __init__(self, path: Path, threads: int | None, providers: list[str]) -> None:
        super().__init__(path, threads)
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # ONNX Runtime's pool threads keep spinning for tens of ms after a run (its default) and steal the cores
        # from whatever runs next: a TFLite model timed after an ONNX one ran 1.6x slower here. Spinning off
        # spares the neighbours but slows ORT itself (1.36 vs 0.96 ms, ResNet-20): force_spinning_stop keeps the
        # spinning inside a run and stops it when the run returns (0.97 ms, neighbours as fast as alone).
        options.add_session_config_entry("session.force_spinning_stop", "1")
        self._session = ort.InferenceSession(str(path), options, providers=providers)
        inp, out = self._session.get_inputs()[0], self._session.get_outputs()[0]
        self._in_name = inp.name
        dtype = {"tensor(float)": "float32", "tensor(uint8)": "uint8", "tensor(int8)": "int8"}.get(inp.type, "float32")
        self.input = TensorSpec(tuple(d if isinstance(d, int) else None for d in inp.shape), dtype)
        self.output = TensorSpec(tuple(d if isinstance(d, int) else None for d in out.shape), "float32")

    def _run(self, x: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._in_name: x})[0]


class KerasRunner(Runner):
    kind = "keras"

    def __init__(self, path: Path, threads: int | None) -> None:
        super().__init__(path, threads)
        from resnet_edge._tf import tf
        from resnet_edge.models.io import load_keras

        self.model = load_keras(path)
        shape = tuple(self.model.input_shape)
        self.input = TensorSpec(shape, "float32")
        self.output = TensorSpec(tuple(self.model.output_shape), "float32")
        self._fn = tf.function(lambda t: self.model(t, training=False), reduce_retracing=True)

    def _run(self, x: np.ndarray) -> np.ndarray:
        return self._fn(x).numpy()


def onnx_providers(provider: str) -> list[str]:
    """ONNX Runtime execution providers for `cpu`, `cuda` or `tensorrt` (the last two need the `gpu` extra)."""
    import onnxruntime as ort

    from resnet_edge.config import Provider
    from resnet_edge.errors import ConfigError
    from resnet_edge.settings import parse_enum

    wanted = {
        Provider.CPU: [],
        Provider.CUDA: ["CUDAExecutionProvider"],
        Provider.TENSORRT: ["TensorrtExecutionProvider", "CUDAExecutionProvider"],
    }[parse_enum(Provider, provider, "provider")]
    if wanted and wanted[0] not in ort.get_available_providers():
        raise ConfigError(
            f"provider {provider!r} needs onnxruntime-gpu (`make gpu`); this onnxruntime offers "
            f"{', '.join(ort.get_available_providers())}"
        )
    return [*wanted, "CPUExecutionProvider"]


def load_runner(path: str | Path, *, threads: int | None = None, provider: str = "cpu") -> Runner:
    """The runner for an artifact file, or a one-line ModelFileError for a missing or unreadable one."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"artifact '{path}' does not exist; give a {', '.join(ARTIFACT_SUFFIXES)} file")
    suffix = path.suffix.lower()
    if suffix not in ARTIFACT_SUFFIXES:
        raise ModelFileError(f"artifact '{path}' has suffix '{path.suffix}'; accepted: {', '.join(ARTIFACT_SUFFIXES)}")
    if suffix in (".keras", ".h5"):
        return KerasRunner(path, threads)
    providers = onnx_providers(provider) if suffix == ".onnx" else []
    try:
        return TFLiteRunner(path, threads) if suffix == ".tflite" else ONNXRunner(path, threads, providers)
    except Exception as exc:  # the runtimes raise RuntimeError / ValueError / their own types for a bad file
        raise ModelFileError(f"artifact '{path}' could not be loaded: {first_line(exc)}") from exc
