"""resnet-edge: build, train, depth-prune and export ResNets for edge devices.

Public verbs and configs. They load lazily, so `import resnet_edge` (and `resnet-edge --help`) does not
start TensorFlow; the first verb used does, through `resnet_edge._tf`.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "ModelConfig": "resnet_edge.config",
    "DataConfig": "resnet_edge.config",
    "TrainConfig": "resnet_edge.config",
    "PruneConfig": "resnet_edge.config",
    "Recipe": "resnet_edge.config",
    "Strategy": "resnet_edge.config",
    "Variant": "resnet_edge.config",
    "Version": "resnet_edge.config",
    "Shortcut": "resnet_edge.config",
    "build_resnet": "resnet_edge.models.resnet",
    "count_keras": "resnet_edge.models.flops",
    "count_onnx": "resnet_edge.models.flops",
    "count_file": "resnet_edge.models.flops",
    "load_data": "resnet_edge.data",
    "train": "resnet_edge.train",
    "prune": "resnet_edge.prune",
    "score_blocks": "resnet_edge.prune",
    "CheckConfig": "resnet_edge.config",
    "Target": "resnet_edge.config",
    "ResnetEdgeError": "resnet_edge.errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'resnet_edge' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
