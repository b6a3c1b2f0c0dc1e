import warnings

import numpy as np
import pytest
import scipy.sparse.linalg as sla
import torch

from hessverify.estimators import SpectralResult, exact, lanczos, lanczos_ritz
from tests.spectra import FAMILIES, family, symmetric_from_eigenvalues


def nearest_gap(values, truth):
    truth = np.asarray(truth)
    return np.array([np.abs(truth - v).min() for v in np.asarray(values)])


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("which", ["LA", "SA", "LM", "BE"])
def test_against_eigvalsh_and_eigsh(name, which):
    lam = family(name, 120, seed=1)
    A = symmetric_from_eigenvalues(lam, seed=1)
    r = lanczos(A, k=6, which=which, seed=0)
    truth = np.sort(lam)[::-1]
    expect = {"LA": truth[:6], "SA": truth[::-1][:6], "LM": truth[np.argsort(-np.abs(truth), kind="stable")][:6],
              "BE": np.concatenate([truth[:3], truth[-3:]])}[which]
    scale = np.abs(lam).max()
    np.testing.assert_allclose(r.eigenvalues.numpy(), expect, atol=1e-8 * scale)
    ref = sla.eigsh(A.numpy(), k=6, which=which, return_eigenvectors=False)
    np.testing.assert_allclose(np.sort(r.eigenvalues.numpy()), np.sort(ref), atol=1e-8 * scale)
    # the certificate: each value lies within its residual of a true eigenvalue
    assert np.all(nearest_gap(r.eigenvalues, lam) <= r.residuals.numpy() + 1e-12 * scale)
    assert r.all_converged and r.multiplicities_guaranteed


@pytest.mark.parametrize("reorth", ["full", "double"])
@pytest.mark.parametrize("which", ["LA", "SA"])
def test_repeated_eigenvalues_are_counted(reorth, which):
    sign = 1 if which == "LA" else -1
    lam = np.concatenate([sign * np.array([7.0, 7.0, 7.0, 5.0, 5.0, 2.0]), np.linspace(-1, 1, 60)])
    A = symmetric_from_eigenvalues(lam, seed=3)
    r = lanczos(A, k=5, which=which, reorth=reorth, seed=2)
    np.testing.assert_allclose(r.eigenvalues.numpy(), sign * np.array([7, 7, 7, 5, 5.0]), atol=1e-8)
    r3 = lanczos(A, k=3, which=which, reorth=reorth, seed=5)
    np.testing.assert_allclose(r3.eigenvalues.numpy(), sign * np.array([7, 7, 7.0]), atol=1e-8)


@pytest.mark.parametrize("which", ["LA", "SA", "LM"])
def test_single_run_without_multiplicity_certificate(which):
    """``certify_multiplicities=False``: one run, same values on simple eigenvalues with fewer products; on a
    repeated top eigenvalue it may miss copies and says so."""
    lam = np.concatenate([[9.0, 8.0, 7.5, 7.0], np.linspace(-3, 3, 120)])
    A = symmetric_from_eigenvalues(lam if which != "SA" else -lam, seed=6)
    certified = lanczos(A, k=4, which=which, seed=1, tol=1e-10)
    single = lanczos(A, k=4, which=which, seed=1, tol=1e-10, certify_multiplicities=False)
    expected = np.array([9.0, 8.0, 7.5, 7.0]) * (-1 if which == "SA" else 1)
    np.testing.assert_allclose(single.eigenvalues.numpy(), expected, atol=1e-8)
    assert single.num_matvecs < certified.num_matvecs
    assert certified.multiplicities_guaranteed and not single.multiplicities_guaranteed
    repeated = symmetric_from_eigenvalues(np.concatenate([[5.0, 5.0], np.linspace(-1, 1, 60)]), seed=2)
    r = lanczos(repeated, k=2, seed=0, certify_multiplicities=False)
    assert not r.multiplicities_guaranteed and r.eigenvalues[0] == pytest.approx(5.0)


def test_full_reorth_to_m_equals_n_recovers_whole_spectrum():
    lam = family("uniform", 80, seed=4)
    lam[:3] = lam[0]  # a triple eigenvalue too
    A = symmetric_from_eigenvalues(lam, seed=4)
    r = lanczos_ritz(A, num_iter=80, seed=0)
    np.testing.assert_allclose(r.eigenvalues.numpy(), np.sort(lam)[::-1], atol=1e-9 * 50)
    assert r.num_matvecs == 80 and r.multiplicities_guaranteed


