"""Accuracy you can trust: every rate with its n and a 95 % interval, every comparison of two models on the same
images paired, and the rates an inspection line counts (escapes, false rejects), in one place.

- `Rate`: k of n, as a percentage with a Wilson score interval (Newcombe 1998, method 3): it stays inside
  [0, 100] and keeps its coverage near 0 % and 100 %, where the normal approximation fails.
- `PairedDifference`: the accuracy of model A minus that of model B on the same images, with Newcombe's (1998)
  score interval for paired proportions (method 10) and McNemar's exact test: only images where the two disagree
  carry information, which is why a paired comparison resolves much smaller differences than two separate
  intervals do.
- `ClassReport`: per-class precision / recall / F1, the confusion matrix, and, with a good (pass) class, the escape
  rate (a defective part predicted good) and the false-reject rate (a good part predicted defective).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

CONFIDENCE = 0.95
GOOD_NAMES = ("good", "ok", "pass")  # a class with one of these names is the pass class unless --good-class says


def top1(scores: np.ndarray) -> np.ndarray:
    """Predicted classes from class scores [N, K] (or already predicted classes [N])."""
    scores = np.asarray(scores)
    return scores.argmax(-1) if scores.ndim == 2 else scores


def accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy in % of class scores [N, K] (or predictions [N]) against integer labels [N]."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return float(100.0 * np.mean(top1(scores) == labels))


def agreement(scores: np.ndarray, reference: np.ndarray) -> float:
    """% of images on which two models' top-1 classes agree."""
    return accuracy(scores, top1(reference))


def z_value(confidence: float = CONFIDENCE) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence / 2))


def wilson(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of the proportion k/n, as fractions (Newcombe 1998, method 3)."""
    if n <= 0:
        return 0.0, 1.0
    z, p = z_value(confidence), k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Rate:
    """k of n as a percentage, with its Wilson interval (percent)."""

    k: int
    n: int
    value: float
    low: float
    high: float

    @classmethod
    def of(cls, k: int, n: int, confidence: float = CONFIDENCE) -> Rate:
        low, high = wilson(int(k), int(n), confidence)
        return cls(int(k), int(n), 100.0 * k / n if n else float("nan"), 100.0 * low, 100.0 * high)

    def text(self) -> str:
        return f"{self.value:.2f} % [{self.low:.2f}, {self.high:.2f}] (n={self.n})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def accuracy_rate(scores: np.ndarray, labels: np.ndarray, confidence: float = CONFIDENCE) -> Rate:
    """Top-1 accuracy with n and its Wilson interval."""
    labels = np.asarray(labels)
    return Rate.of(int(np.sum(top1(scores) == labels)), len(labels), confidence)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts b (A right, B wrong) and c (A wrong, B right):
    a binomial test of b against b + c at 1/2."""
    if b + c == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(int(b), int(b + c), 0.5).pvalue)


