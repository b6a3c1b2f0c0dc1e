"""Ghost copies (hessverify.estimators.result.ghost_copies): Lanczos without reorthogonalisation repeats a
converged eigenvalue, each copy with a small residual (Paige; 000 §3.3). A copy must not be reported as another
converged eigenvalue. Ground truth: ``eigvalsh`` of matrices with spectra known by construction."""
import warnings

import numpy as np
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


def test_two_exact_eigenvectors_of_a_repeated_eigenvalue_are_kept():
    """The rule asks whether the orthogonal remainder is an eigenvector, not how large the angle is: two exact
    eigenvectors of a double eigenvalue 10 degrees apart are two copies; a copy of one vector plus noise of 1e-12
    is a ghost (its remainder is the noise, whose residual is of the size of the spectrum)."""
    A = torch.diag(torch.tensor([2.0, 2.0, 1.0, -1.0], dtype=torch.float64))
    a = np.radians(10.0)
    twins = torch.tensor([[1.0, np.cos(a)], [0.0, np.sin(a)], [0.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    noise = torch.tensor([0.0, 0.0, 1e-12, 1e-12], dtype=torch.float64)
    ghost = torch.stack([twins[:, 0], (twins[:, 0] + noise) / torch.linalg.vector_norm(twins[:, 0] + noise)], 1)
    values = torch.tensor([2.0, 2.0], dtype=torch.float64)
    for Y, expected in ((twins, [False, False]), (ghost, [False, True])):
        res = torch.linalg.vector_norm(A @ Y - Y * values, dim=0)
        assert ghost_copies(Y, A @ Y, values, torch.tensor([True, True]), res, 1e-10 * 2).tolist() == expected
    # only candidates count: an unconverged first vector does not make a ghost of the second
    res = torch.linalg.vector_norm(A @ ghost - ghost * values, dim=0)
    assert ghost_copies(ghost, A @ ghost, values, torch.tensor([False, True]), res, 2e-10).tolist() == [False, False]


def test_both_ends_may_share_a_repeated_eigenvalue():
    """``which="BE"`` on the spectrum (3, 1, 1, 1, -2), k=4: the top half returns (3, 1), the bottom half
    (-2, 1), two independent eigenvectors of the triple eigenvalue 1 (the reviewer's seed put them 19.9 degrees
    apart). Both are copies, so the certified answer stands; a 30-degree angle rule had dropped one."""
    from scipy.stats import ortho_group

    Q = ortho_group.rvs(5, random_state=14)
    A = torch.tensor((Q * np.array([3.0, 1, 1, 1, -2])) @ Q.T)
    A = (A + A.T) / 2
    r = lanczos(A, 4, which="BE", seed=14)
    assert np.allclose(np.sort(r.eigenvalues.numpy()), [-2, 1, 1, 3])
    assert r.converged.all() and r.multiplicities_guaranteed



def test_deflated_power_iteration_vectors_are_not_ghosts():
    """The third review's case: power iteration's Hotelling-deflated vectors are orthogonal only to about
    residual / gap (2.6e-10 here), which made the remainder's residual exceed the tolerance and flagged a simple,
    well separated eigenvalue as a ghost. A vector orthogonal to the kept ones to 1e-6 is kept as it is."""
    from hessverify.estimators import power_iteration

    s = 1571
    rng = np.random.default_rng(s)
    n, k = int(rng.integers(8, 40)), None
    k = int(rng.integers(2, min(12, n)))
    lam = rng.choice([-1, 1], n) * np.logspace(0, -rng.uniform(1, 6), n)
    Q, _ = np.linalg.qr(np.random.default_rng(s).standard_normal((n, n)))
    A = torch.tensor((Q * lam) @ Q.T)
    A = (A + A.T) / 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = power_iteration(A, k=k, seed=s, max_iter=4000)
    assert not any("ghost" in str(w.message) for w in caught)
    assert r.converged.all()
    assert converged_values_are_distinct_eigenvalues(r, np.linalg.eigvalsh(A.numpy()))
