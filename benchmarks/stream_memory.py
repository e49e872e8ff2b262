"""Training from an image folder in memory against streamed from disk: throughput and peak memory.

Writes the built-in inspection set as a PNG folder (20,000 images at 96x96 by default), then trains the same
model on it with `resnet-edge train --no-stream` (every image decoded into memory first) and `--stream`
(file names shuffled, images decoded in parallel batch by batch), each in its own process so that its peak
resident memory (/usr/bin/time's maximum RSS) is its own. Rounds alternate the order; the throughput ratio
is taken within a round (the median of the paired ratios is reported) and training images/s is the median
of the epochs after the first (graph tracing).

    python benchmarks/stream_memory.py [--images 20000] [--size 96] [--epochs 3] [--rounds 2] [--folder DIR]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def run(folder: Path, stream: bool, size: int, epochs: int, out: Path) -> tuple[float, float]:
    """(training images/s, peak RSS in GB) of one `resnet-edge train` process."""
    cmd = ["/usr/bin/time", "-f", "MAXRSS %M", sys.executable, "-m", "resnet_edge", "--quiet", "train",
           "--data", f"folder:{folder}", "--stream" if stream else "--no-stream", "--depth", "8",
           "--input-size", str(size), "--epochs", str(epochs), "--recipe", "sgd-step", "--min-accuracy", "0",
           "--out", str(out)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    rss_kb = next(int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("MAXRSS"))
    rows = list(csv.DictReader((out / "history.csv").open()))
    return statistics.median(float(r["images_per_second"]) for r in rows[1:]), rss_kb / 1024**2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--folder", type=Path, help="Reuse (or write once into) this folder.")
    args = parser.parse_args()

    from resnet_edge.data.synth import CLASSES, SynthSpec, write_folder

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or Path(tmp) / "images"
        if not folder.is_dir():
            write_folder(SynthSpec(size=args.size, per_class=args.images // len(CLASSES), seed=0), folder)
        results: dict[str, list[tuple[float, float]]] = {"in memory": [], "streamed": []}
        for r in range(args.rounds):
            order = [False, True] if r % 2 == 0 else [True, False]
            for stream in order:
                name = "streamed" if stream else "in memory"
                results[name].append(run(folder, stream, args.size, args.epochs, Path(tmp) / f"run{r}{int(stream)}"))
    count = sum(1 for _ in folder.rglob("*.png")) if folder.exists() else args.images
    print(f"ResNet-8 on {count} PNG images at {args.size}x{args.size}, {args.epochs} epochs, {args.rounds} rounds")
    ratios = [s[0] / m[0] for s, m in zip(results["streamed"], results["in memory"], strict=True)]
    for name, rows in results.items():
        ips = ", ".join(f"{v:.0f}" for v, _ in rows)
        rss = ", ".join(f"{g:.2f}" for _, g in rows)
        print(f"{name:10} images/s {ips:>20}   peak RSS GB {rss:>12}")
    print(f"streamed / in memory throughput: median {statistics.median(ratios):.1%} (rounds: "
          + ", ".join(f"{x:.1%}" for x in ratios) + ")")  # fmt: skip


if __name__ == "__main__":
    main()
