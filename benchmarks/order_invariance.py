"""Does a model's interleaved latency depend on which models run beside it? The models of one ResNet (Keras fp32,
TFLite fp32 and int8, ONNX fp32 and int8) are timed by `latency.interleaved`, as bench, gate and prune time
them, given in forward order, in reverse order, and each alone: before (the former schedule: one process, one
run per model per round, ONNX Runtime's default spinning) and after (each model's block: untimed runs for
`settle_ms`, then `block` timed runs; ORT sessions stop spinning when a run returns; the Keras model in a worker
process of its own with TensorFlow's pools at `--threads` and its computing threads pinned). The spread is
max / min - 1 over the three p50s of a model (alone, forward, reverse). Each p50 is the median of all the
condition's rounds over `--cycles` short turns of the three, in an order that alternates from turn to turn: the
machine drifts by a few % over minutes, and one long stretch per condition would read that drift as order.

    python benchmarks/order_invariance.py --depth 20 --size 64 --threads 2
    python benchmarks/order_invariance.py --depth 50 --size 224 --threads 2
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


def _timers(paths: list[Path], threads: int, before: bool) -> dict[str, object]:
    import onnxruntime as ort

    from resnet_edge.latency import timers
    from resnet_edge.runtime import load_runner

    image = np.random.default_rng(1).uniform(0, 255, (*load_runner(paths[1]).image_size,)).astype(np.float32)
    if not before:  # as bench, gate and prune time them now (Keras in a worker process of its own)
        return timers({p.name: p for p in paths}, threads, image)
    out = {}
    for path in paths:  # the former way: every model in this process, ONNX Runtime's default spinning
        runner = load_runner(path, threads=threads)
        if path.suffix == ".onnx":
            options = ort.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
            runner._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        out[path.name] = runner.timer(image)
    return out


def measure(paths: list[Path], threads: int, config, before: bool, cycles: int = 3  # noqa: ANN001
            ) -> dict[str, dict[str, float]]:  # fmt: skip
    """p50 ms of every model given alone, forward and reverse: the median of every round's sample of the
    condition, pooled over `cycles` short turns of the three, whose order alternates from turn to turn."""
    from resnet_edge.latency import interleaved

    timers = _timers(paths, threads, before)
    names = list(timers)

    def alone() -> dict[str, np.ndarray]:
        return {n: interleaved({n: timers[n]}, config)[n] for n in names}

    conditions = {"alone": alone, "forward": lambda: interleaved(timers, config),
                  "reverse": lambda: interleaved({n: timers[n] for n in names[::-1]}, config)}  # fmt: skip
    seen: dict[str, dict[str, list[float]]] = {n: {c: [] for c in conditions} for n in names}
    for turn in range(cycles):  # many short turns: the slow drift of a runtime (Keras: minutes) hits all alike
        for label in list(conditions)[:: 1 if turn % 2 == 0 else -1]:
            for n, samples in conditions[label]().items():
                seen[n][label].extend(samples.tolist())
    return {n: {c: float(np.median(v)) for c, v in by_condition.items()} for n, by_condition in seen.items()}


def main() -> None:
    from resnet_edge.config import BenchConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=15, help="rounds per turn")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--after-only", action="store_true", help="skip the former schedule")
    parser.add_argument("--cycles", type=int, default=12, help="turns of alone, forward, reverse")
    args = parser.parse_args()
    after = BenchConfig(rounds=args.rounds)
    # the former schedule: 10 warm-up rounds, then one run per model per round (5x the rounds: as many runs)
    before = BenchConfig(rounds=args.rounds * after.block, warmup=10, block=1, settle_ms=0.0)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = _artifacts(args.depth, args.size, Path(tmp))
        for label, config in (("before", before), ("after", after))[1 if args.after_only else 0 :]:
            results[label] = measure(paths, args.threads, config, before=label == "before", cycles=args.cycles)
    print(f"ResNet-{args.depth} at {args.size}x{args.size}, {args.threads} threads, p50 ms")
    print("| schedule | model | alone | forward | reverse | max spread |")
    print("|---|---|---|---|---|---|")
    for label, rows in results.items():
        for name, t in rows.items():
            spread = 100 * (max(t.values()) / min(t.values()) - 1)
            cells = " | ".join(f"{v:.3f}" for v in t.values())
            print(f"| {label} | {name} | {cells} | {spread:.1f} % |")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
