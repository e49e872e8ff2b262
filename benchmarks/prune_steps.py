"""Accuracy, MACs and TFLite fp32 latency of a pruning search's step models, side by side in one run.

`resnet-edge prune` measures its steps itself when the search ends; this script does the same measurement
for any set of step folders (a search stopped early, or steps to compare again on a quiet machine):

    python benchmarks/prune_steps.py --unpruned runs/r56/model.keras --run runs/r56p3 --steps 4,9,15
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--unpruned", type=Path, required=True)
    p.add_argument("--run", type=Path, required=True, help="the prune output folder with stepK/ sub-folders")
    p.add_argument("--steps", required=True, help="comma-separated step numbers")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=200)
    args = p.parse_args()

    from resnet_edge.config import BenchConfig
    from resnet_edge.data import load_data
    from resnet_edge.data.config import DataConfig
    from resnet_edge.export.tflite import to_tflite_fp32
    from resnet_edge.fsutil import write_json
    from resnet_edge.latency import tflite_latency
    from resnet_edge.models.flops import count_keras
    from resnet_edge.models.io import load_keras, load_model_config

    paths = {0: args.unpruned} | {int(k): args.run / f"step{int(k)}" / "model.keras" for k in args.steps.split(",")}
    config = load_model_config(args.unpruned)
    data = load_data(DataConfig(), size=config.input_size, channels=config.channels)
    rows, tflite = [], {}
    for step, path in paths.items():
        model = load_keras(path)
        count = count_keras(model)
        pred = model.predict(data.x_val.astype(np.float32), batch_size=256, verbose=0).argmax(-1)
        tflite[step] = str(to_tflite_fp32(model, args.run / "tflite" / f"step{step}.tflite"))
        rows.append({"step": step, "model": str(path), "depth": load_model_config(path).arch.depth,
                     "blocks": list(load_model_config(path).arch.blocks), "macs": count.macs, "params": count.params,
                     "val_accuracy": float(100 * np.mean(pred == data.y_val)),
                     "tflite_bytes": Path(tflite[step]).stat().st_size})  # fmt: skip
    latency = tflite_latency(list(tflite.values()), threads=args.threads, config=BenchConfig(rounds=args.rounds))
    base = rows[0]
    for row in rows:
        row.update(latency[tflite[row["step"]]])
    write_json(args.run / "prune_steps.json", {"threads": args.threads, "rounds": args.rounds, "rows": rows})
    print("| step | depth | MACs | fewer MACs | val. accuracy | TFLite MB | latency p50 | faster |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        fewer = 100 * (1 - r["macs"] / base["macs"])
        faster = 100 * (1 - r["p50_ms"] / base["p50_ms"])
        cells = [r["step"] or "unpruned", r["depth"], f"{r['macs'] / 1e6:.2f} M", f"{fewer:.1f} %",
                 f"{r['val_accuracy']:.1f} %", f"{r['tflite_bytes'] / 1e6:.2f}", f"{r['p50_ms']:.3f} ms",
                 f"{faster:.1f} %"]  # fmt: skip
        print("| " + " | ".join(map(str, cells)) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
