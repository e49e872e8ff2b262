"""`export --format tflm`: model_data.cc / .h compile, hold the .tflite byte for byte, register the model's operators,
size an arena TensorFlow Lite Micro's own interpreter runs in; models with operators it lacks are refused."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from by_hand import tflm_run

from resnet_edge._tf import tf
from resnet_edge.cli import main
from resnet_edge.config import QuantMode
from resnet_edge.errors import ConfigError
from resnet_edge.export.tflite import export_tflite
from resnet_edge.export.tflm import RESOLVER_METHODS, write_tflm
from resnet_edge.models.config import ModelConfig
from resnet_edge.models.resnet import build_resnet

CXX = shutil.which("g++") or shutil.which("c++")
DATA = ("--data", "inspection", "--per-class", "15")

# includes the generated header, writes the array to argv[1], and registers the operators on a resolver that records
# the calls: what the header promises, checked without TFLite Micro's sources
MAIN = r"""
#include <cstdint>
#include <cstdio>
#include <string>
#include "model_data.h"

struct RecordingResolver {
  std::string calls;
%s
};

int main(int, char** argv) {
  std::FILE* f = std::fopen(argv[1], "wb");
  std::fwrite(g_model_data, 1, g_model_data_len, f);
  std::fclose(f);
  RecordingResolver resolver;
  bool ok = RegisterModelOps(resolver);
  std::printf("aligned=%%d arena=%%zu ops=%%d registered=%%d calls=%%s\n",
              static_cast<int>(reinterpret_cast<std::uintptr_t>(g_model_data) %% 16 == 0),
              kTensorArenaSize, kModelOpCount, static_cast<int>(ok), resolver.calls.c_str());
  return 0;
}
"""


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory):
    """An int8 ResNet-8 TFLite file (calibrated on random pixels: the bundle's mechanics, not accuracy)."""
    images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3)).astype(np.float32)
    model = build_resnet(ModelConfig(depth=8, classes=5))
    return export_tflite(model, QuantMode.INT8, tmp_path_factory.mktemp("tflm") / "model_int8.tflite",
                         representative=images)  # fmt: skip


@pytest.mark.skipif(CXX is None, reason="no C++ compiler (g++ or c++) on this machine")
def test_the_bundle_compiles_and_holds_the_tflite_byte_for_byte(int8_model, tmp_path) -> None:
    bundle = write_tflm(int8_model, tmp_path)
    assert bundle.ops == ("CONV_2D", "ADD", "STRIDED_SLICE", "PAD", "MEAN", "FULLY_CONNECTED", "SOFTMAX")
    methods = "\n".join(f'  int {RESOLVER_METHODS[op]}() {{ calls += "{op} "; return 0; }}' for op in bundle.ops)
    (tmp_path / "main.cc").write_text(MAIN % methods)
    flags = ["-std=c++17", "-Wall", "-Wextra", "-Werror"]
    for name in ("model_data.cc", "main.cc"):
        subprocess.run([CXX, *flags, "-c", name, "-o", name + ".o"], cwd=tmp_path, check=True, timeout=300)
    subprocess.run([CXX, "model_data.cc.o", "main.cc.o", "-o", "dump"], cwd=tmp_path, check=True, timeout=120)
    run = subprocess.run([str(tmp_path / "dump"), str(tmp_path / "dumped.tflite")], capture_output=True, text=True,
                         check=True, timeout=60)  # fmt: skip
    assert (tmp_path / "dumped.tflite").read_bytes() == int8_model.read_bytes()
    assert run.stdout.split() == ["aligned=1", f"arena={bundle.arena_bytes}", f"ops={len(bundle.ops)}",
                                  "registered=1", "calls=" + bundle.ops[0], *bundle.ops[1:]]  # fmt: skip
    header = (tmp_path / "model_data.h").read_text()
    assert "resolver.AddConv2D();" in header and f"kModelActivationBytes = {bundle.activation_bytes};" in header


