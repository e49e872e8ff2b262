"""Does a model's interleaved latency depend on which models run beside it? Each model of a set (Keras fp32,
TFLite fp32 and int8, ONNX fp32 and int8 of one ResNet) is timed in three ways in one process: interleaved
with the others in forward order, in reverse order, and alone; with ONNX Runtime's threads spinning after a run
(its default), with spinning off, and with spinning off and a pause before each timed run. Measured here (2-core
AMD EPYC, ResNet-20 64x64, 2 threads, 100 rounds): forward/reverse/alone spread up to 324 % (TFLite int8 1.67 vs
0.39 ms) with spinning on, 12-52 % with it off (TensorFlow's pool still slows the next model after Keras), 3-13 %
with a 5 ms pause, which however doubles every latency (cold threads): none of the three is the answer yet.

    python benchmarks/order_invariance.py --depth 20 --size 64 --threads 2
    python benchmarks/order_invariance.py --depth 50 --size 224 --threads 2 --rounds 30
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np


def _artifacts(depth: int, size: int, folder: Path) -> list[Path]:
    from resnet_edge.config import QuantizeConfig, QuantMode
    from resnet_edge.export.onnx import export_onnx
    from resnet_edge.export.tflite import export_tflite
    from resnet_edge.models.config import ModelConfig
    from resnet_edge.models.resnet import build_resnet

    config = ModelConfig(depth=depth, input_size=size, classes=5, input_mean=(128.0,) * 3, input_std=(64.0,) * 3)
    model = build_resnet(config)
    model.save(folder / "model.keras")
    images = np.random.default_rng(0).uniform(0, 255, (32, size, size, 3)).astype(np.float32)
    quant = QuantizeConfig(representative_count=32)
    paths = [folder / "model.keras"]
    for mode in (QuantMode.FP32, QuantMode.INT8):
        paths.append(export_tflite(model, mode, folder / f"model_{mode.value}.tflite", representative=images,
                                   config=quant))  # fmt: skip
    fp32 = export_onnx(model, QuantMode.FP32, folder / "model_fp32.onnx")
    paths += [fp32, export_onnx(model, QuantMode.INT8, folder / "model_int8.onnx", fp32_path=fp32,
                                representative=images, config=quant)]  # fmt: skip
    return paths


def _timers(paths: list[Path], threads: int, spinning: bool) -> dict[str, object]:
    from resnet_edge.runtime import ONNXRunner, load_runner

    timers = {}
    for path in paths:
        runner = ONNXRunner(path, threads, ["CPUExecutionProvider"], spinning=spinning) if path.suffix == ".onnx" \
            else load_runner(path, threads=threads)  # fmt: skip
        image = np.random.default_rng(1).uniform(0, 255, runner.image_size).astype(np.float32)
        timers[path.name] = runner.timer(image)
    return timers


def _round_robin(timers: dict, names: list[str], rounds: int, warmup: int, quiesce: float = 0.0) -> dict[str, float]:
    """p50 ms of each model, run in the given fixed order every round (no alternation: order is the variable),
    with `quiesce` seconds of sleep before each run (not timed)."""
    import time

    samples = {n: [] for n in names}
    for r in range(warmup + rounds):
        for n in names:
            if quiesce:
                time.sleep(quiesce)
            t = time.perf_counter()
            timers[n]()
            if r >= warmup:
                samples[n].append((time.perf_counter() - t) * 1e3)
    return {n: float(np.median(v)) for n, v in samples.items()}


def measure(paths: list[Path], threads: int, spinning: bool, rounds: int, warmup: int, quiesce: float = 0.0
            ) -> dict[str, dict[str, float]]:  # fmt: skip
    timers = _timers(paths, threads, spinning)
    names = list(timers)
    forward = _round_robin(timers, names, rounds, warmup, quiesce)
    reverse = _round_robin(timers, names[::-1], rounds, warmup, quiesce)
    alone = {n: _round_robin(timers, [n], rounds, warmup, quiesce)[n] for n in names}
    return {n: {"forward": forward[n], "reverse": reverse[n], "alone": alone[n]} for n in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--quiesce-ms", type=float, default=5.0, help="pause before each timed run (third set)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = _artifacts(args.depth, args.size, Path(tmp))
        for spinning, quiesce in ((True, 0.0), (False, 0.0), (False, args.quiesce_ms / 1e3)):
            label = "spinning on (ORT default)" if spinning else "spinning off"
            label += f", {args.quiesce_ms:g} ms pause" if quiesce else ""
            results[label] = measure(paths, args.threads, spinning, args.rounds, args.warmup, quiesce)
    print(f"ResNet-{args.depth} at {args.size}x{args.size}, {args.threads} threads, p50 ms of {args.rounds} rounds")
    print("| ORT threads | model | forward | reverse | alone | max spread |")
    print("|---|---|---|---|---|---|")
    for label, rows in results.items():
        for name, t in rows.items():
            spread = 100 * (max(t.values()) / min(t.values()) - 1)
            print(f"| {label} | {name} | {t['forward']:.3f} | {t['reverse']:.3f} | {t['alone']:.3f} | {spread:.1f} % |")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
