import numpy as np
import pytest
from scipy import stats

from hessverify.estimators import hutchinson, hutchpp, spectral_density
from tests.spectra import pareto_wishart, spiked_wishart, symmetric_from_eigenvalues


@pytest.mark.parametrize("estimator", ["hutchinson", "hutchpp"])
def test_confidence_interval_covers_at_nominal_rate(estimator):
    """Over 300 seeds the 95% interval must cover tr(A) in a fraction consistent with 0.95 (binomial, 4 sigma)."""
    lam = np.linspace(0.1, 3, 60)
    A = symmetric_from_eigenvalues(lam, seed=0)
    trials = 300
    hits = 0
    for seed in range(trials):
        r = hutchinson(A, 30, seed=seed) if estimator == "hutchinson" else hutchpp(A, 45, seed=seed)
        lo, hi = r.ci(0.95)
        hits += lo <= lam.sum() <= hi
    sd = np.sqrt(0.95 * 0.05 / trials)
    assert abs(hits / trials - 0.95) < 4 * sd


def test_hutchinson_stops_at_requested_relative_error():
    A = symmetric_from_eigenvalues(np.linspace(1, 2, 50), seed=0)
    r = hutchinson(A, 10_000, seed=0, rtol=0.01)
    assert r.relative_stderr <= 0.01 and r.num_samples < 10_000 and r.num_matvecs == r.num_samples


def test_hutchpp_beats_hutchinson_on_fast_decaying_spectrum():
    lam = 0.5 ** np.arange(100)
    A = symmetric_from_eigenvalues(lam, seed=0)
    err_h = np.mean([abs(hutchinson(A, 30, seed=s).value - lam.sum()) for s in range(20)])
    err_pp = np.mean([abs(hutchpp(A, 30, seed=s).value - lam.sum()) for s in range(20)])
    assert err_pp < err_h / 10


def test_density_integrates_to_one_and_matches_histogram():
    """002 Fig 8a: the SLQ measure is close to the true spectral measure (Wasserstein-1 over the range)."""
    A = spiked_wishart(300, seed=0)
    lam = np.linalg.eigvalsh(A.numpy())
    d = spectral_density(A, num_iter=80, num_vectors=10, seed=0)
    grid, dens = d.grid.numpy(), d.density.numpy()
    assert abs(np.trapezoid(dens, grid) - 1) < 1e-3
    # the quadrature nodes/weights form a discrete measure whose W1 distance to the spectrum shrinks like
    # range / num_iter; 2% of the range is a loose bound for 80 steps and 10 vectors
    w1 = stats.wasserstein_distance(d.nodes.numpy(), lam, u_weights=d.weights.numpy())
    assert w1 < 0.02 * (lam.max() - lam.min())
    # the outliers 5, 4, 3 (shifted by the bulk) carry mass about 1/n each, bulk mass near the MP law
    bulk = (grid > lam[:-3].min()) & (grid < lam[:-3].max())
    assert np.trapezoid(dens[bulk], grid[bulk]) > 0.9


def test_log_density_on_power_law_spectrum():
    """002 Fig 8b: density of log|lambda| for a Pareto Wishart matrix integrates to one on the log axis."""
    A = pareto_wishart(200, seed=0)
    d = spectral_density(A, num_iter=100, num_vectors=5, log_scale=True, seed=0)
    assert abs(np.trapezoid(d.density.numpy(), d.grid.numpy()) - 1) < 0.05
    lam = np.linalg.eigvalsh(A.numpy())
    loglam = np.log(np.abs(lam) + 1e-12)
    w1 = stats.wasserstein_distance(np.log(np.abs(d.nodes.numpy()) + 1e-12), loglam, u_weights=d.weights.numpy())
    assert w1 < 0.1 * (loglam.max() - loglam.min())


@pytest.mark.xfail(strict=True, reason="known limitation, documented in hutchinson's docstring: the Student-t "
                   "interval under-covers when the samples z^T A z are skewed (an outlier dominates the operator)")
def test_confidence_interval_under_an_outlier():
    """One eigenvalue 10 above a bulk of size 0.1 (30x30): ``z^T A z`` is close to ``10 chi^2_1``, whose skewness
    the Student-t interval ignores. Over 1,000 seeds at 20 probes the 95% interval missed 8.4% of the time
    (Rademacher). Strict: this test reports when a fix makes it pass."""
    lam = np.r_[10.0, np.random.default_rng(1).normal(size=29) * 0.1]
    A = symmetric_from_eigenvalues(lam, seed=0)
    trials = 1000
    misses = 0
    for seed in range(trials):
        lo, hi = hutchinson(A, 20, seed=seed, check_symmetry=False).ci(0.95)
        misses += not lo <= lam.sum() <= hi
    assert misses / trials <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / trials)
