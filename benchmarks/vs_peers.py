"""The same trained ResNet-50 four ways, side by side in one run: latency and accuracy.

  1. plain Keras fp32 (the uncompressed model of a `resnet-edge build` run);
  2. the plain TFLite converter's int8 (Optimize.DEFAULT + representative data) of that model;
  3. the plain ONNX Runtime quantizer's int8 (quantize_static defaults) of that model;
  4. `resnet-edge build`'s pruned + int8 artifacts (TFLite and ONNX).

It reads a run folder written by `resnet-edge build` (its baseline, its export, its data settings):

    resnet-edge build --depth 50 --quantize int8 --epochs 4 --per-class 400 --out runs/r50_build
    python benchmarks/vs_peers.py --run runs/r50_build --threads 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import yaml


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, default=Path("runs/r50_build"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=40)
    p.add_argument("--calibration", type=int, default=200)
    args = p.parse_args()

    from plain import plain_ort_int8, plain_tflite_int8

    from resnet_edge.config import BenchConfig, BuildConfig, QuantMode
    from resnet_edge.data import load_data
    from resnet_edge.export.onnx import export_onnx
    from resnet_edge.fsutil import write_json
    from resnet_edge.latency import interleaved, summary, timers
    from resnet_edge.models.io import load_keras
    from resnet_edge.quantize.calibration import representative_images
    from resnet_edge.runtime import load_runner

    run = args.run
    if not (run / "bench.json").exists():
        print(f"{run} is not a finished `resnet-edge build` run folder", file=sys.stderr)
        return 2
    config = BuildConfig.from_dict(yaml.safe_load((run / "config.yaml").read_text()))
    data = load_data(config.data, size=config.model.input_size, channels=config.model.channels)
    images = representative_images(data, args.calibration, seed=0)
    baseline = load_keras(run / "baseline" / "model.keras")
    peers = run / "peers"
    peers.mkdir(exist_ok=True)
    fp32_onnx = export_onnx(baseline, QuantMode.FP32, peers / "baseline_fp32.onnx")
    files = {
        "Keras fp32 (uncompressed)": run / "baseline" / "model.keras",
        "plain TFLite converter int8": plain_tflite_int8(baseline, images, peers / "plain_int8.tflite"),
        "plain ONNX Runtime quantizer int8": plain_ort_int8(fp32_onnx, images, peers / "plain_int8.onnx"),
        "resnet-edge build TFLite (pruned + int8)": run / "export" / "model_int8.tflite",
        "resnet-edge build ONNX (pruned + int8)": run / "export" / "model_int8.onnx",
    }
    runners = {name: load_runner(path, threads=args.threads) for name, path in files.items()}
    accuracy = {n: float(100 * np.mean(r.predict(data.x_val).argmax(-1) == data.y_val)) for n, r in runners.items()}
    ms = interleaved(timers(files, args.threads, data.x_val[0]), BenchConfig(rounds=args.rounds))
    base = ms["Keras fp32 (uncompressed)"]
    rows = [{"model": n, "file": str(files[n]), "accuracy": accuracy[n], **summary(ms[n]),
             "speedup_vs_keras": float(np.median(base / ms[n]))} for n in files]  # fmt: skip
    write_json(peers / "vs_peers.json", {"run": str(run), "threads": args.threads, "rounds": args.rounds,
                                         "input": config.model.input_size, "rows": rows})  # fmt: skip
    print(f"\n{config.model.name} at {config.model.input_size}x{config.model.input_size}, batch 1, "
          f"{args.threads} threads, {args.rounds} interleaved rounds, validation {len(data.x_val)} images")  # fmt: skip
    print("| model | accuracy | p50 latency | speed-up vs Keras fp32 |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['accuracy']:.2f} % | {r['p50_ms']:.2f} ms | {r['speedup_vs_keras']:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
