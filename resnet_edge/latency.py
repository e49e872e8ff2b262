"""Latency at batch 1, measured interleaved so machine noise hits every model alike, and so that no model's
time depends on which models run beside it.

Round-robin: each round runs every model in an order that alternates, so drift (thermal, a noisy neighbour,
frequency scaling) lands on all models in the same rounds and cancels in their ratios. Within a round each
model gets a block: untimed runs for at least `settle_ms` (and at least one), then `block` timed runs back to
back, whose median is the round's sample. The untimed runs absorb the neighbours: TensorFlow's pool threads (the
Keras baseline) keep spinning for milliseconds after a run and steal the cores from whatever runs next; the
untimed runs also wake the model's own threads and refill its caches, so the timed runs see the steady state of
a camera's loop, as if the model ran alone (ResNet-20: TFLite within 2 % of alone, ONNX Runtime 8-19 %, Keras
14 %; before, up to 145 %).
ONNX Runtime's threads spin for far longer; its sessions stop them when a run returns (runtime.ONNXRunner).
Busy, not a pause: 20 ms of sleep before each block made the next runs up to 2x slower here (an idle core
comes back slow). benchmarks/order_invariance.py measures forward, reverse and alone against each other.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from resnet_edge.config import BenchConfig


def interleaved(timers: dict[str, Callable[[], object]], config: BenchConfig | None = None) -> dict[str, np.ndarray]:
    """{name: latencies in ms}, one sample per round (the median of the model's timed block); stops early when
    the config's `budget_s` seconds are spent."""
    config = config or BenchConfig()
    names = list(timers)
    samples: dict[str, list[float]] = {name: [] for name in names}
    start = time.perf_counter()
    for r in range(config.warmup + config.rounds):
        order = names if r % 2 == 0 else names[::-1]  # alternate: no model always runs first
        for name in order:
            block = _block(timers[name], config.block, config.settle_ms / 1e3)
            if r >= config.warmup:
                samples[name].append(block)
        if config.budget_s is not None and r >= config.warmup + 4 and time.perf_counter() - start > config.budget_s:
            break
    return {name: np.asarray(v) for name, v in samples.items()}


def _block(run: Callable[[], object], size: int, settle_s: float) -> float:
    """Median ms of `size` timed runs after untimed runs for at least `settle_s` (and at least one)."""
    start = time.perf_counter()
    run()
    while time.perf_counter() - start < settle_s:
        run()
    times = []
    for _ in range(size):
        t = time.perf_counter()
        run()
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times))


def summary(ms: np.ndarray) -> dict[str, float]:
    q25, q50, q75, q90 = np.percentile(ms, [25, 50, 75, 90])
    return {"p50_ms": float(q50), "p90_ms": float(q90), "mean_ms": float(ms.mean()), "iqr_ms": float(q75 - q25),
            "runs": int(len(ms))}  # fmt: skip


def tflite_latency(
    paths: list[str | Path], *, threads: int = 2, config: BenchConfig | None = None, seed: int = 0
) -> dict[str, dict[str, float]]:
    """{path: {p50_ms, p90_ms, mean_ms, iqr_ms, runs}} of TFLite files, measured interleaved."""
    from resnet_edge.runtime import load_runner

    rng = np.random.default_rng(seed)
    timers = {}
    for path in map(str, paths):
        runner = load_runner(path, threads=threads)
        timers[path] = runner.timer(rng.uniform(0, 255, runner.image_size).astype(np.float32))
    return {name: summary(ms) for name, ms in interleaved(timers, config).items()}
