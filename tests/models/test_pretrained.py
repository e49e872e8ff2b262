"""ImageNet weights of keras.applications mapped onto the zoo: the same function, checked against Keras itself.

keras.applications.ResNet50 is built offline (weights=None); its biases, BatchNorm statistics and affine terms
are randomised so that the bias folding and the epsilon compensation are exercised (a fresh model has zero
biases and unit variances, which would hide both).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from resnet_edge._tf import keras
from resnet_edge.cli import main
from resnet_edge.errors import ConfigError, ModelFileError
from resnet_edge.models.config import ModelConfig
from resnet_edge.models.pretrained import keras_file_name, load_imagenet_weights

SIZE = 64


def _randomised(model: keras.Model, seed: int = 0) -> keras.Model:
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        values = []
        for weight in layer.weights:
            name, shape = weight.name, tuple(weight.shape)
            if "moving_variance" in name:
                values.append(rng.uniform(0.5, 2.0, shape))
            elif "gamma" in name:
                values.append(rng.uniform(0.5, 1.5, shape))
            elif any(k in name for k in ("moving_mean", "beta", "bias")):
                values.append(rng.normal(0.0, 0.1, shape))
            else:
                values.append(weight.numpy())
        if values:
            layer.set_weights([v.astype("float32") for v in values])
    return model


@pytest.fixture(scope="module")
def applications(tmp_path_factory) -> tuple[keras.Model, keras.Model, Path, Path]:
    """keras.applications.ResNet50 with random weights, saved with and without its classifier."""
    folder = tmp_path_factory.mktemp("weights")
    model = _randomised(keras.applications.ResNet50(weights=None, include_top=True, input_shape=(SIZE, SIZE, 3)))
    top, notop = folder / keras_file_name(50, top=True), folder / keras_file_name(50)
    model.save_weights(top)
    features = keras.Model(model.input, model.get_layer("avg_pool").output)
    notop_model = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(SIZE, SIZE, 3))
    for layer in notop_model.layers[1:]:  # the input layers' names differ (input_1, input_2)
        layer.set_weights(model.get_layer(layer.name).get_weights())
    notop_model.save_weights(notop)
    return model, features, top, notop


def _images(n: int = 4) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (n, SIZE, SIZE, 3)).astype("float32")


def _caffe(x: np.ndarray) -> np.ndarray:
    return keras.applications.resnet50.preprocess_input(x.copy())


def test_with_top_gives_keras_applications_scores(applications) -> None:
    model, _, top, _ = applications
    config, zoo = load_imagenet_weights(top, ModelConfig(depth=50, version="v1", input_size=SIZE, classes=1000))
    x = _images()
    expected = model.predict(_caffe(x), verbose=0)
    got = zoo.predict(x, verbose=0)  # raw RGB pixels: the caffe preprocessing is inside the zoo model
    assert np.abs(got - expected).max() <= 1e-4
    assert config.input_mean == (123.68, 116.779, 103.939)


def test_without_top_gives_keras_applications_features(applications) -> None:
    _, features, _, notop = applications
    _, zoo = load_imagenet_weights(notop, ModelConfig(depth=50, version="v1", input_size=SIZE, classes=5))
    x = _images()
    expected = features.predict(_caffe(x), verbose=0)
    got = keras.Model(zoo.input, zoo.get_layer("head_pool").output).predict(x, verbose=0)
    assert np.abs(got - expected).max() <= 1e-4 * max(1.0, np.abs(expected).max())
    assert zoo.output_shape == (None, 5)  # a new head for the task's classes


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (ModelConfig(depth=101, version="v1", input_size=SIZE), "holds ResNet-50 weights; the model is ResNet-101"),
        (ModelConfig(depth=50, input_size=SIZE), "version v1.5"),
        (ModelConfig(depth=50, version="v1", input_size=SIZE, channels=1), "1 channel(s)"),
        (ModelConfig(depth=18, input_size=SIZE), "accepted: ImageNet 50, 101, 152"),
    ],
)
def test_a_model_the_weights_do_not_fit_is_one_line(applications, config, message) -> None:
    with pytest.raises((ConfigError, ModelFileError), match=message.replace("(", r"\(").replace(")", r"\)")):
        load_imagenet_weights(applications[3], config)


def test_missing_truncated_and_foreign_files(applications, tmp_path: Path) -> None:
    config = ModelConfig(depth=50, version="v1", input_size=SIZE, classes=5)
    with pytest.raises(
        ModelFileError, match=r"resnet50_weights_tf_dim_ordering_tf_kernels_notop\.h5.*~/\.keras/models"
    ):
        load_imagenet_weights(tmp_path / "absent.h5", config)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(applications[3].read_bytes()[:4096])
    with pytest.raises(ModelFileError, match="not a readable Keras HDF5 weights file"):
        load_imagenet_weights(truncated, config)
    foreign = tmp_path / "mobilenet.h5"
    keras.applications.MobileNetV2(weights=None, input_shape=(SIZE, SIZE, 3)).save_weights(foreign)
    with pytest.raises(ModelFileError, match="not keras.applications ResNet50/101/152 weights"):
        load_imagenet_weights(foreign, config)


def test_cli_names_the_missing_weights_file(tmp_path: Path, capsys) -> None:
    code = main(["train", "--depth", "50", "--input-size", "32", "--per-class", "4", "--epochs", "1",
                 "--weights", str(tmp_path / "r50.h5"), "--out", str(tmp_path / "run")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "resnet50_weights_tf_dim_ordering_tf_kernels" in err


def test_build_fine_tunes_from_the_file_end_to_end(applications, tmp_path: Path) -> None:
    """The chain runs from a weights file; with random 'ImageNet' weights its accuracy means nothing."""
    out = tmp_path / "run"
    code = main(["build", "--depth", "50", "--input-size", "32", "--per-class", "12", "--epochs", "1",
                 "--weights", str(applications[3]), "--min-accuracy", "0", "--no-prune", "--format", "tflite",
                 "--quantize", "none", "--rounds", "5", "--threads", "1", "--out", str(out)])  # fmt: skip
    assert code == 0
    metrics = (out / "baseline" / "metrics.json").read_text()
    assert '"recipe": "finetune"' in metrics and "notop" in metrics
    assert (out / "export" / "model_fp32.tflite").is_file() and (out / "report.html").is_file()
