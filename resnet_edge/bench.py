"""measure(artifacts, baseline=, data=, config=) -> BenchResult: MACs, params, flash, RAM, accuracy, latency, ratios.

Every artifact and the baseline run in one process, interleaved round-robin at batch 1, for each thread
count: drift and noisy neighbours hit all of them in the same rounds. Each candidate's latency is reported
as a ratio to the baseline: the median of the per-round ratios, with a bootstrap confidence interval over
rounds, so "1.04 [0.99, 1.09]" reads "4 % slower, but not distinguishable from equal at this noise".
"""

from __future__ import annotations

import itertools
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from resnet_edge import metrics
from resnet_edge.config import BenchConfig
from resnet_edge.data import Dataset
from resnet_edge.footprint import Footprint, footprint
from resnet_edge.fsutil import read_record
from resnet_edge.latency import interleaved, summary, timers


@dataclass(frozen=True)
class Ratio:
    """Candidate latency / baseline latency: the median of per-round ratios and its confidence interval."""

    median: float
    low: float
    high: float

    @property
    def speedup(self) -> float:
        return 1.0 / self.median

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Ratio:
        return cls(float(d["median"]), float(d["low"]), float(d["high"]))


@dataclass(frozen=True)
class Row:
    name: str
    path: str
    kind: str
    bytes: int
    macs: int
    params: int
    ops: int  # operators (TFLite, ONNX nodes) or layers (Keras)
    accuracy: float | None
    latency: dict[str, dict[str, float]]  # threads -> p50_ms, p90_ms, mean_ms, iqr_ms, runs
    ratio: dict[str, Ratio] = field(default_factory=dict)  # threads -> ratio to the baseline
    reference_ratio: dict[str, Ratio] = field(default_factory=dict)  # threads -> ratio to the reference artifact
    test: dict[str, Any] | None = None  # metrics.ClassReport on the test split (accuracy is its value)
    samples: dict[str, list[float]] = field(default_factory=dict)  # threads -> ms per round (what ratios pair)
    footprint: Footprint | None = None  # flash (file, weights) and peak RAM (planned activation arena)

    @property
    def ram_bytes(self) -> int | None:
        """Peak RAM of the activations (TFLite Micro's greedy plan); None for Keras files and unplannable graphs."""
        return self.footprint.ram_bytes if self.footprint else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("ratio", "reference_ratio"):
            d[key] = {k: {**asdict(v), "speedup": v.speedup} for k, v in getattr(self, key).items()}
        d["footprint"] = self.footprint.to_dict() if self.footprint else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Row:
        ratios = {key: {t: Ratio.from_dict(r) for t, r in (d.get(key) or {}).items()}
                  for key in ("ratio", "reference_ratio")}  # fmt: skip
        found = Footprint.from_dict(d["footprint"]) if d.get("footprint") else None  # absent in older bench.json
        return cls(**{**d, **ratios, "footprint": found})


@dataclass(frozen=True)
class Factor:
    """One link of a speed-up chain: `to` against `source`, paired per round of the same interleaved run."""

    label: str  # what changed: "runtime", "depth", "int8", or "a -> b"
    source: str
    to: str
    ratio: Ratio  # latency of `to` / latency of `source`; its speedup is the factor

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Factor:
        return cls(d["label"], d["source"], d["to"], Ratio.from_dict(d["ratio"]))


@dataclass(frozen=True)
class Attribution:
    """A total speed-up (first to last of `chain`) as the product of its links' factors, at one thread count."""

    threads: str
    factors: tuple[Factor, ...]
    total: Ratio
    # the product / the total, with a paired interval (see product_gap); None in bench.json of older versions
    gap: Ratio | None = None

    @property
    def product(self) -> float:
        """The links' median ratios multiplied: the total they explain."""
        return float(np.prod([f.ratio.median for f in self.factors]))

    @property
    def consistent(self) -> bool:
        """The product agrees with the measured total: the interval of their ratio holds 1 (older results: the
        product lies within the total's interval)."""
        if self.gap is not None:
            return self.gap.low <= 1.0 <= self.gap.high
        return self.total.low <= self.product <= self.total.high

    def to_dict(self) -> dict[str, Any]:
        return {"threads": self.threads, "factors": [{**asdict(f), "speedup": f.ratio.speedup} for f in self.factors],
                "total": {**asdict(self.total), "speedup": self.total.speedup}, "product_speedup": 1 / self.product,
                "gap": asdict(self.gap) if self.gap else None, "consistent": self.consistent}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Attribution:
        gap = Ratio.from_dict(d["gap"]) if d.get("gap") else None
        return cls(str(d["threads"]), tuple(Factor.from_dict(f) for f in d["factors"]), Ratio.from_dict(d["total"]),
                   gap)  # fmt: skip


