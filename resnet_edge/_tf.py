"""The one place TensorFlow is imported.

tensorflow-model-optimization 0.8.1 supports Keras 2 only, so the whole package uses `tf_keras`, and
`TF_USE_LEGACY_KERAS=1` must be set before TensorFlow is first imported. Every module imports `tf` and
`keras` from here, never `tensorflow` directly.

TensorFlow's C++ start-up lines (cuda drivers, oneDNN, absl) are written to file descriptor 2 before
`TF_CPP_MIN_LOG_LEVEL` takes effect, so the import runs with that descriptor pointed at /dev/null.
Set RESNET_EDGE_TF_LOGS=1 to see them.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    if os.environ.get("RESNET_EDGE_TF_LOGS") == "1":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Converters' native log lines (fd 2) and Python warnings off, unless RESNET_EDGE_TF_LOGS=1."""
    with _stderr_silenced(), warnings.catch_warnings():
        if os.environ.get("RESNET_EDGE_TF_LOGS") != "1":
            warnings.simplefilter("ignore")
        yield


with _stderr_silenced():
    import tensorflow as tf
    import tf_keras as keras

    # Creating the first device also logs (cuda drivers); do it while stderr is quiet.
    tf.config.list_physical_devices()

import absl.logging  # noqa: E402

absl.logging.set_verbosity(absl.logging.ERROR)
tf.get_logger().setLevel("ERROR")

__all__ = ["keras", "quiet", "tf"]