def newcombe_paired(a: int, b: int, c: int, d: int, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(difference, low, high) of p1 - p2 for paired proportions as fractions, where p1 = (a + b) / n and
    p2 = (a + c) / n: Newcombe's (1998) hybrid score interval for paired data (method 10), from the two Wilson
    intervals and the correlation of the pairs."""
    n = a + b + c + d
    if n == 0:  # no pairs (e.g. no defective images for an escape rate): nothing is known
        return math.nan, math.nan, math.nan
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson(a + b, n, confidence)
    l2, u2 = wilson(a + c, n, confidence)
    denominator = (a + b) * (c + d) * (a + c) * (b + d)
    phi = 0.0
    if denominator > 0:  # Newcombe's continuity-corrected phi when ad > bc
        numerator = a * d - b * c
        numerator = max(numerator - n / 2, 0.0) if numerator > 0 else numerator
        phi = numerator / math.sqrt(denominator)
    delta = math.sqrt(max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0.0))
    epsilon = math.sqrt(max((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2, 0.0))
    return p1 - p2, max(-1.0, p1 - p2 - delta), min(1.0, p1 - p2 + epsilon)


@dataclass(frozen=True)
class PairedDifference:
    """Accuracy of A minus accuracy of B (points) on the same n images, with its paired interval and McNemar p."""

    n: int
    a_only: int  # images A gets right and B wrong
    b_only: int  # images B gets right and A wrong
    value: float
    low: float
    high: float
    p_value: float

    @classmethod
    def of(cls, correct_a: np.ndarray, correct_b: np.ndarray, confidence: float = CONFIDENCE) -> PairedDifference:
        correct_a, correct_b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
        both, a_only = int(np.sum(correct_a & correct_b)), int(np.sum(correct_a & ~correct_b))
        b_only, neither = int(np.sum(~correct_a & correct_b)), int(np.sum(~correct_a & ~correct_b))
        diff, low, high = newcombe_paired(both, a_only, b_only, neither, confidence)
        return cls(len(correct_a), a_only, b_only, 100 * diff, 100 * low, 100 * high, mcnemar_exact(a_only, b_only))

    def text(self) -> str:
        return f"{self.value:+.2f} [{self.low:+.2f}, {self.high:+.2f}] points (McNemar p={self.p_value:.3f})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def accuracy_drop(base: np.ndarray, candidate: np.ndarray, labels: np.ndarray) -> PairedDifference:
    """How many points `candidate` loses against `base` (predictions or scores) on the same images."""
    labels = np.asarray(labels)
    return PairedDifference.of(top1(base) == labels, top1(candidate) == labels)


def paired_half_width(disagreement: float, n: int) -> float:
    """About how many points a paired 95 % interval spans either side of the estimate on n images, when the two
    models disagree on a fraction `disagreement` of them: z * sqrt(disagreement / n)."""
    return 100 * z_value(CONFIDENCE) * math.sqrt(disagreement / n)


def images_to_resolve(budget_points: float, disagreement: float) -> int:
    """Images a paired comparison needs for its 95 % interval's half-width to be the budget: with discordant
    fraction `disagreement` (the share of images the two models disagree on) the half-width is about
    z * sqrt(disagreement / n)."""
    z = z_value(CONFIDENCE)
    return math.ceil(disagreement * (z / (budget_points / 100)) ** 2)


def good_class_index(class_names: tuple[str, ...] | list[str], good_class: str | None) -> int | None:
    """Index of the pass class: `good_class` when given (an error if the data has no such class), else the first
    class named good, ok or pass (case-insensitive), else None (no inspection rates)."""
    lowered = [c.lower() for c in class_names]
    if good_class is not None:
        if good_class.lower() not in lowered:
            from resnet_edge.errors import ConfigError

            names = ", ".join(class_names)
            raise ConfigError(f"good class {good_class!r} is not a class of the data; classes: {names}")
        return lowered.index(good_class.lower())
    return next((i for i, c in enumerate(lowered) if c in GOOD_NAMES), None)


def escape_increase(base_pred: np.ndarray, pred: np.ndarray, labels: np.ndarray, good: int) -> PairedDifference:
    """This model's escape rate minus the base model's (points), paired over the same defective images."""
    defect = np.asarray(labels) != good
    return PairedDifference.of(np.asarray(pred)[defect] == good, np.asarray(base_pred)[defect] == good)


@dataclass(frozen=True)
class ClassReport:
    """What an inspection line counts: accuracy, per-class precision / recall / F1, the confusion matrix, and
    with a good class the escape rate (defective predicted good) and the false-reject rate (good predicted
    defective), each rate with n and its Wilson interval."""

    class_names: tuple[str, ...]
    accuracy: Rate
    confusion: tuple[tuple[int, ...], ...]  # [true][predicted]
    precision: tuple[float | None, ...]  # %, None where the class is never predicted
    recall: tuple[Rate, ...]
    f1: tuple[float | None, ...]
    good_class: str | None = None
    escape: Rate | None = None
    false_reject: Rate | None = None

    @classmethod
    def of(cls, pred: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...], good: int | None
           ) -> ClassReport:  # fmt: skip
        pred, labels, k = np.asarray(pred), np.asarray(labels), len(class_names)
        confusion = np.zeros((k, k), np.int64)
        np.add.at(confusion, (labels, pred), 1)
        predicted, actual, hits = confusion.sum(0), confusion.sum(1), np.diag(confusion)
        precision = [100.0 * h / p if p else None for h, p in zip(hits, predicted, strict=True)]
        recall = [Rate.of(int(h), int(a)) for h, a in zip(hits, actual, strict=True)]
        f1 = [2 * p * r.value / (p + r.value) if p is not None and r.n and p + r.value > 0 else None
              for p, r in zip(precision, recall, strict=True)]  # fmt: skip
        escape = false_reject = None
        if good is not None:
            defect = labels != good
            escape = Rate.of(int(np.sum(pred[defect] == good)), int(defect.sum()))
            false_reject = Rate.of(int(np.sum(pred[~defect] != good)), int((~defect).sum()))
        return cls(tuple(class_names), accuracy_rate(pred, labels), tuple(map(tuple, confusion.tolist())),
                   tuple(precision), tuple(recall), tuple(f1), class_names[good] if good is not None else None,
                   escape, false_reject)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClassReport:
        def rate(r: dict[str, Any] | None) -> Rate | None:
            return Rate(**r) if r else None

        return cls(tuple(d["class_names"]), Rate(**d["accuracy"]), tuple(map(tuple, d["confusion"])),
                   tuple(d["precision"]), tuple(Rate(**r) for r in d["recall"]), tuple(d["f1"]), d.get("good_class"),
                   rate(d.get("escape")), rate(d.get("false_reject")))  # fmt: skip
