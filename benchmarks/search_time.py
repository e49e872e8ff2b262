"""Where does a pruning search spend its time? Runs `prune` in this process on a trained model with the given
flags and times its phases by wrapping the prune module's functions: fine-tuning, block scoring (the first
scoring and every re-score), predictions for judging, the test split, latency measurement. Works on any commit
that has these functions, so the same script measures the search before and after a change.

    python benchmarks/search_time.py --model runs/r56/model.keras --out runs/r56_search -- \
        --max-accuracy-drop 1.0 --step-blocks 2 --step-epochs 2 --distill --patience 4 --finetune-lr 0.01
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from collections import defaultdict
from pathlib import Path

PHASES = {  # prune-module function -> phase
    "_finetune": "fine-tune",
    "score_blocks": "score blocks",
    "predict_classes": "predict (judge, test)",
    "_measure_latency": "latency",
    "block_latency_costs": "latency",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("prune_args", nargs=argparse.REMAINDER, help="flags of `resnet-edge prune` after --")
    args = parser.parse_args()
    from resnet_edge import prune as module
    from resnet_edge.cli import main as cli_main

    seconds: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    depth = {"n": 0}  # nested calls (predict inside scoring) count once, in the outer phase

    def timed(fn, phase):  # noqa: ANN001, ANN202
        @functools.wraps(fn)
        def wrapper(*a, **k):  # noqa: ANN002, ANN003, ANN202
            outer = depth["n"] == 0
            depth["n"] += 1
            start = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                depth["n"] -= 1
                if outer:
                    seconds[phase] += time.perf_counter() - start
                    calls[phase] += 1

        return wrapper

    for name, phase in PHASES.items():
        if hasattr(module, name):
            setattr(module, name, timed(getattr(module, name), phase))
    flags = [a for a in args.prune_args if a != "--"]
    start = time.perf_counter()
    code = cli_main(["prune", "--model", str(args.model), "--out", str(args.out), *flags])
    if code:
        raise SystemExit(code)
    total = time.perf_counter() - start
    log = json.loads((args.out / "prune.json").read_text())
    chosen = next(s for s in log["steps"] if s["step"] == log["chosen_step"])
    base = log["steps"][0]
    summary = {"total_s": total, "phases_s": dict(seconds), "calls": dict(calls), "steps": len(log["steps"]) - 1,
               "depth": chosen["depth"], "macs_fewer": 1 - chosen["macs"] / base["macs"],
               "val_drop": chosen["val_drop"], "test_drop": chosen.get("test_drop"), "flags": flags}  # fmt: skip
    (args.out / "search_time.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"search: {total / 60:.1f} min, {summary['steps']} steps, depth {chosen['depth']}, "
          f"{100 * summary['macs_fewer']:.1f} % fewer MACs")  # fmt: skip
    for phase, s in sorted(seconds.items(), key=lambda kv: -kv[1]):
        print(f"  {phase:24s} {s / 60:6.1f} min  ({100 * s / total:4.1f} %, {calls[phase]} calls)")
    other = total - sum(seconds.values())
    print(f"  {'other':24s} {other / 60:6.1f} min  ({100 * other / total:4.1f} %)")


if __name__ == "__main__":
    main()
