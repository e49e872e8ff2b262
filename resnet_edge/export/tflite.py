"""TFLite export through the TFLite converter (fp32 here; quantized modes come with the quantize stage)."""

from __future__ import annotations

from pathlib import Path

from resnet_edge._tf import keras, tf
from resnet_edge.fsutil import atomic_path


def to_tflite_fp32(model: keras.Model, path: str | Path) -> Path:
    """Convert a tf_keras model to a float32 .tflite file (batch 1 input), written atomically."""
    spec = tf.TensorSpec([1, *model.input_shape[1:]], tf.float32, name="image")
    fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn], model)
    flatbuffer = converter.convert()
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(flatbuffer)
    return path
