"""Latency at batch 1, measured interleaved so machine noise hits every model alike, and so that no model's
time depends on which models run beside it.

Round-robin: each round runs every model in an order that alternates, so drift (thermal, a noisy neighbour,
frequency scaling) lands on all models in the same rounds and cancels in their ratios. Within a round each
model gets a block: untimed runs for at least `settle_ms` (and at least one), then `block` timed runs back to
back, whose median is the round's sample. The untimed runs absorb the neighbours: TensorFlow's pool threads (the
Keras baseline) keep spinning for milliseconds after a run and steal the cores from whatever runs next; the
untimed runs also wake the model's own threads and refill its caches, so the timed runs see the steady state of
a camera's loop, as if the model ran alone (benchmarks/order_invariance.py, ResNet-20 and ResNet-50, 2 threads:
every runtime within 3 % of alone; before, up to 98 %).
ONNX Runtime's threads spin for far longer; its sessions stop them when a run returns (runtime.ONNXRunner).
The Keras baseline runs in a worker process of its own (`Isolated`), with TensorFlow's pools set to the thread
count asked for: TensorFlow's threads are per process, so in the shared process `--threads 1` still ran Keras
on every core, and its per-call time switched between two levels (2.2 and 3.0 ms, ResNet-20) depending on
what ran beside it. In its worker the threads that compute are pinned, one pool thread per core, and glibc's
malloc keeps a fixed mmap threshold: left alone, TensorFlow switched between per-call levels for seconds at a
time even with nothing beside it (see `_pin_compute_threads`, `STEADY_MALLOC`).
Busy, not a pause: 20 ms of sleep before each block made the next runs up to 2x slower here (an idle core
comes back slow). benchmarks/order_invariance.py measures forward, reverse and alone against each other.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from resnet_edge.config import BenchConfig
from resnet_edge.errors import ModelFileError

Run = Callable[[], object]  # one prepared inference, in this process
# glibc's malloc for the Keras worker: a fixed mmap threshold and no trimming, so TensorFlow's activation buffers
# (256 KB and more) come from the heap on every call. With glibc's adaptive threshold the same 1-thread ResNet-20
# call took 2.15-2.30 ms from one second to the next, with it 1.95-1.99 ms. A user's GLIBC_TUNABLES is kept.
STEADY_MALLOC = "glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824"


class Isolated:
    """A model timed in a worker process of its own: the parent asks for a block, the worker runs it (settle
    runs, then the timed ones, timed there) and answers the block's median. For the Keras baseline, whose
    TensorFlow thread pools are set once per process (`threads`: intra-op; inter-op 1). The worker is a fresh
    interpreter started with `-c`, not multiprocessing's spawn, which would re-run the caller's main script."""

    def __init__(self, path: str | Path, threads: int | None, image: np.ndarray) -> None:
        root = str(Path(__file__).resolve().parent.parent)  # where this package is imported from
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH"))))}
        env.setdefault("GLIBC_TUNABLES", STEADY_MALLOC)
        command = [sys.executable, "-c", "from resnet_edge.latency import _serve; _serve()"]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        weakref.finalize(self, _stop, self._process)
        try:
            self._send((str(path), threads, image))
            status, message = self._receive()
        except (EOFError, OSError) as exc:
            status, message = "error", f"the worker ended ({type(exc).__name__})"
        if status != "ready":
            raise ModelFileError(f"artifact '{path}' could not be timed in a worker process: {message}")

    def _send(self, message: object) -> None:
        pickle.dump(message, self._process.stdin)
        self._process.stdin.flush()

    def _receive(self) -> Any:  # noqa: ANN401 (what the worker sent)
        return pickle.load(self._process.stdout)

    def block(self, size: int, settle_s: float) -> float:
        self._send((size, settle_s))
        return float(self._receive())


def _serve() -> None:
    """The worker's loop: (path, threads, image), then (size, settle_s) requests until None."""
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, not into the replies
    requests = sys.stdin.buffer
    path, threads, image = pickle.load(requests)
    try:
        if Path(path).suffix in (".keras", ".h5"):
            from resnet_edge._tf import tf

            if threads:  # before the first op: TensorFlow fixes its pools when its context starts
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(1)
        from resnet_edge.runtime import load_runner

        run = load_runner(path, threads=threads).timer(image)
        before = _cpu_ticks()
        _block(run, 10, 1.0)  # TensorFlow's first calls trace and tune; a second of them before the first round
        _pin_compute_threads(before, threads)
        reply: tuple[str, str] = ("ready", "")
    except Exception as exc:  # reported by the parent as a one-line error
        reply = ("error", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    pickle.dump(reply, replies)
    replies.flush()
    while reply[0] == "ready" and (request := pickle.load(requests)) is not None:
        pickle.dump(_block(run, *request), replies)
        replies.flush()


def _cpu_ticks() -> dict[int, int]:
    """{thread id: CPU ticks so far} of this process's threads (Linux; empty elsewhere)."""
    ticks = {}
    for task in Path("/proc/self/task").glob("*"):
        try:
            stat = (task / "stat").read_text()
        except OSError:  # the thread ended
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks[int(task.name)] = int(fields[11]) + int(fields[12])  # utime + stime
    return ticks


def _pin_compute_threads(before: dict[int, int], threads: int | None) -> None:
    """Pin the threads that computed since `before` (TensorFlow's intra-op pool first, then its inter-op thread,
    which runs the kernels and takes a share of each parallel loop) round-robin to `threads` of the allowed cores,
    so the pool's threads never share a core. Left to the scheduler, the two pool threads of a 2-thread Keras
    ResNet-20 shared a core for seconds at a time: 3.0 ms instead of 2.2 ms per call (benchmarks/
    order_invariance.py). The Python thread that waits for the result is left free."""
    if not hasattr(os, "sched_setaffinity"):
        return
    after, main = _cpu_ticks(), threading.get_native_id()
    used = {t: after[t] - before.get(t, 0) for t in after if t != main}
    busy = sorted((t for t in used if used[t] > 0), key=lambda t: -used[t])
    inter_op = [t for t in busy if _thread_name(t) == "tf_Compute"]
    cores = sorted(os.sched_getaffinity(0))[: threads or None]
    for i, tid in enumerate([t for t in busy if t not in inter_op] + inter_op):
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            os.sched_setaffinity(tid, {cores[i % len(cores)]})


def _thread_name(tid: int) -> str:
    try:
        return Path(f"/proc/self/task/{tid}/comm").read_text().strip()
    except OSError:
        return ""


def _stop(process: subprocess.Popen) -> None:
    try:
        pickle.dump(None, process.stdin)
        process.stdin.close()
        process.wait(timeout=5)
    except (OSError, subprocess.TimeoutExpired):  # gone already, or stuck
        process.kill()
    if process.stdout:
        process.stdout.close()


def timers(paths: Mapping[str, str | Path], threads: int | None, image: np.ndarray | None = None,
           provider: str = "cpu", seed: int = 0) -> dict[str, Run | Isolated]:  # fmt: skip
    """What `interleaved` times for each artifact: a prepared run in this process (TFLite, ONNX), or a worker
    process (Keras). `image` (raw pixels) defaults to a random one of each model's input size."""
    from resnet_edge.runtime import load_runner

    out: dict[str, Run | Isolated] = {}
    for name, path in paths.items():
        keras = Path(path).suffix.lower() in (".keras", ".h5")
        runner = None if keras and image is not None else load_runner(path, threads=threads, provider=provider)
        x = image if image is not None else np.random.default_rng(seed).uniform(0, 255, runner.image_size)
        x = x.astype(np.float32)
        out[name] = Isolated(path, threads, x) if keras else runner.timer(x)
    return out


def interleaved(timers: Mapping[str, Run | Isolated], config: BenchConfig | None = None) -> dict[str, np.ndarray]:
    """{name: latencies in ms}, one sample per round (the median of the model's timed block); stops early when
    the config's `budget_s` seconds are spent."""
    config = config or BenchConfig()
    names = list(timers)
    samples: dict[str, list[float]] = {name: [] for name in names}
    start = time.perf_counter()
    for r in range(config.warmup + config.rounds):
        order = names if r % 2 == 0 else names[::-1]  # alternate: no model always runs first
        for name in order:
            timer = timers[name]
            settle_s = config.settle_ms / 1e3
            block = (
                timer.block(config.block, settle_s)
                if isinstance(timer, Isolated)
                else _block(timer, config.block, settle_s)
            )
            if r >= config.warmup:
                samples[name].append(block)
        if config.budget_s is not None and r >= config.warmup + 4 and time.perf_counter() - start > config.budget_s:
            break
    return {name: np.asarray(v) for name, v in samples.items()}


def _block(run: Run, size: int, settle_s: float) -> float:
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
    timed = timers({str(p): p for p in paths}, threads, seed=seed)
    return {name: summary(ms) for name, ms in interleaved(timed, config).items()}
