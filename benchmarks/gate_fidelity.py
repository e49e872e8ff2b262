"""Does the latency gate tell noise from a real slowdown on this machine?

20 gates of a model against an identical copy of itself must raise 0 alarms at a 10 % threshold, and 20 gates
of a genuinely slower model (more residual blocks, >= 15 % slower, measured here too) against the same
baseline must all fail. Models are CIFAR ResNets exported to TFLite fp32 at 32x32 (weights untrained:
latency does not depend on their values).

    python benchmarks/gate_fidelity.py --trials 20 --threshold 10
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--threshold", type=float, default=10.0, help="max slowdown, percent")
    p.add_argument("--base-depth", type=int, default=20)
    p.add_argument("--slow-depth", type=int, default=26)
    p.add_argument("--rounds", type=int, default=200)
    p.add_argument("--out", type=Path, default=Path("runs/gate_fidelity"))
    args = p.parse_args()

    from resnet_edge.config import QuantMode
    from resnet_edge.export.tflite import export_tflite
    from resnet_edge.fsutil import write_json
    from resnet_edge.gate import GateConfig, gate
    from resnet_edge.models.config import ModelConfig
    from resnet_edge.models.resnet import build_resnet

    args.out.mkdir(parents=True, exist_ok=True)
    base = export_tflite(build_resnet(ModelConfig(depth=args.base_depth, classes=5)), QuantMode.FP32,
                         args.out / f"resnet{args.base_depth}.tflite")  # fmt: skip
    same = shutil.copyfile(base, args.out / f"resnet{args.base_depth}_copy.tflite")
    slow = export_tflite(build_resnet(ModelConfig(depth=args.slow_depth, classes=5)), QuantMode.FP32,
                         args.out / f"resnet{args.slow_depth}.tflite")  # fmt: skip
    config = GateConfig(max_slowdown=args.threshold / 100, rounds=args.rounds)
    trials = {"same": [], "slower": []}
    for i in range(args.trials):
        for kind, candidate in (("same", same), ("slower", slow)):
            result = gate(candidate, base, config)
            latency = result.checks[0]
            trials[kind].append({"failed": not result.passed, "ratio": latency.value, "message": latency.message})
            verdict = "FAIL" if not result.passed else "pass"
            print(f"trial {i + 1:2d} {kind:6s}: {verdict}  {latency.message}", flush=True)
    alarms = sum(t["failed"] for t in trials["same"])
    caught = sum(t["failed"] for t in trials["slower"])
    true_ratio = float(np.median([t["ratio"] for t in trials["slower"]]))
    summary = {"threshold_percent": args.threshold, "trials": args.trials, "rounds": args.rounds,
               "false_alarms_same_model": alarms, "caught_slower_model": caught,
               "slower_model_median_ratio": true_ratio, "trials_detail": trials}  # fmt: skip
    write_json(args.out / "gate_fidelity.json", summary)
    print(f"\nsame model: {alarms}/{args.trials} false alarms; resnet{args.slow_depth} "
          f"({100 * (true_ratio - 1):+.0f} % latency, median): {caught}/{args.trials} caught")  # fmt: skip
    return 0 if alarms == 0 and caught == args.trials else 1


if __name__ == "__main__":
    sys.exit(main())
