"""The one Lanczos kernel: the Lanczos relation ``A Q = Q T + r e_m^T`` with orthonormal ``Q`` (matfree's test of
``tridiag_sym``), against the matrix it was run on; memory that grows with the steps taken; a frozen result."""
import dataclasses
import warnings

import numpy as np
import pytest
import torch

from hessverify.estimators import LanczosRun, lanczos, lanczos_ritz, lanczos_tridiagonal
from tests.spectra import family, symmetric_from_eigenvalues


def relation_error(A: torch.Tensor, run: LanczosRun) -> tuple[float, float]:
    """``||A Q - Q T - r e_m^T||_F / ||A||_2`` and ``||Q^T Q - I||_F``."""
    Q, T = run.Q, run.tridiagonal()
    E = A @ Q - Q @ T
    E[:, -1] -= run.residual
    return float(torch.linalg.matrix_norm(E)) / float(torch.linalg.matrix_norm(A, 2)), \
        float(torch.linalg.matrix_norm(Q.T @ Q - torch.eye(run.m, dtype=Q.dtype)))


@pytest.mark.parametrize("reorth", ["full", "double"])
@pytest.mark.parametrize("steps", [1, 7, 40, 90])
def test_lanczos_relation(reorth, steps):
    A = symmetric_from_eigenvalues(family("uniform", 90, seed=3), seed=3)
    run = lanczos_tridiagonal(A, steps, seed=0, reorth=reorth)
    assert run.m == steps and run.Q.shape == (90, steps) and run.alpha.shape == run.beta.shape == (steps,)
    rel, orth = relation_error(A, run)
    assert rel < 1e-13 and orth < 1e-12
    # T's eigenvalues are Ritz values: at m = n they are the spectrum (eigvalsh of the same matrix)
    if steps == 90:
        np.testing.assert_allclose(run.ritz_values(), np.linalg.eigvalsh(A.numpy()), atol=1e-11)


def test_relation_through_breakdowns_and_chunks():
    """A start in a 2-dimensional invariant subspace breaks the recurrence down at step 2; the run continues from a
    fresh direction (``T`` turns block diagonal, ``beta`` is zero there) and the relation still holds; at m = n
    the Ritz values are the spectrum, the triple eigenvalue included. Host synchronisation in chunks of 7 steps
    finds the same breakdown."""
    lam = np.concatenate([[5.0, 5.0, 5.0], np.linspace(-1, 1, 37)])
    A = torch.diag(torch.as_tensor(lam))
    v0 = torch.zeros(40, dtype=torch.float64)
    v0[[3, 10]] = 1.0  # two eigenvectors of distinct eigenvalues: the Krylov space is exactly their span
    for sync_every in (1, 7):
        run = lanczos_tridiagonal(A, v0=v0, seed=2, sync_every=sync_every)
        assert run.restarted_at[0] == 2 and run.beta[1] == 0 and run.m == 40
        rel, orth = relation_error(A, run)
        assert rel < 1e-12 and orth < 1e-12
        np.testing.assert_allclose(run.ritz_values(), np.sort(lam), atol=1e-11)


def test_relation_on_the_deflated_operator():
    """With ``locked`` columns ``L`` the run is on ``P A P`` (``P = I - L L^T``) and ``Q`` is orthogonal to ``L``."""
    A = symmetric_from_eigenvalues(family("gaussian", 60, seed=0), seed=0)
    L, _ = torch.linalg.qr(torch.randn(60, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))
    P = torch.eye(60, dtype=torch.float64) - L @ L.T
    run = lanczos_tridiagonal(A, 30, seed=0, locked=L)
    rel, orth = relation_error(P @ A @ P, run)
    assert rel < 1e-13 and orth < 1e-12 and float((L.T @ run.Q).abs().max()) < 1e-13
    whole = lanczos_tridiagonal(A, seed=0, locked=L)  # the deflated space has 55 dimensions: 55 steps
    assert whole.m == 55


def test_storage_grows_with_the_steps_taken():
    """A run that stops at step 100 of a possible 1000 allocates about 100 vectors, never 1000 (the first block of
    64 rows, then blocks of half the rows stored so far); the relation holds across the blocks."""
    A = symmetric_from_eigenvalues(family("uniform", 1000, seed=0), seed=0)
    run = lanczos_tridiagonal(A, 1000, seed=0, stop=lambda r, beta: r.m >= 100)
    rows = sum(V.untyped_storage().nbytes() for V in run.basis_blocks) // (8 * 1000)
    assert run.m == 100 and len(run.basis_blocks) == 2 and 100 <= rows <= 100 + 32
    rel, orth = relation_error(A, run)
    assert rel < 1e-13 and orth < 1e-12
    fixed = lanczos_tridiagonal(A, 100, seed=0)  # a known length: one block of exactly that size
    assert len(fixed.basis_blocks) == 1 and fixed.basis_blocks[0].untyped_storage().nbytes() == 100 * 1000 * 8
    np.testing.assert_allclose(fixed.ritz_values(), run.ritz_values(), rtol=1e-12)


