"""Artifacts run by hand with each runtime's own API, as an independent check of the library's runners."""

from __future__ import annotations

import numpy as np


def tflite_scores(path, images: np.ndarray) -> tuple[np.ndarray, dict, dict]:
    """(class scores, input details, output details) of a .tflite file run here with LiteRT, one image at a
    time: pixels quantized by hand with the input's scale and zero point, the output dequantized with its own."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    (in_scale, in_zero), (out_scale, out_zero) = inp["quantization"], out["quantization"]
    lo, hi = np.iinfo(inp["dtype"]).min, np.iinfo(inp["dtype"]).max
    scores = []
    for image in images:
        q = np.clip(np.round(image / in_scale) + in_zero, lo, hi).astype(inp["dtype"])
        interp.set_tensor(inp["index"], q[None])
        interp.invoke()
        scores.append((interp.get_tensor(out["index"])[0].astype(np.float32) - out_zero) * out_scale)
    return np.stack(scores), inp, out


def onnx_scores(path, images: np.ndarray) -> tuple[np.ndarray, set[str]]:
    """(class scores, operator types) of an .onnx file run here with ONNX Runtime on raw float pixels."""
    import onnx
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    scores = session.run(None, {session.get_inputs()[0].name: images.astype(np.float32)})[0]
    return scores, {node.op_type for node in onnx.load(str(path)).graph.node}


def learned_reference(model, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(Keras scores, predictions, accuracy %) after checking the model learned (chance: 10 %) and predicts every
    class: a constant predictor would agree with its own int8 copy and pass any agreement check."""
    reference = model.predict(x, verbose=0)
    pred = reference.argmax(-1)
    accuracy = 100 * np.mean(pred == y)
    assert accuracy > 90 and set(pred) == set(range(10)) and 100 / len(y) < 3
    return reference, pred, accuracy


def tflm_run(path, arena_size: int, image: np.ndarray | None = None) -> dict:
    """TensorFlow Lite Micro's own interpreter (the `tflite-micro` package) on a .tflite file with `arena_size`
    bytes of arena, in a subprocess (its allocation report is printed by C code): {"ok", "head", "tail", "total",
    "output"}. `ok` is False when TFLite Micro could not allocate (or resolve) the model in that arena."""
    import json
    import subprocess
    import sys

    script = (
        "import json, sys, numpy as np\n"
        "from tflite_micro.python.tflite_micro import runtime\n"
        "it = runtime.Interpreter.from_file(sys.argv[1], arena_size=int(sys.argv[2]))\n"
        "image = json.loads(sys.argv[3])\n"
        "if image is not None:\n"
        "    d = it.get_input_details(0)\n"
        "    it.set_input(np.asarray(image, d['dtype']).reshape(d['shape']), 0)\n"
        "    it.invoke()\n"
        "    print('OUTPUT', json.dumps(it.get_output(0).ravel().tolist()), flush=True)\n"
        "it.print_allocations()\n"
    )
    arg = json.dumps(None if image is None else np.asarray(image).ravel().tolist())
    proc = subprocess.run([sys.executable, "-c", script, str(path), str(arena_size), arg], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    found: dict = {"ok": proc.returncode == 0, "output": None}
    for line in proc.stdout.splitlines() + proc.stderr.splitlines():
        for key in ("total", "head", "tail"):
            if f"Arena allocation {key} " in line:
                found[key] = int(line.split(f"Arena allocation {key} ")[1].split()[0])
        if line.startswith("OUTPUT "):
            found["output"] = np.asarray(json.loads(line[len("OUTPUT ") :]))
    return found