def test_tflite_micro_runs_the_model_in_the_bundles_arena(int8_model, tmp_path) -> None:
    """TFLite Micro's interpreter allocates and runs the model in kTensorArenaSize bytes, with the same int8 output
    as LiteRT's (to one quantization step: reference and optimized kernels round differently), and fails in the
    planned activations alone: the margin is needed."""
    pytest.importorskip("tflite_micro", reason="tflite-micro (a dev dependency) is not installed")
    from ai_edge_litert.interpreter import Interpreter

    bundle = write_tflm(int8_model, tmp_path)
    image = np.random.default_rng(1).integers(-128, 128, (1, 32, 32, 3), dtype=np.int8)
    micro = tflm_run(int8_model, bundle.arena_bytes, image)
    assert micro["ok"] and micro["head"] == bundle.activation_bytes
    assert micro["total"] <= bundle.arena_bytes <= 1.4 * micro["total"]
    litert = Interpreter(model_path=str(int8_model))
    litert.allocate_tensors()
    litert.set_tensor(litert.get_input_details()[0]["index"], image)
    litert.invoke()
    expected = litert.get_tensor(litert.get_output_details()[0]["index"]).ravel().astype(int)
    assert np.abs(micro["output"].astype(int) - expected).max() <= 1
    assert not tflm_run(int8_model, bundle.activation_bytes)["ok"]


def test_a_model_with_operators_tflite_micro_lacks_is_refused(tmp_path) -> None:
    fn = tf.function(lambda x: tf.math.reduce_prod(tf.math.cumsum(x, axis=1), axis=1, keepdims=True))
    concrete = fn.get_concrete_function(tf.TensorSpec([1, 8], tf.float32))
    path = tmp_path / "odd.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_concrete_functions([concrete], fn).convert())
    with pytest.raises(ConfigError, match=r"TFLite Micro has no kernel for REDUCE_PROD in 'odd.tflite'") as info:
        write_tflm(path, tmp_path)
    assert "\n" not in str(info.value) and not (tmp_path / "model_data.cc").exists()


def test_cli_export_format_tflm_writes_the_bundle_beside_the_int8_artifact(tmp_path, capsys) -> None:
    model = tmp_path / "model.keras"
    build_resnet(ModelConfig(depth=8, classes=5)).save(model)
    out = tmp_path / "out"
    code = main(["export", "--model", str(model), "--out", str(out), "--format", "tflm", "--mode", "int8",
                 "--representative", "10", "--no-layer-report", "--allow-invalid", *DATA])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0 and "TensorFlow Lite Micro: model_data.cc" in printed and "RAM KiB" in printed
    assert sorted(p.name for p in out.iterdir()) == ["labels.txt", "manifest.json", "model_data.cc", "model_data.h",
                                                     "model_int8.tflite"]  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tflm"]["model"] == "model_int8.tflite" and manifest["tflm"]["ops"][0] == "CONV_2D"
    assert manifest["artifacts"][0]["footprint"]["ram_bytes"] == manifest["tflm"]["activation_bytes"] > 0


def test_a_refused_bundle_leaves_the_previous_export_as_it_was(tmp_path, capsys, monkeypatch) -> None:
    import resnet_edge.export as export_stage

    for depth in (8, 14):
        build_resnet(ModelConfig(depth=depth, classes=5)).save(tmp_path / f"resnet{depth}.keras")
    out = tmp_path / "out"
    args = ["--out", str(out), "--mode", "int8", "--representative", "10", "--no-layer-report", "--allow-invalid",
            *DATA]  # fmt: skip
    assert main(["export", "--model", str(tmp_path / "resnet8.keras"), "--format", "tflite", *args]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def refuse(tflite: Path, folder: Path) -> None:  # as write_tflm refuses a model with an operator TFLM lacks
        raise ConfigError(f"--format tflm: TFLite Micro has no kernel for REDUCE_PROD in '{tflite.name}'")

    monkeypatch.setattr(export_stage, "write_tflm", refuse)
    # another model: a model_int8.tflite of other bytes, which must not replace the previous one
    code = main(["export", "--model", str(tmp_path / "resnet14.keras"), "--format", "tflite", "--format", "tflm",
                 *args])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "no kernel for REDUCE_PROD" in err and len(err.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing replaced, nothing left half-done


def test_cli_tflm_without_int8_is_one_line_exit_2(tmp_path, capsys) -> None:
    model = tmp_path / "model.keras"
    build_resnet(ModelConfig(depth=8, classes=5)).save(model)
    code = main(["export", "--model", str(model), "--out", str(tmp_path / "out"), "--format", "tflm",
                 "--mode", "fp32"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "--format tflm embeds the int8 TFLite model; add int8 to --mode (received fp32)" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