def test_no_reorth_shows_ghosts_and_orthogonality_loss():
    lam = np.concatenate([[10.0, 9.0], np.linspace(0, 1, 98)])
    A = symmetric_from_eigenvalues(lam, seed=0)
    with pytest.warns(RuntimeWarning, match="ghost"):
        r = lanczos(A, k=4, which="LA", reorth="none", max_iter=100, seed=0)
    vals = r.eigenvalues.numpy()
    # ghost copies: a simple eigenvalue is reported more than once
    assert np.sum(np.abs(vals - 10.0) < 1e-6) + np.sum(np.abs(vals - 9.0) < 1e-6) > 2
    orth = np.asarray(r.history["orthogonality"])
    assert orth[:5].max() < 1e-12 and orth.max() > 0.1
    assert not r.multiplicities_guaranteed
    full = lanczos(A, k=4, which="LA", reorth="full", max_iter=100, seed=0, track_orthogonality=True)
    assert max(full.history["orthogonality"]) < 1e-10


def test_selective_keeps_orthogonality_better_than_none():
    lam = np.concatenate([[10.0, 9.0, 8.0], np.linspace(0, 1, 97)])
    A = symmetric_from_eigenvalues(lam, seed=0)
    sel = lanczos(A, k=3, reorth="selective", max_iter=100, seed=0)
    with pytest.warns(RuntimeWarning):
        none = lanczos(A, k=3, reorth="none", max_iter=100, seed=0)
    assert max(sel.history["orthogonality"]) < 1e-3 * max(none.history["orthogonality"])
    np.testing.assert_allclose(sel.eigenvalues.numpy(), [10, 9, 8], atol=1e-8)


def test_ritz_history_and_eigenvectors():
    lam = family("gaussian", 60, seed=2)
    A = symmetric_from_eigenvalues(lam, seed=2)
    r = lanczos(A, k=3, seed=1, return_eigenvectors=True, ritz_history=True)
    assert len(r.history["ritz_values"]) == r.history["search_steps"]
    assert r.iterations == r.history["search_steps"] + r.history["certification_steps"]
    assert lanczos(A, k=3, seed=1).history["ritz_values"] == []  # recorded only when asked (O(m^2) a step)
    Y = r.eigenvectors
    assert torch.allclose(Y.T @ Y, torch.eye(3, dtype=torch.float64), atol=1e-8)
    assert torch.allclose(A @ Y, Y * r.eigenvalues, atol=1e-7)


def test_ritz_without_history_gives_the_same_spectrum():
    """Dropping the per-step Ritz values and orthogonality changes nothing but the history; the recorded Ritz
    values of step m are the eigenvalues of the true spectrum's Krylov projection (the last equals eigvalsh)."""
    lam = family("uniform", 70, seed=1)
    A = symmetric_from_eigenvalues(lam, seed=1)
    full = lanczos_ritz(A, seed=3)
    bare = lanczos_ritz(A, seed=3, ritz_history=False, track_orthogonality=False)
    assert torch.equal(full.eigenvalues, bare.eigenvalues)
    assert bare.history["ritz_values"] == [] and bare.history["orthogonality"] == []
    assert len(full.history["ritz_values"]) == 70
    np.testing.assert_allclose(np.sort(full.history["ritz_values"][-1])[::-1], np.sort(lam)[::-1], atol=1e-9 * 50)


def test_seed_makes_runs_reproducible():
    A = symmetric_from_eigenvalues(family("custom", 70), seed=0)
    a, b = lanczos(A, k=4, seed=7), lanczos(A, k=4, seed=7)
    assert torch.equal(a.eigenvalues, b.eigenvalues) and a.num_matvecs == b.num_matvecs


def test_accepts_scipy_and_duck_typed_operators():
    A = symmetric_from_eigenvalues(family("uniform", 50), seed=0)
    lo = sla.aslinearoperator(A.numpy())
    r = lanczos(lo, k=2, seed=0)
    np.testing.assert_allclose(r.eigenvalues.numpy(), exact(A).eigenvalues[:2].numpy(), atol=1e-8)

    class Duck:
        shape = A.shape

        def matvec(self, v):
            return A @ v

    assert torch.allclose(lanczos(Duck(), k=2, seed=0).eigenvalues, r.eigenvalues, atol=1e-8)


