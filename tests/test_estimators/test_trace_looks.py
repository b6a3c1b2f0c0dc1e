"""Trace intervals that stay valid however often the stopping rule looks (TraceResult.ci spends the miss
probability over the looks). Ground truth: the trace of a matrix with a spectrum known by construction."""
import numpy as np
import pytest

from hessverify.estimators import hutchinson, hutchpp
from tests.spectra import symmetric_from_eigenvalues


def test_stopping_early_keeps_the_coverage():
    """``rtol=0.03`` with a look after every probe from the second on: the run stops when the estimated error
    happens to be small. Charged for its looks, the 95% interval misses at most 5% of the time (binomial, 3
    sigma over 600 runs); read as a fixed-size interval it missed 11% (66 of 600) on this matrix."""
    lam = np.linspace(0.1, 3, 30)
    A = symmetric_from_eigenvalues(lam, seed=0)
    trials, misses = 600, 0
    for seed in range(trials):
        r = hutchinson(A, 3000, seed=seed, rtol=0.03, min_samples=2, block=1, check_symmetry=False)
        assert r.looks >= 1
        lo, hi = r.ci(0.95)
        misses += not lo <= lam.sum() <= hi
    assert misses / trials <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / trials)


def test_the_schedule_and_the_charge():
    """Looks at 16, 32 and 64 probes (a first look at ``min_samples`` or after, then at twice the last); an
    unreachable ``rtol`` runs out at 100, which is a fourth look. A fixed budget has none, and its interval is
    the plain Student-t one."""
    A = symmetric_from_eigenvalues(np.linspace(-1, 1, 40), seed=0)
    r = hutchinson(A, 100, seed=0, rtol=1e-12, min_samples=10, block=16)
    assert (r.num_samples, r.looks) == (100, 4)
    fixed = hutchinson(A, 100, seed=0, min_samples=10, block=16)
    assert fixed.looks == 0 and fixed.value == r.value
    half = lambda res: (res.ci(0.95)[1] - res.ci(0.95)[0]) / 2 - res.rounding  # noqa: E731
    from scipy import stats

    assert half(fixed) == pytest.approx(stats.t.ppf(0.975, 99) * fixed.stderr, rel=1e-12)
    assert half(r) == pytest.approx(stats.t.ppf(1 - 0.05 / 20 / 2, 99) * r.stderr, rel=1e-12)


def test_hutchpp_counts_its_looks():
    A = symmetric_from_eigenvalues(np.linspace(0.1, 3, 400), seed=0)  # the sketch of 100 leaves a remainder
    assert hutchpp(A, 60, seed=0).looks == 0
    r = hutchpp(A, 300, seed=0, rtol=1e-12, min_samples=4, block=4)
    assert r.num_samples == 100 and r.looks == 6  # looks at 4, 8, 16, 32, 64; out of probes at 100


def test_a_rule_that_never_looked_charges_nothing():
    """A budget below ``min_samples``: the rule never looked, so the samples are a fixed-size sample."""
    A = symmetric_from_eigenvalues(np.linspace(0.1, 3, 40), seed=0)
    assert hutchinson(A, 5, seed=0, rtol=0.01, min_samples=10).looks == 0
    assert hutchpp(A, 9, seed=0, rtol=0.01, min_samples=10).looks == 0
