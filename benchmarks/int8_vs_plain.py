"""ResNet-50 int8: resnet-edge's TFLite and ONNX artifacts against hand-made ones, and Keras fp32, in one run.

Hand-made = what a user gets from the plain tools with their documented recipes:
  - TFLite converter: `Optimize.DEFAULT` + representative dataset (float input/output), and the full-integer
    variant (`TFLITE_BUILTINS_INT8`, int8 input/output);
  - ONNX Runtime: `quantize_static` with its defaults (QDQ, int8 activations and weights, per-tensor), and the
    U8S8 per-channel variant ONNX Runtime recommends for x86.
Every model runs at batch 1 with the same thread count, interleaved round-robin in one process, so the
ratios hold on a noisy machine. The weights are the builder's initialization: this measures speed, not
accuracy (a trained model runs the same operators at the same cost).

    python benchmarks/int8_vs_plain.py --depth 50 --size 224 --threads 2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--depth", type=int, default=50)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--calibration", type=int, default=32, help="representative images")
    p.add_argument("--rounds", type=int, default=40)
    p.add_argument("--out", type=Path, default=Path("runs/bench_int8_vs_plain"))
    return p.parse_args()


def main() -> int:
    args = _args()
    from resnet_edge._tf import tf

    try:  # Keras fp32 gets the same thread budget as the interpreters
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass
    from plain import plain_ort_int8, plain_tflite_int8

    from resnet_edge.config import BenchConfig, QuantizeConfig, QuantMode
    from resnet_edge.data import load_data
    from resnet_edge.data.config import DataConfig
    from resnet_edge.export.onnx import export_onnx
    from resnet_edge.export.tflite import export_tflite
    from resnet_edge.fsutil import write_json
    from resnet_edge.latency import interleaved, summary, timers
    from resnet_edge.models.config import ModelConfig
    from resnet_edge.models.resnet import build_resnet

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    per_class = max(2, -(-args.calibration // 4))
    data = load_data(DataConfig(per_class=per_class), size=args.size, channels=3)
    images = data.x_train[: args.calibration]
    mean, std = data.channel_stats()
    config = ModelConfig(depth=args.depth, input_size=args.size, classes=data.num_classes, input_mean=mean,
                         input_std=std)  # fmt: skip
    model = build_resnet(config)
    model.save(out / "model.keras")
    quant = QuantizeConfig(representative_count=len(images))
    files: dict[str, Path] = {"keras fp32": out / "model.keras"}
    steps = [
        ("resnet-edge tflite int8", lambda p: export_tflite(model, QuantMode.INT8, p, representative=images,
                                                            config=quant), "ours_int8.tflite"),
        ("plain tflite int8 (float io)", lambda p: plain_tflite_int8(model, images, p), "plain_int8.tflite"),
        ("plain tflite int8 (int8 io)", lambda p: plain_tflite_int8(model, images, p, full_integer=True),
         "plain_int8_io.tflite"),
        ("onnx fp32 (tf2onnx)", lambda p: export_onnx(model, QuantMode.FP32, p), "fp32.onnx"),
        ("resnet-edge onnx int8", lambda p: export_onnx(model, QuantMode.INT8, p, fp32_path=out / "fp32.onnx",
                                                        representative=images, config=quant), "ours_int8.onnx"),
        ("plain ort int8 (defaults)", lambda p: plain_ort_int8(out / "fp32.onnx", images, p), "plain_s8s8.onnx"),
        ("plain ort int8 (u8s8 per-channel)", lambda p: plain_ort_int8(out / "fp32.onnx", images, p, u8s8=True),
         "plain_u8s8.onnx"),
    ]  # fmt: skip
    convert_s = {}
    for name, make, filename in steps:
        start = time.perf_counter()
        files[name] = make(out / filename)
        convert_s[name] = time.perf_counter() - start
        print(f"{name}: {files[name]} ({convert_s[name]:.0f} s)", flush=True)
    del files["onnx fp32 (tf2onnx)"]
    image = data.x_val[0]
    ms = interleaved(timers(files, args.threads, image), BenchConfig(rounds=args.rounds))
    stats = {name: summary(v) for name, v in ms.items()}
    base = ms["keras fp32"]
    rows = []
    for name in files:
        speedup = float(np.median(base / ms[name]))  # median of per-round ratios: drift cancels
        rows.append({"artifact": name, "file": files[name].name, "bytes": files[name].stat().st_size, **stats[name],
                     "speedup_vs_keras": speedup, "convert_s": convert_s.get(name)})  # fmt: skip
    for fmt in ("tflite", "onnx"):
        ours = next(r for r in rows if r["artifact"] == f"resnet-edge {fmt} int8")
        plain = [r for r in rows if r["artifact"].startswith("plain") and fmt in r["file"]]
        fastest = min(plain, key=lambda r: r["p50_ms"])
        ratio = float(np.median(ms[ours["artifact"]] / ms[fastest["artifact"]]))
        ours["vs_fastest_plain"] = {"artifact": fastest["artifact"], "time_ratio": ratio}
    result = {"model": config.name, "input": args.size, "threads": args.threads, "rounds": args.rounds, "rows": rows}
    write_json(out / "int8_vs_plain.json", result)
    print(f"\n{config.name} at {args.size}x{args.size}, batch 1, {args.threads} threads, {args.rounds} rounds")
    print(f"{'artifact':36} {'p50 ms':>8} {'IQR':>6} {'MB':>7} {'x Keras':>8}")
    for r in rows:
        print(f"{r['artifact']:36} {r['p50_ms']:8.2f} {r['iqr_ms']:6.2f} {r['bytes'] / 1e6:7.1f} "
              f"{r['speedup_vs_keras']:8.2f}")  # fmt: skip
    for r in rows:
        if "vs_fastest_plain" in r:
            v = r["vs_fastest_plain"]
            print(f"{r['artifact']}: {100 * (v['time_ratio'] - 1):+.1f} % time vs {v['artifact']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
