"""Interval and test code against published values, not against its own output."""

from __future__ import annotations

import numpy as np
import pytest

from resnet_edge.metrics import (
    ClassReport,
    PairedDifference,
    Rate,
    escape_increase,
    mcnemar_exact,
    newcombe_paired,
    wilson,
)


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Stat Med 17:857, Table II,
    # method 3 (Wilson score interval without continuity correction)
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_matches_newcombe_1998(k: int, n: int, low: float, high: float) -> None:
    assert wilson(k, n) == pytest.approx((low, high), abs=5e-5)


def test_mcnemar_exact_is_the_binomial_test_on_discordant_pairs() -> None:
    # written out: two-sided exact p = 2 * P(X <= min(b, c)) with X ~ Bin(b + c, 1/2)
    assert mcnemar_exact(2, 9) == pytest.approx(2 * (1 + 11 + 55) / 2**11)
    assert mcnemar_exact(1, 7) == pytest.approx(2 * (1 + 8) / 2**8)  # 0.0703, Fagerland et al. (2013), Bentur data
    assert mcnemar_exact(5, 5) == 1.0 and mcnemar_exact(0, 0) == 1.0


def test_newcombe_paired_interval_matches_the_published_example() -> None:
    """Bentur et al. (2009) airway hyper-responsiveness, as worked in Fagerland, Lydersen & Laake (2013), BMC Med
    Res Methodol 13:91: a=1, b=1, c=7, d=12 (n=21); Newcombe's square-and-add interval -0.507 to -0.026."""
    diff, low, high = newcombe_paired(1, 1, 7, 12)
    assert diff == pytest.approx(-6 / 21)
    assert (low, high) == pytest.approx((-0.507, -0.026), abs=1e-3)


def test_paired_difference_counts_only_disagreements() -> None:
    a = np.array([1, 1, 1, 1, 0, 0, 1, 1, 0, 1], bool)
    b = np.array([1, 1, 1, 0, 0, 1, 0, 1, 0, 1], bool)
    d = PairedDifference.of(a, b)
    assert (d.n, d.a_only, d.b_only) == (10, 2, 1) and d.value == pytest.approx(10.0)  # 70 % - 60 %
    assert d.low < d.value < d.high and d.p_value == pytest.approx(1.0)  # 2 vs 1 discordant: no evidence


def test_rate_and_class_report_on_a_hand_counted_confusion() -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])  # class 0 is good
    pred = np.array([0, 0, 0, 1, 1, 0, 1, 2, 0, 2])  # one good rejected, two defects passed as good
    report = ClassReport.of(pred, labels, ("good", "scratch", "crack"), good=0)
    assert report.confusion == ((3, 1, 0), (1, 2, 0), (1, 0, 2))
    assert report.accuracy.k == 7 and report.accuracy.n == 10
    assert report.escape.k == 2 and report.escape.n == 6  # defects predicted good
    assert report.false_reject.k == 1 and report.false_reject.n == 4
    assert report.precision[0] == pytest.approx(60.0) and report.recall[0].value == pytest.approx(75.0)
    assert report.f1[0] == pytest.approx(2 * 60 * 75 / 135)
    assert ClassReport.from_dict(report.to_dict()) == report
    assert Rate.of(3, 4).low == pytest.approx(100 * wilson(3, 4)[0])


def test_escape_increase_is_paired_over_defects() -> None:
    labels = np.array([0, 1, 1, 2, 2])
    base = np.array([0, 1, 1, 2, 2])
    worse = np.array([0, 0, 1, 0, 2])  # two defects now pass as good
    d = escape_increase(base, worse, labels, good=0)
    assert d.n == 4 and d.value == pytest.approx(50.0)