@dataclass(frozen=True)
class BenchResult:
    rows: tuple[Row, ...]
    baseline: str | None
    threads: tuple[int, ...]
    config: BenchConfig
    reference: str | None = None  # a second yardstick, e.g. the unpruned model as TFLite fp32
    input_size: int | None = None  # set on latency-only timings at another input size (build --deploy-size)
    deploy: BenchResult | None = None  # build: each architecture timed at the deploy size
    attribution: tuple[Attribution, ...] = ()  # speed-up chains, e.g. Keras -> TFLite fp32 -> pruned -> int8

    def to_dict(self) -> dict[str, Any]:
        d = {"baseline": self.baseline, "reference": self.reference, "threads": list(self.threads),
             "config": self.config.to_dict(),
             "note": "MACs: one multiply-add = 1 (FLOPs = 2 x MACs); accuracy on the test split with its Wilson 95 % "
                     "interval (rows' test); latency at batch 1 in ms; footprint: flash = file bytes (weights: its "
                     "constants), RAM = the activation arena of TFLite Micro's greedy plan at batch 1; Keras models "
                     "run on TensorFlow's thread pool (all cores) in every thread column, a conservative baseline",
             "rows": [r.to_dict() for r in self.rows]}  # fmt: skip
        if self.input_size is not None:
            d.update(input_size=self.input_size, latency_only=True)
        if self.deploy is not None:
            d["deploy"] = self.deploy.to_dict()
        if self.attribution:
            d["attribution"] = [a.to_dict() for a in self.attribution]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchResult:
        deploy = cls.from_dict(d["deploy"]) if d.get("deploy") else None
        attribution = tuple(Attribution.from_dict(a) for a in d.get("attribution", []))
        return cls(tuple(Row.from_dict(r) for r in d["rows"]), d["baseline"], tuple(int(t) for t in d["threads"]),
                   BenchConfig(**d["config"]), d.get("reference"), d.get("input_size"), deploy,
                   attribution)  # fmt: skip

    @classmethod
    def read(cls, path: Path) -> BenchResult | None:
        """The bench.json at `path` (None when absent); one line for a file of another shape."""
        return read_record(path, "`resnet-edge bench` (or build)", cls.from_dict)

    def renamed(self, names: dict[str, str]) -> BenchResult:
        """The same result with rows (and yardsticks) renamed, e.g. by their paths in a run folder."""
        rows = tuple(replace(r, name=names.get(r.name, r.name)) for r in self.rows)
        attribution = tuple(replace(a, factors=tuple(replace(f, source=names.get(f.source, f.source),
                                                             to=names.get(f.to, f.to)) for f in a.factors))
                            for a in self.attribution)  # fmt: skip
        return replace(self, rows=rows, baseline=names.get(self.baseline, self.baseline),
                       reference=names.get(self.reference, self.reference), attribution=attribution)  # fmt: skip

    def _paired(self, to: Row, source: Row, threads: str) -> Ratio:
        return ratio_ci(np.asarray(to.samples[threads]), np.asarray(source.samples[threads]),
                        confidence=self.config.confidence, resamples=self.config.resamples,
                        seed=self.config.seed)  # fmt: skip

    def attribute(self, chain: list[str], labels: list[str] | None = None) -> BenchResult:
        """The result with the speed-up from chain[0] to chain[-1] split into one factor per link (labelled by
        `labels`, or "a -> b"), at every thread count, each paired per round of this run: the factors multiply
        to the measured total up to the median of a product not being the product of medians (`product_gap`)."""
        rows = {r.name: r for r in self.rows}
        missing = [n for n in chain if n not in rows]
        if missing or len(chain) < 2:
            raise ValueError(f"a chain needs two or more measured rows; not measured: {missing}")
        labels = labels or [f"{a} -> {b}" for a, b in zip(chain, chain[1:], strict=False)]
        if len(labels) != len(chain) - 1:
            raise ValueError(f"{len(labels)} labels for the {len(chain) - 1} links of {chain}")
        found = []
        for t in map(str, self.threads):
            factors = tuple(Factor(label, a, b, self._paired(rows[b], rows[a], t))
                            for label, a, b in zip(labels, chain[:-1], chain[1:], strict=True))  # fmt: skip
            latencies = [np.asarray(rows[name].samples[t]) for name in chain]
            gap = product_gap(latencies, confidence=self.config.confidence, resamples=self.config.resamples,
                              seed=self.config.seed)  # fmt: skip
            found.append(Attribution(t, factors, self._paired(rows[chain[-1]], rows[chain[0]], t), gap))
        return replace(self, attribution=self.attribution + tuple(found))


def ratio_ci(candidate: np.ndarray, baseline: np.ndarray, *, confidence: float, resamples: int, seed: int) -> Ratio:
    """Median of the paired per-round ratios and its percentile-bootstrap interval."""
    n = min(len(candidate), len(baseline))
    ratios = candidate[:n] / baseline[:n]
    medians = np.median(ratios[_resampled_rounds(n, resamples, seed)], axis=1)
    return Ratio(float(np.median(ratios)), *_interval(medians, confidence))