def test_float32_operator():
    A = symmetric_from_eigenvalues(family("gaussian", 60), seed=0, dtype=torch.float32)
    r = lanczos(A, k=3, seed=0)
    assert r.eigenvalues.dtype == torch.float32
    truth = np.sort(np.linalg.eigvalsh(A.double().numpy()))[::-1][:3]
    np.testing.assert_allclose(r.eigenvalues.numpy(), truth, rtol=1e-4, atol=1e-4 * np.abs(truth).max())


@pytest.mark.parametrize("reorth", ["full", "double", "none"])
def test_chunked_host_sync_gives_the_same_run(reorth):
    """Checking convergence once per chunk of steps (as on an accelerator) only adds steps past the stopping
    point; breakdowns inside a chunk are found and the run continues from there."""
    lam = np.concatenate([[10.0, 9.0, 9.0], np.linspace(0, 1, 37)])  # a double eigenvalue, 40 x 40
    A = symmetric_from_eigenvalues(lam, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        one = lanczos(A, k=3, reorth=reorth, seed=1, max_iter=60)
        chunked = lanczos(A, k=3, reorth=reorth, seed=1, max_iter=60, sync_every=7)
    if reorth != "none":
        np.testing.assert_allclose(chunked.eigenvalues.numpy(), [10, 9, 9], atol=1e-9)
        np.testing.assert_allclose(one.eigenvalues.numpy(), [10, 9, 9], atol=1e-9)
    assert chunked.num_matvecs >= one.num_matvecs
    # a whole-spectrum run passes through breakdowns (m = n) with chunks
    full = lanczos_ritz(A, reorth="full", seed=1, sync_every=7)
    np.testing.assert_allclose(full.eigenvalues.numpy(), np.sort(lam)[::-1], atol=1e-9)


def test_guarantees_are_claimed_only_when_earned():
    """``lanczos_ritz`` claims multiplicities for a whole-space run with full/double reorthogonalisation only (a
    100-step run of a larger operator does not know them), and a result built without a claim makes none."""
    lam = np.concatenate([[3.0, 3.0], np.linspace(-1, 1, 118)])
    A = symmetric_from_eigenvalues(lam, seed=0)
    assert not lanczos_ritz(A, num_iter=100, seed=0).multiplicities_guaranteed
    assert lanczos_ritz(A, seed=0).multiplicities_guaranteed
    with pytest.warns(RuntimeWarning):
        assert not lanczos_ritz(A, reorth="none", seed=0).multiplicities_guaranteed
    r = SpectralResult(eigenvalues=torch.ones(1), residuals=torch.zeros(1), num_matvecs=0,
                       converged=torch.ones(1, dtype=torch.bool), method="hand-made")
    assert r.multiplicities_guaranteed is False


def test_a_partly_converged_single_run_never_repeats_a_value():
    """One run whose second value has not converged: the answer is its best distinct Ritz values (the second and
    third flagged unconverged), never the converged top value twice (which its explicit residual would pass)."""
    lam = np.concatenate([[10.0, 9.0], np.linspace(0, 8.9, 298)])
    A = symmetric_from_eigenvalues(lam, seed=0)
    with pytest.warns(RuntimeWarning, match="did not reach tol"):
        r = lanczos(A, k=3, seed=0, max_iter=40, certify_multiplicities=False)
    vals = r.eigenvalues.numpy()
    assert np.sum(np.abs(vals - 10.0) < 1e-6) == 1 and r.converged.tolist() == [True, False, False]


def test_multiplicity_six_with_k_seven_locks_and_restarts():
    """Eigenvalue 1 six times, then 1 - 1e-6, on 400 x 400: the first run cannot converge its top Ritz value
    (copies seeded by rounding blur it), but converges others; they are locked and the search restarts until all
    seven are found and certified (it used to give up after one run with an error of 0.1)."""
    rng = np.random.default_rng(0)
    lam = np.concatenate([np.ones(6), [1 - 1e-6], rng.uniform(0, 0.9, 393)])
    Q, R = np.linalg.qr(rng.standard_normal((400, 400)))
    Q *= np.sign(np.diag(R))
    A = torch.as_tensor((Q * lam) @ Q.T)
    r = lanczos((A + A.T) / 2, k=7, seed=0)
    np.testing.assert_allclose(r.eigenvalues.numpy(), [1, 1, 1, 1, 1, 1, 1 - 1e-6], atol=1e-9)
    assert r.all_converged and r.multiplicities_guaranteed and r.history["restarts"] > 0
