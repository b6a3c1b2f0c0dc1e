"""Clopper-Pearson fractions (hessverify.claims.proportion): the interval against scipy's exact binomial interval,
its coverage by simulation, and the certain/possible ends."""
import numpy as np
import pytest
from scipy import stats

from hessverify.claims import compare
from hessverify.claims.proportion import clopper_pearson, sampled_fraction


@pytest.mark.parametrize("k, m", [(0, 10), (3, 10), (10, 10), (37, 40), (94, 100), (1, 1)])
def test_interval_is_scipys_exact_binomial_interval(k, m):
    ci = stats.binomtest(k, m).proportion_ci(confidence_level=0.999, method="exact")
    assert clopper_pearson(k, m, 1e-3) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_coverage_by_simulation():
    """At p = 0.95 and m = 40 (where a normal-approximation interval covers ~87%), 4,000 draws: the 95% interval
    misses p at most 5% of the time (plus 1.5 points of simulation noise), and it is not wider than it needs to be:
    its mean width is within [0.9, 1.4] times ``2 * 1.96`` empirical standard deviations of ``k / m`` (the width of
    a 95% interval for the spread the draws actually have; Clopper-Pearson is conservative, measured 1.04-1.17
    here), so an interval inflated to cover everything fails."""
    rng = np.random.default_rng(0)
    for p in (0.3, 0.8, 0.95):
        ks = rng.binomial(40, p, size=4000)
        intervals = [clopper_pearson(int(k), 40, 0.05) for k in ks]
        misses = sum(not (lo <= p <= hi) for lo, hi in intervals)
        assert misses / 4000 <= 0.05 + 0.015, (p, misses)
        ratio = np.mean([hi - lo for lo, hi in intervals]) / (2 * 1.96 * np.std(ks / 40))
        assert 0.9 <= ratio <= 1.4, (p, ratio)


def test_ends_use_certain_and_possible_counts():
    m = sampled_fraction(30, 36, 40)
    lo, hi = float(m.value - m.error), float(m.value + m.error)
    assert lo == pytest.approx(clopper_pearson(30, 40)[0]) and hi == pytest.approx(clopper_pearson(36, 40)[1])
    assert m.sampled and m.scale == 1.0 and m.level == pytest.approx(1 - 1e-3)


def test_level_includes_certificate_failures():
    assert sampled_fraction(40, 40, 40, certificate_failure=4e-5).level == pytest.approx(1 - 1e-3 - 4e-5)


def test_verdicts_of_a_lower_bound_claim():
    """``ge`` 0.8: holds when the whole interval is above, refuted when all of it is below, else inconclusive."""
    assert compare(0.8, sampled_fraction(100, 100, 100), "ge").status == "holds"
    assert compare(0.8, sampled_fraction(16, 16, 40), "ge").status == "refuted"
    assert compare(0.8, sampled_fraction(33, 33, 40), "ge").status == "inconclusive"


@pytest.mark.parametrize("kwargs, match", [(dict(certain=5, possible=4, m=10), "possible"),
                                           (dict(certain=0, possible=11, m=10), "possible"),
                                           (dict(certain=0, possible=0, m=0), "m"),
                                           (dict(certain=1, possible=1, m=2, certificate_failure=1.0), "certificate")])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sampled_fraction(**kwargs)