def test_result_is_frozen_and_inputs_are_public():
    A = symmetric_from_eigenvalues(family("uniform", 30, seed=0), seed=0)
    v0 = torch.ones(30, dtype=torch.float64)
    a = lanczos_tridiagonal(A.numpy(), 10, v0=v0)
    b = lanczos_tridiagonal(A, 10, v0=3 * v0)
    np.testing.assert_allclose(a.alpha, b.alpha, rtol=1e-13)
    assert torch.allclose(a.Q[:, 0], v0 / 30**0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.alpha = None
    assert np.array_equal(lanczos_tridiagonal(A, 10, seed=4).alpha, lanczos_tridiagonal(A, 10, seed=4).alpha)
    with pytest.raises(ValueError, match="locked must be"):
        lanczos_tridiagonal(A, 5, locked=torch.zeros(29, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="reorth"):
        lanczos_tridiagonal(A, 5, reorth="partial")


@pytest.mark.parametrize("reorth", ["none", "selective"])
def test_an_exact_breakdown_without_full_reorthogonalisation_continues(reorth):
    """The second reviewer's cases: a start vector that is an eigenvector, the zero operator and ``5 I`` give
    ``beta = 0`` at once. Every variant continues from a fresh direction; "none" and "selective" used to divide
    by the zero and stop with a NaN error that blamed the operator."""
    D = torch.diag(torch.arange(1.0, 11.0, dtype=torch.float64))
    e = torch.zeros(10, dtype=torch.float64)
    e[-1] = 1
    assert lanczos(D, 2, v0=e, reorth=reorth).eigenvalues.tolist() == pytest.approx([10.0, 9.0], abs=1e-12)
    zero = torch.zeros(6, 6, dtype=torch.float64)
    assert lanczos(zero, 2, reorth=reorth, seed=0).eigenvalues.tolist() == [0.0, 0.0]
    assert lanczos_ritz(zero, reorth=reorth, seed=0).eigenvalues.tolist() == [0.0] * 6
    for seed in range(20):
        r = lanczos(5 * torch.eye(4, dtype=torch.float64), 2, reorth=reorth, seed=seed)
        assert r.eigenvalues.tolist() == pytest.approx([5.0, 5.0], abs=1e-12)


@pytest.mark.parametrize("reorth", ["none", "full", "double"])
def test_a_breakdown_inside_a_synchronisation_chunk(reorth):
    """The third review: with ``sync_every=10`` (the accelerator default) the steps between host checks divided
    by a zero beta before the breakdown test ran, and the NaN reached the operator."""
    zero = torch.zeros(6, 6, dtype=torch.float64)
    assert lanczos(zero, 1, reorth=reorth, sync_every=10, seed=0).eigenvalues.tolist() == [0.0]
    assert lanczos_ritz(zero, reorth=reorth, sync_every=10, seed=0).eigenvalues.tolist() == [0.0] * 6
    for seed in range(5):
        r = lanczos(3 * torch.eye(8, dtype=torch.float64), 2, reorth=reorth, sync_every=10, seed=seed)
        assert r.eigenvalues.tolist() == pytest.approx([3.0, 3.0], abs=1e-12)


@pytest.mark.parametrize("options", [{"reorth": "none"}, {"reorth": "selective"}, {"certify_multiplicities": False}])
@pytest.mark.parametrize("which", ["LA", "LM", "BE"])
def test_an_invariant_start_does_not_end_the_search(options, which):
    """The third review: a start inside an invariant subspace ended the uncertified search at its breakdown, with
    that subspace's values marked converged (``[4, 3, 2]`` for the top ``[13, 12, 11]``). The search now goes on
    from a fresh direction until the space is exhausted or its stop rule holds on the whole."""
    B = torch.block_diag(torch.diag(torch.tensor([4.0, 3, 2, 1])), torch.diag(torch.arange(5.0, 14.0))).double()
    v = torch.zeros(13, dtype=torch.float64)
    v[:4] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r = lanczos(B, k=3, v0=v, which=which, **options)
    expected = {"LA": [13, 12, 11], "LM": [13, 12, 11], "BE": [13, 12, 1]}[which]
    assert r.eigenvalues.tolist() == pytest.approx(expected, abs=1e-9)
    D = torch.diag(torch.arange(1.0, 9.0, dtype=torch.float64))
    assert lanczos(D, 1, v0=torch.eye(8, dtype=torch.float64)[:, 0], **options).eigenvalues.tolist() == \
        pytest.approx([8.0], abs=1e-9)
