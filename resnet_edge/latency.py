"""Latency of TFLite files at batch 1, measured interleaved so machine noise hits every model alike."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def _interpreter(path: Path, threads: int):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=threads)
    interp.allocate_tensors()
    return interp


def tflite_latency(
    paths: list[str | Path], *, threads: int = 2, warmup: int = 10, rounds: int = 50, seed: int = 0
) -> dict[str, dict[str, float]]:
    """{path: {p50_ms, p90_ms, mean_ms}}: round-robin over the models, one inference each per round."""
    rng = np.random.default_rng(seed)
    runners = []
    for path in map(Path, paths):
        interp = _interpreter(path, threads)
        inp = interp.get_input_details()[0]
        x = rng.uniform(0, 255, inp["shape"]).astype(inp["dtype"])
        runners.append((str(path), interp, inp["index"], x))
    samples: dict[str, list[float]] = {name: [] for name, *_ in runners}
    for r in range(warmup + rounds):
        order = runners if r % 2 == 0 else runners[::-1]  # alternate the order: no model always runs first
        for name, interp, index, x in order:
            interp.set_tensor(index, x)
            t = time.perf_counter()
            interp.invoke()
            if r >= warmup:
                samples[name].append((time.perf_counter() - t) * 1e3)
    return {
        name: {
            "p50_ms": float(np.percentile(v, 50)),
            "p90_ms": float(np.percentile(v, 90)),
            "mean_ms": float(np.mean(v)),
        }
        for name, v in samples.items()
    }
