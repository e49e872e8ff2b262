"""How optimistic is a pruning decision made on the validation split? Train a CIFAR ResNet-56 on the built-in set,
prune it with `--max-accuracy-drop 1.0` (the search decides on validation), and compare the chosen model's
paired accuracy drop on validation with its drop on the test split (never used to decide), over several seeds.

    python benchmarks/val_vs_test.py --seeds 0 1 2 --out runs/val_vs_test
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def _run(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "resnet_edge", *args], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--depth", type=int, default=56)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--budget", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=Path("runs/val_vs_test"))
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        run = args.out / f"seed{seed}"
        model = run / "model.keras"
        train_s = 0.0 if model.exists() else _run("train", "--depth", str(args.depth), "--epochs", str(args.epochs),
                                                  "--seed", str(seed), "--out", str(run))  # fmt: skip
        prune_s = _run("prune", "--model", str(model), "--out", str(run / "pruned"), "--seed", str(seed),
                       "--max-accuracy-drop", str(args.budget))  # fmt: skip
        log = json.loads((run / "pruned" / "prune.json").read_text())
        chosen = next(s for s in log["steps"] if s["step"] == log["chosen_step"])
        base = log["steps"][0]
        rows.append({"seed": seed, "train_s": train_s, "prune_s": prune_s, "depth": chosen["depth"],
                     "macs_ratio": chosen["macs"] / base["macs"], "val_base": base["val"], "test_base": base["test"],
                     "val": chosen["val"], "test": chosen["test"], "val_drop": chosen["val_drop"],
                     "test_drop": chosen["test_drop"], "warning": log.get("warning")})  # fmt: skip
        (args.out / "summary.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("| seed | depth | MACs kept | val. drop [95 % CI] | test drop [95 % CI] | test - val |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        v, t = r["val_drop"], r["test_drop"]
        print(
            f"| {r['seed']} | 56 -> {r['depth']} | {100 * r['macs_ratio']:.1f} % | {v['value']:+.2f} "
            f"[{v['low']:+.2f}, {v['high']:+.2f}] | {t['value']:+.2f} [{t['low']:+.2f}, {t['high']:+.2f}] | "
            f"{t['value'] - v['value']:+.2f} |"
        )
    gap = [r["test_drop"]["value"] - r["val_drop"]["value"] for r in rows]
    print(f"mean optimism (test drop - validation drop): {sum(gap) / len(gap):+.2f} points over {len(gap)} seeds")


if __name__ == "__main__":
    main()
