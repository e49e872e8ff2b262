"""Latency at batch 1, measured interleaved so machine noise hits every model alike.

Round-robin: each round runs every model once, in an order that alternates, so drift (thermal, a noisy
neighbour, frequency scaling) lands on all models in the same rounds and cancels in their ratios.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def interleaved(
    timers: dict[str, Callable[[], object]],
    *,
    warmup: int = 10,
    rounds: int = 50,
    budget_s: float | None = None,
) -> dict[str, np.ndarray]:
    """{name: latencies in ms}, one sample per round; stops early when `budget_s` seconds are spent."""
    names = list(timers)
    samples: dict[str, list[float]] = {name: [] for name in names}
    start = time.perf_counter()
    for r in range(warmup + rounds):
        order = names if r % 2 == 0 else names[::-1]  # alternate: no model always runs first
        for name in order:
            t = time.perf_counter()
            timers[name]()
            if r >= warmup:
                samples[name].append((time.perf_counter() - t) * 1e3)
        if budget_s is not None and r >= warmup + 4 and time.perf_counter() - start > budget_s:
            break
    return {name: np.asarray(v) for name, v in samples.items()}


def summary(ms: np.ndarray) -> dict[str, float]:
    q25, q50, q75, q90 = np.percentile(ms, [25, 50, 75, 90])
    return {"p50_ms": float(q50), "p90_ms": float(q90), "mean_ms": float(ms.mean()), "iqr_ms": float(q75 - q25),
            "runs": int(len(ms))}  # fmt: skip


def tflite_latency(
    paths: list[str | Path], *, threads: int = 2, warmup: int = 10, rounds: int = 50, seed: int = 0
) -> dict[str, dict[str, float]]:
    """{path: {p50_ms, p90_ms, mean_ms, iqr_ms, runs}} of TFLite files, measured interleaved."""
    from resnet_edge.runtime import load_runner

    rng = np.random.default_rng(seed)
    timers = {}
    for path in map(str, paths):
        runner = load_runner(path, threads=threads)
        timers[path] = runner.timer(rng.uniform(0, 255, runner.image_size).astype(np.float32))
    return {name: summary(ms) for name, ms in interleaved(timers, warmup=warmup, rounds=rounds).items()}
