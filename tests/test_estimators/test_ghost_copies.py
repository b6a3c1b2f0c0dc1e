"""Ghost copies (hessverify.estimators.result.ghost_copies): Lanczos without reorthogonalisation repeats a
converged eigenvalue, each copy with a small residual (Paige; 000 §3.3). A copy must not be reported as another
converged eigenvalue. Ground truth: ``eigvalsh`` of matrices with spectra known by construction."""
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hessverify.estimators import lanczos, lobpcg, subspace_iteration
from hessverify.estimators.result import ghost_copies
from tests.spectra import symmetric_from_eigenvalues


def outlier_and_bulk(n: int = 200) -> torch.Tensor:
    """One outlier 360.05 above a bulk in [0.001, 0.1]: the second reviewer's shape."""
    return torch.diag(torch.cat([torch.tensor([360.05]), torch.linspace(0.1, 0.001, n - 1)]).double())


def converged_values_are_distinct_eigenvalues(result, true: np.ndarray) -> bool:
    """Is there an injective map from the converged values to true eigenvalues (with multiplicity), each within
    ``2 ||R||_F`` (``R`` the converged columns' residuals)? For an orthonormal ``Y`` Kahan's set bound gives
    ``||R||_2``; the factor 2 allows a kept basis with smallest singular value 1/2. A ghost has a tiny residual,
    so it needs a second eigenvalue next to its original, which a separated spectrum does not have. Greedy on
    right endpoints is exact for intervals and points."""
    keep = result.converged.numpy()
    theta = result.eigenvalues.numpy()[keep]
    radius = 2 * float(np.linalg.norm(result.residuals.numpy()[keep])) + 1e-12 * float(np.abs(true).max())
    used = np.zeros(len(true), dtype=bool)
    for t in sorted(theta):
        free = np.flatnonzero(~used & (true >= t - radius) & (true <= t + radius))
        if not free.size:
            return False
        used[free[0]] = True  # true is ascending: the smallest free one
    return True


def test_the_reviewers_ghosts_are_not_converged():
    """Before: 360.05 three times, all converged. Now only the first counts, and a warning says why."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = lanczos(outlier_and_bulk(), k=3, reorth="none", seed=0, certify_multiplicities=False)
    assert np.allclose(r.eigenvalues.numpy(), 360.05)  # the three copies are still returned, as Ritz values
    assert r.converged.tolist() == [True, False, False]
    assert not r.multiplicities_guaranteed
    assert any("ghost copies" in str(w.message) for w in caught)
    assert any("ghost copies" in note for note in r.warnings)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(30, 90), outliers=st.lists(st.floats(5, 500), min_size=1, max_size=3, unique=True),
       k=st.integers(1, 5), reorth=st.sampled_from(["none", "selective", "full"]), seed=st.integers(0, 2**16))
def test_converged_values_are_distinct_eigenvalues(n, outliers, k, reorth, seed):
    """Outliers far above a bulk make Lanczos without reorthogonalisation repeat them early; whatever the
    variant, the converged values must be distinct true eigenvalues (counted with multiplicity)."""
    rng = np.random.default_rng(seed)
    spectrum = np.concatenate([outliers, rng.uniform(-0.1, 0.1, n - len(outliers))])
    A = symmetric_from_eigenvalues(spectrum, seed=seed)
    true = np.linalg.eigvalsh(A.numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = lanczos(A, k=k, reorth=reorth, seed=seed, certify_multiplicities=False, max_iter=n)
    assert converged_values_are_distinct_eigenvalues(r, true)


def test_orthonormal_outputs_have_no_ghosts():
    """A repeated eigenvalue returned by methods with orthonormal vectors is a multiplicity, not a ghost: all
    three copies of a triple eigenvalue stay converged."""
    A = symmetric_from_eigenvalues(np.concatenate([[3.0, 3.0, 3.0], np.linspace(1.0, 0.0, 17)]), seed=1)
    for r in (lanczos(A, k=3, seed=0), lobpcg(A, k=3, seed=0), subspace_iteration(A, k=3, seed=0)):
        assert np.allclose(r.eigenvalues.numpy(), 3.0)
        assert r.converged.all(), r.method


@pytest.mark.parametrize("angle, ghost", [(29.0, True), (31.0, False)])
def test_the_angle_decides(angle, ghost):
    """A second unit vector at ``angle`` degrees from the first: a ghost below 30 degrees, kept above."""
    a = np.radians(angle)
    Y = torch.tensor([[1.0, np.cos(a)], [0.0, np.sin(a)], [0.0, 0.0]], dtype=torch.float64)
    assert ghost_copies(Y, torch.tensor([True, True])).tolist() == [False, ghost]
    # only candidates are compared: an unconverged better vector does not make a ghost of a converged one
    assert ghost_copies(Y, torch.tensor([False, True])).tolist() == [False, False]
