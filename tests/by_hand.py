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
