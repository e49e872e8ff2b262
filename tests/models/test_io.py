"""Loading models: safe by default. A hostile .h5 or .keras whose Lambda layer writes a marker file must not
run through any command that loads a model, unless the user passes --trust-model."""

from __future__ import annotations

from pathlib import Path

import pytest

from resnet_edge._tf import keras
from resnet_edge.cli import main
from resnet_edge.models import io


def _hostile(path: Path, marker: Path) -> Path:
    """A working classifier whose Lambda layer writes `marker` whenever its Python runs (also on load)."""
    target = str(marker)

    def payload(x):
        with open(target, "w") as f:  # what an attacker's code would do, harmlessly
            f.write("ran")
        return x

    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Lambda(payload, name="innocent")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(5, activation="softmax")(x)
    keras.Model(inputs, outputs).save(path)
    marker.unlink(missing_ok=True)  # building the model ran it once; loading must not run it again
    return path


@pytest.fixture(autouse=True)
def _untrusted():
    io.trust_models(False)
    yield
    io.trust_models(False)


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_loading_refuses_lambda_layers(tmp_path: Path, suffix: str) -> None:
    marker = tmp_path / "marker"
    path = _hostile(tmp_path / f"hostile{suffix}", marker)
    with pytest.raises(io.ModelFileError, match="Lambda layer.*--trust-model"):
        io.load_keras(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "command",
    [
        ["info", "--model", "{model}"],
        ["prune", "--model", "{model}", "--out", "{tmp}/p", "--threshold", "0.1", "--per-class", "4"],
        ["export", "--model", "{model}", "--out", "{tmp}/e", "--per-class", "4", "--mode", "fp32"],
        ["predict", "{model}", "{tmp}/img.png"],
        ["bench", "{model}", "--rounds", "5", "--threads", "1"],
    ],
)
def test_no_command_runs_the_code_of_an_untrusted_model(tmp_path: Path, capsys, command: list[str]) -> None:
    from PIL import Image

    marker = tmp_path / "marker"
    model = _hostile(tmp_path / "hostile.h5", marker)
    Image.new("RGB", (32, 32)).save(tmp_path / "img.png")
    args = [a.format(model=model, tmp=tmp_path) for a in command]
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2 and "--trust-model" in err and len(err.strip().splitlines()) == 1
    assert not marker.exists()


def test_trust_model_opts_in(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    model = _hostile(tmp_path / "hostile.h5", marker)
    main(["--trust-model", "info", "--model", str(model)])
    assert marker.exists()
