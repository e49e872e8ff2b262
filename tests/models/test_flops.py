"""The counter agrees with published figures for models this project did not build, and with ONNX."""

from __future__ import annotations

import pytest

from resnet_edge._tf import keras, tf
from resnet_edge.models.flops import count_keras, count_onnx


@pytest.mark.parametrize(
    ("factory", "macs", "params"),
    [
        # MobileNet paper Table 8 (1.0, 224): 569 M mult-adds, 4.2 M params; Keras lists 4,253,864 in all
        (keras.applications.MobileNet, 569e6, 4_253_864),
        # MobileNetV2 paper Table 3 (1.0, 224): 300 M mult-adds; Keras lists 3,538,984 in all
        (keras.applications.MobileNetV2, 300e6, 3_538_984),
        # Keras' ResNet50 is the v1 layout with conv biases: 3.858 G MACs, 25,636,712 weights in all
        (keras.applications.ResNet50, 3.858e9, 25_636_712),
    ],
    ids=["mobilenet", "mobilenet_v2", "keras_resnet50"],
)
def test_foreign_models_match_published_figures(factory, macs: float, params: int) -> None:
    count = count_keras(factory(weights=None))
    assert count.macs == pytest.approx(macs, rel=0.005)
    assert count.params + count.non_trainable_params == params
    assert count.uncounted == ()


def test_blocks_and_stages_add_up(tiny_resnet) -> None:
    count = count_keras(tiny_resnet)
    assert [s.name for s in count.stages] == ["stem", "stage1", "stage2", "stage3", "head"]
    assert [b.name for b in count.blocks] == ["stage1_block1", "stage2_block1", "stage3_block1"]
    assert sum(s.macs for s in count.stages) == count.macs
    assert sum(s.params for s in count.stages) == count.params
    assert count.flops == 2 * count.macs
    assert count.to_dict()["blocks"][0] == {
        "name": "stage1_block1",
        "stage": "stage1",
        "params": 2 * (9 * 16 * 16 + 32),
        "non_trainable_params": 2 * 32,
        "macs": 2 * 32 * 32 * 16 * 9 * 16,
        "output_shape": [None, 32, 32, 16],
    }


def test_grouped_separable_transpose_and_dense_convs() -> None:
    x = keras.Input((16, 16, 8))
    y = keras.layers.Conv2D(16, 3, padding="same", groups=4, name="grouped")(x)  # (3*3*8/4)*16 per position
    y = keras.layers.SeparableConv2D(8, 3, padding="same", name="sep")(y)  # 3*3*16 + 16*8 per position
    y = keras.layers.Conv2DTranspose(4, 2, strides=2, name="up")(y)  # 2*2*4*8 per input position
    y = keras.layers.Dense(3, name="fc")(y)  # per position 4*3
    count = count_keras(keras.Model(x, y))
    by_name = {layer.name: layer.macs for layer in count.layers}
    assert by_name["grouped"] == 256 * 9 * 2 * 16
    assert by_name["sep"] == 256 * (9 * 16 + 16 * 8)
    assert by_name["up"] == 256 * 2 * 2 * 4 * 8
    assert by_name["fc"] == 32 * 32 * 4 * 3


def test_layers_it_cannot_infer_are_listed_not_guessed() -> None:
    class Mystery(keras.layers.Layer):
        def call(self, x):
            return tf.reduce_sum(x, axis=-1, keepdims=True)

    x = keras.Input((8, 8, 3))
    y = keras.layers.Lambda(lambda t: t * 2.0, name="double")(x)  # shape-preserving: element-wise, counted
    y = Mystery(name="mystery")(y)
    count = count_keras(keras.Model(x, y))
    assert count.uncounted == ("mystery (Mystery)",)
    assert {layer.name: layer.elementwise_ops for layer in count.layers}["double"] == 8 * 8 * 3


def test_onnx_count_equals_keras_count() -> None:
    import numpy as np
    import tf2onnx

    from resnet_edge.models.config import ModelConfig
    from resnet_edge.models.resnet import build_resnet

    tiny_resnet = build_resnet(ModelConfig(depth=8))
    # random weights: the converter merges identical initializers, and fresh BatchNorms are all alike
    rng = np.random.default_rng(0)
    tiny_resnet.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in tiny_resnet.get_weights()])
    spec = [tf.TensorSpec((None, 32, 32, 3), tf.float32, name="image")]
    proto, _ = tf2onnx.convert.from_keras(tiny_resnet, input_signature=spec, opset=17)
    onnx_count, keras_count = count_onnx(proto), count_keras(tiny_resnet)
    assert onnx_count.macs == keras_count.macs
    assert [(b.name, b.macs) for b in onnx_count.blocks] == [(b.name, b.macs) for b in keras_count.blocks]
    assert onnx_count.uncounted == ()
    # the converter folds BatchNorm into the convolutions: scale and shift become one bias
    bn_layers = [layer for layer in tiny_resnet.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert onnx_count.params == keras_count.params - sum(layer.gamma.shape[0] for layer in bn_layers)