def product_gap(latencies: list[np.ndarray], *, confidence: float, resamples: int, seed: int) -> Ratio:
    """For a chain's per-round latencies (first to last): the product of its links' median ratios over the
    median of the total ratio, with a percentile-bootstrap interval that resamples the same rounds for every link
    and the total. Per round the links multiply to the total exactly; their medians need not, by as much as the
    rounds' noise allows, and the interval says how much that is: it holds 1 when the product explains the
    total (with 60 rounds, tight intervals put the product 1.4 % off a total whose own interval was +-1 %)."""
    n = min(len(x) for x in latencies)
    links = [b[:n] / a[:n] for a, b in itertools.pairwise(latencies)]
    total = latencies[-1][:n] / latencies[0][:n]
    rounds = _resampled_rounds(n, resamples, seed)
    product = np.prod([np.median(link[rounds], axis=1) for link in links], axis=0)
    gaps = product / np.median(total[rounds], axis=1)
    point = float(np.prod([np.median(link) for link in links]) / np.median(total))
    return Ratio(point, *_interval(gaps, confidence))


def _resampled_rounds(n: int, resamples: int, seed: int) -> np.ndarray:
    """Round indices, (resamples, n): every bootstrap draw of the rounds, the same for all rows given one seed."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def _interval(statistics: np.ndarray, confidence: float) -> tuple[float, float]:
    """The percentile interval of a statistic's bootstrap draws."""
    alpha = (1 - confidence) / 2
    low, high = np.quantile(statistics, [alpha, 1 - alpha])
    return float(low), float(high)


def static_counts(path: Path) -> tuple[int, int, int]:
    """(MACs, params, operators) of an artifact file; deterministic, so gates on them never flake."""
    from resnet_edge.models.flops import count_file

    count = count_file(path)
    return count.macs, count.params, len(count.layers)


def thread_counts(config: BenchConfig) -> tuple[int, ...]:
    cores = os.cpu_count() or 1
    return tuple(dict.fromkeys(cores if t == 0 else t for t in config.threads))


def measure(
    artifacts: list[str | Path],
    *,
    baseline: str | Path | None = None,
    reference: str | Path | None = None,
    data: Dataset | None = None,
    config: BenchConfig | None = None,
) -> BenchResult:
    """Measure `artifacts` (and `baseline`, first) side by side; ratios are to the baseline when given, and
    also to `reference` (one of `artifacts`) when given. With `data`, accuracy, per-class rates and the confusion
    matrix on its test split; without, none."""
    from resnet_edge.runtime import load_runner

    config = config or BenchConfig()
    paths = [Path(p) for p in ([baseline] if baseline else []) + list(artifacts)]
    names = _names(paths)
    ref = names[paths.index(Path(reference))] if reference is not None else None
    threads = thread_counts(config)
    statics, footprints, reports, sizes = {}, {}, {}, []
    for name, path in zip(names, paths, strict=True):
        runner = load_runner(path, threads=threads[-1], provider=config.provider)
        sizes.append(runner.image_size)
        statics[name] = (path.stat().st_size, *static_counts(path))
        footprints[name] = footprint(path)
        if data is not None:  # on the test split: bench reports, it decides nothing
            pred = metrics.top1(runner.predict(data.x_test))
            reports[name] = metrics.ClassReport.of(pred, data.y_test, data.class_names, data.good)
    image = _image(data, sizes[0], config.seed)
    latency: dict[str, dict[str, dict[str, float]]] = {n: {} for n in names}
    ratios: dict[str, dict[str, Ratio]] = {n: {} for n in names}
    ref_ratios: dict[str, dict[str, Ratio]] = {n: {} for n in names}
    per_round: dict[str, dict[str, list[float]]] = {n: {} for n in names}
    for t in threads:
        samples = interleaved(timers(dict(zip(names, paths, strict=True)), t, image, config.provider), config)
        for n in names:
            latency[n][str(t)] = summary(samples[n])
            per_round[n][str(t)] = [round(float(v), 4) for v in samples[n]]
            for yardstick, into in ((names[0] if baseline else None, ratios), (ref, ref_ratios)):
                if yardstick is not None:
                    into[n][str(t)] = ratio_ci(samples[n], samples[yardstick], confidence=config.confidence,
                                               resamples=config.resamples, seed=config.seed)  # fmt: skip
    rows = tuple(Row(n, str(p), p.suffix.lstrip("."), *statics[n], reports[n].accuracy.value if n in reports else None,
                     latency[n], ratios[n], ref_ratios[n], reports[n].to_dict() if n in reports else None,
                     per_round[n], footprints[n])
                 for n, p in zip(names, paths, strict=True))  # fmt: skip
    return BenchResult(rows, names[0] if baseline else None, threads, config, ref)


def _names(paths: list[Path]) -> list[str]:
    """Short unique names: the file name, with its folder where two files share one."""
    names = [p.name for p in paths]
    return [str(Path(p.parent.name) / p.name) if names.count(p.name) > 1 else p.name for p in paths]


def _image(data: Dataset | None, size: tuple[int, int, int], seed: int) -> np.ndarray:
    if data is not None and data.x_val.shape[1:] == size:
        return data.x_val[0]
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8)
