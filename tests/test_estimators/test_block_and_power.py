import numpy as np
import pytest
import scipy.sparse.linalg as sla
import torch

from hessverify.estimators import lobpcg, power_iteration, subspace_iteration
from tests.spectra import FAMILIES, family, symmetric_from_eigenvalues


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::scipy.linalg.LinAlgWarning")
@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("largest", [True, False])
def test_lobpcg_against_eigvalsh_and_scipy(name, largest):
    lam = family(name, 150, seed=0)
    A = symmetric_from_eigenvalues(lam, seed=0)
    r = lobpcg(A, k=5, which="LA" if largest else "SA", seed=0, max_iter=2000)
    truth = np.sort(lam)[::-1] if largest else np.sort(lam)
    scale = np.abs(lam).max()
    np.testing.assert_allclose(r.eigenvalues.numpy(), truth[:5], atol=1e-8 * scale)
    X0 = np.random.default_rng(0).standard_normal((150, 5))
    ref, _ = sla.lobpcg(A.numpy(), X0, largest=largest, tol=1e-9, maxiter=3000)
    np.testing.assert_allclose(np.sort(r.eigenvalues.numpy()), np.sort(ref), atol=1e-6 * scale)
    assert np.all([np.abs(lam - v).min() for v in r.eigenvalues.numpy()] <= r.residuals.numpy() + 1e-12 * scale)


def test_lobpcg_counts_multiplicity_three():
    lam = np.concatenate([[6.0, 6.0, 6.0, 4.0], np.linspace(-2, 2, 80)])
    A = symmetric_from_eigenvalues(lam, seed=1)
    r = lobpcg(A, k=3, seed=0)
    np.testing.assert_allclose(r.eigenvalues.numpy(), [6, 6, 6], atol=1e-8)
    assert r.converged.all() and not r.multiplicities_guaranteed  # right, but LOBPCG certifies nothing


def test_lobpcg_block_too_large():
    with pytest.raises(ValueError, match="block"):
        lobpcg(torch.eye(10, dtype=torch.float64), k=4)


def test_power_iteration_rate_and_deflation():
    """004 §2: the Rayleigh-quotient error decays like |lambda_2/lambda_1|^(2t) for symmetric A."""
    lam = np.concatenate([[10.0, 8.0, 5.0], np.linspace(0, 1, 47)])
    A = symmetric_from_eigenvalues(lam, seed=0)
    r = power_iteration(A, k=3, seed=0, max_iter=3000)
    np.testing.assert_allclose(r.eigenvalues.numpy(), [10, 8, 5], atol=1e-8)
    err = 10.0 - np.asarray(r.history["rayleigh"][0])
    t = np.arange(len(err))
    ok = (err > 1e-12) & (t > 5)
    slope = np.polyfit(t[ok], np.log(err[ok]), 1)[0]
    assert abs(slope - 2 * np.log(0.8)) < 0.1 * abs(2 * np.log(0.8))


def test_subspace_iteration_matches_top_magnitudes():
    lam = np.concatenate([[9.0, -7.0, 5.0], np.linspace(-1, 1, 57)])
    A = symmetric_from_eigenvalues(lam, seed=2)
    r = subspace_iteration(A, k=3, seed=0, max_iter=1000)
    np.testing.assert_allclose(r.eigenvalues.numpy(), [9, -7, 5], atol=1e-8)
