"""int8 TFLite by the TFLite converter against the LiteRT Quantizer (ai-edge-quantizer), side by side.

Both start from the same Keras model and the same calibration images (`calibration.representative_images`, the
export's default count) and run in LiteRT: test-split accuracy with its Wilson interval (metrics.Rate), top-1
agreement with the Keras model on the same images, their paired accuracy difference (Newcombe's interval, McNemar),
and p50 latency at batch 1, measured interleaved (`latency.timers` / `interleaved`) at each thread count, with the
paired ratio litert / converter and its bootstrap interval (`bench.ratio_ci`). Prints a markdown table; writes the
numbers to OUT/litert_vs_converter.json.

    resnet-edge train --depth 20 --epochs 3 --out runs/r20                  # a trained CIFAR ResNet-20, 32x32
    python benchmarks/litert_vs_converter.py --model runs/r20/model.keras
    python benchmarks/litert_vs_converter.py --depth 50 --size 64           # ResNet-50, random init (latency only)
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

QUANTIZERS = ("converter", "litert")


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, help="A trained .keras model (else --depth at --size, random init).")
    p.add_argument("--depth", type=int, default=20)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--per-class", type=int, default=1000, help="Built-in images per class (as the model trained).")
    p.add_argument("--threads", default="1,2", help="Comma-separated thread counts.")
    p.add_argument("--rounds", type=int, default=40, help="Interleaved rounds per thread count.")
    p.add_argument("--out", type=Path, default=Path("runs/bench_litert_vs_converter"))
    return p.parse_args()


def _model(args: argparse.Namespace, data: Any) -> tuple[Any, str]:
    from resnet_edge._tf import keras
    from resnet_edge.models.config import ModelConfig
    from resnet_edge.models.io import load_keras
    from resnet_edge.models.resnet import build_resnet

    if args.model:
        return load_keras(args.model), f"trained ({args.model})"
    mean, std = data.channel_stats()
    keras.utils.set_random_seed(0)
    config = ModelConfig(depth=args.depth, input_size=args.size, classes=data.num_classes, input_mean=mean,
                         input_std=std)  # fmt: skip
    return build_resnet(config), "random init: latency only, accuracy is chance"


def main() -> int:
    args = _args()
    from resnet_edge import metrics
    from resnet_edge.bench import ratio_ci
    from resnet_edge.config import BenchConfig, QuantizeConfig, QuantMode, parse_threads
    from resnet_edge.data import load_data
    from resnet_edge.data.config import DataConfig
    from resnet_edge.export.tflite import export_tflite
    from resnet_edge.fsutil import write_json
    from resnet_edge.latency import interleaved, summary, timers
    from resnet_edge.quantize.calibration import representative_images
    from resnet_edge.runtime import load_runner

    args.out.mkdir(parents=True, exist_ok=True)
    size = args.size
    if args.model:
        from resnet_edge.models.io import load_keras

        size = int(load_keras(args.model).input_shape[1])
    data = load_data(DataConfig(per_class=args.per_class), size=size, channels=3)
    model, weights = _model(args, data)
    keras_pred = metrics.top1(model.predict(data.x_test.astype(np.float32), batch_size=64, verbose=0))
    quant = QuantizeConfig()
    images = representative_images(data, quant.representative_count, quant.seed)
    start = time.perf_counter()
    fp32 = export_tflite(model, QuantMode.FP32, args.out / "fp32.tflite")
    fp32_s = time.perf_counter() - start  # the LiteRT Quantizer starts from this file; its time counts it
    files, rows, correct = {}, {}, {}
    for name in QUANTIZERS:
        start = time.perf_counter()
        files[name] = export_tflite(model, QuantMode.INT8, args.out / f"int8_{name}.tflite", representative=images,
                                    config=QuantizeConfig(tflite_quantizer=name), fp32_path=fp32)  # fmt: skip
        seconds = time.perf_counter() - start + (fp32_s if name == "litert" else 0.0)
        pred = metrics.top1(load_runner(files[name]).predict(data.x_test))
        correct[name] = pred == data.y_test
        rows[name] = {"file": files[name].name, "bytes": files[name].stat().st_size, "quantize_s": seconds,
                      "accuracy": metrics.accuracy_rate(pred, data.y_test).to_dict(),
                      "agreement": metrics.agreement(pred, keras_pred), "latency": {}, "ratio": {}}  # fmt: skip
        print(f"{name}: {files[name]} ({seconds:.1f} s)", flush=True)
    threads = parse_threads(args.threads)
    for t in threads:
        config = BenchConfig(threads=(t,), rounds=args.rounds)
        samples = interleaved(timers(files, t, data.x_test[0]), config)
        for name in QUANTIZERS:
            rows[name]["latency"][str(t)] = summary(samples[name])
            ratio = ratio_ci(samples[name], samples["converter"], confidence=config.confidence,
                             resamples=config.resamples, seed=config.seed)  # fmt: skip
            rows[name]["ratio"][str(t)] = asdict(ratio)
    keras_acc = metrics.accuracy_rate(keras_pred, data.y_test)
    result = {
        "model": model.name,
        "weights": weights,
        "input": size,
        "test_images": int(len(data.y_test)),
        "calibration_images": int(len(images)),
        "keras_accuracy": keras_acc.to_dict(),
        "threads": threads,
        "rounds": args.rounds,
        "rows": rows,
        "litert_minus_converter": metrics.PairedDifference.of(correct["litert"], correct["converter"]).to_dict(),
    }
    write_json(args.out / "litert_vs_converter.json", result)
    _print(result)
    return 0


def _print(result: dict[str, Any]) -> None:
    threads = result["threads"]
    acc = result["keras_accuracy"]
    print(
        f"\n{result['model']} at {result['input']}x{result['input']}, weights: {result['weights']}; "
        f"{result['calibration_images']} calibration images; test n={result['test_images']}, Keras fp32 "
        f"{acc['value']:.2f} % [{acc['low']:.1f}-{acc['high']:.1f}]; {result['rounds']} interleaved rounds\n"
    )
    header = ["int8 TFLite by", "MB", "test acc % [95% CI]", "agreement %",
              *(f"p50 ms @{t}t" for t in threads), *(f"time vs converter @{t}t [95% CI]" for t in threads),
              "Keras to int8 s"]  # fmt: skip
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, r in result["rows"].items():
        a = r["accuracy"]
        cells = [name, f"{r['bytes'] / 1e6:.2f}", f"{a['value']:.2f} [{a['low']:.1f}-{a['high']:.1f}]",
                 f"{r['agreement']:.2f}", *(f"{r['latency'][str(t)]['p50_ms']:.3f}" for t in threads),
                 *(_ratio(r["ratio"][str(t)]) for t in threads), f"{r['quantize_s']:.1f}"]  # fmt: skip
        print("| " + " | ".join(cells) + " |")
    d = result["litert_minus_converter"]
    print(
        f"\ntest accuracy litert - converter, paired: {d['value']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}] points "
        f"(images only one gets right: litert {d['a_only']}, converter {d['b_only']}; McNemar p={d['p_value']:.3f})"
    )


def _ratio(ratio: dict[str, float]) -> str:
    return f"{ratio['median']:.3f} [{ratio['low']:.3f}-{ratio['high']:.3f}]"


if __name__ == "__main__":
    sys.exit(main())
