"""The certificate's reuse of the search (hessverify.estimators.certificates, "Reusing the search" and "Runs share
the probability"), each piece against an independent ground truth: dense eigenvalues of block matrices built to
make the Schur-complement bound tight, the coupling of a real run measured on the dense deflated matrix, and a
planted value of the compressed operator that must not be taken for a copy."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hessverify.estimators import lanczos, lanczos_tridiagonal
from hessverify.estimators._operator import SymmetricOperator
from hessverify.estimators.certificates import (DEFAULT_FAILURE_PROBABILITY, Neighbours, certify_complete,
                                                neighbours_from_run, run_level)
from tests.spectra import symmetric_from_eigenvalues


def top(M: np.ndarray) -> float:
    return float(np.linalg.eigvalsh(M)[-1])


@settings(max_examples=200, deadline=None)
@given(theta=st.floats(-2, 2), g=st.floats(1e-3, 3), c=st.floats(0, 3), slack=st.floats(1e-9, 1e-3))
def test_the_shift_is_tight_in_two_dimensions(theta, g, c, slack):
    """``B = [[theta, c], [c, mu]]``: ``lambda_max(B) < x`` exactly when ``(x - theta)(x - mu) > c^2``, i.e. for
    ``mu`` below ``x - c^2 / g`` (``g = x - theta``). With ``mu`` a hair below the shifted threshold ``B`` stays
    below ``x``; a hair above, it does not. A smaller shift (say the Weyl-free ``0``, or ``c^2 / (2 g)``) would
    certify the second matrix."""
    x = theta + g
    nb = Neighbours(None, np.array([theta]), c, 0.0)
    eta = nb.threshold_shift("LA", x)
    assert eta == pytest.approx(c * c / g, rel=1e-9)
    scale = max(1.0, abs(x), eta)
    for sign, expect_below in ((-1, True), (1, False)):
        mu = x - eta + sign * slack * scale
        B = np.array([[theta, c], [c, mu]])
        lam = top(B)
        if expect_below:
            assert lam < x + 1e-12 * scale, (lam, x)
        elif c > 1e-6:
            assert lam > x - 1e-12 * scale, (lam, x)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), r=st.integers(1, 4), n=st.integers(2, 12), which=st.sampled_from(["LA", "SA", "LM"]))
def test_the_shift_bounds_any_block_matrix(seed, r, n, which):
    """Random ``[[diag(theta) + D, E^T], [E, C]]`` with ``||D|| <= rounding``, ``||E|| <= coupling`` and ``C`` scaled
    so its extreme values sit just inside ``x - eta``: then nothing of the whole matrix reaches ``x`` at any end
    of ``which`` (dense ``eigvalsh``)."""
    rng = np.random.default_rng(seed)
    signs = {"LA": (1,), "SA": (-1,), "LM": (1, -1)}[which]
    theta = rng.uniform(-1, 1, r)
    D = rng.standard_normal((r, r))
    D = (D + D.T) / 2
    rounding = rng.uniform(0, 0.05)
    D *= rounding / max(np.linalg.norm(D, 2), 1e-300)
    E = rng.standard_normal((n, r))
    coupling = rng.uniform(0, 1)
    E *= coupling / np.linalg.norm(E, 2)
    x = max(float(np.max(s * theta)) for s in signs) + rounding + rng.uniform(1e-3, 1)
    eta = Neighbours(None, theta, coupling, rounding).threshold_shift(which, x)
    assert eta is not None
    C = rng.standard_normal((n, n))
    C = (C + C.T) / 2
    target = x - eta - 1e-9 * max(1.0, abs(x))  # C's extreme value at the tested end(s), just inside x - eta
    if which == "LM":
        if target <= 0:
            return  # nothing has magnitude below a negative threshold
        C *= target / max(np.abs(np.linalg.eigvalsh(C)).max(), 1e-300)
    else:
        s = signs[0]
        C = s * (s * C - (top(s * C) - target) * np.eye(n))
    B = np.block([[np.diag(theta) + D, E.T], [E, C]])
    for s in signs:
        assert top(s * B) < x + 1e-12 * max(1.0, abs(x)), (which, s, top(s * B), x)


def test_threshold_shift_refuses_a_neighbour_at_the_threshold():
    nb = Neighbours(None, np.array([0.5, 0.9]), 1e-3, 1e-12)
    assert nb.threshold_shift("LA", 0.9) is None
    assert nb.threshold_shift("LA", 0.9 + 1e-11) is not None
    assert nb.threshold_shift("LM", 0.95) is not None
    assert Neighbours(None, np.array([-0.96]), 1e-3, 0.0).threshold_shift("LM", 0.95) is None


def _deflated(A: np.ndarray, Y: np.ndarray) -> np.ndarray:
    P = np.eye(A.shape[0]) - Y @ Y.T
    return P @ A @ P


@pytest.mark.parametrize("which", ["LA", "SA", "LM"])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("split", [0.7, 1e-7, 1e-9])
def test_the_coupling_of_a_real_run_bounds_the_dense_one(which, seed, split):
    """Neighbours from a real run: orthonormal, orthogonal to the locked vectors, ``||W^T B W - Theta_W||`` within
    ``rounding`` and the true coupling ``||(I - W W^T) B W||`` (dense, ``B`` deflated against the locked) within
    ``coupling``. The locked vector's coefficients come from LAPACK's index-range solver, as in the search, the
    neighbours' from the full one; with ``split`` 1e-7 or 1e-9 the best value has a twin that close (the two
    calls' bases differ there by up to 3e-6: the coefficients must be orthogonalised). The bound is nearly
    tight (``E = Z^T r s_W^T``): a max instead of the norm of ``s_W`` fails."""
    rng = np.random.default_rng(seed)
    lam = np.concatenate([[5.0, 5.0 - split, 3.5, 3.2, -5.0 + split / 2, -3.9], rng.uniform(-1, 1, 114)])
    A = symmetric_from_eigenvalues(lam, seed=seed)
    run = lanczos_tridiagonal(A, 40, seed=seed)
    theta, S = run.ritz()
    order = np.argsort(-{"LA": theta, "SA": -theta, "LM": np.abs(theta)}[which], kind="stable")
    locked = order[:1]
    coefficients = run.eigenvectors(int(locked[0]), int(locked[0]))
    Y = run.vectors(coefficients).numpy()
    Y /= np.linalg.norm(Y, axis=0)
    best = {"LA": theta[locked[0]], "SA": -theta[locked[0]], "LM": abs(theta[locked[0]])}[which]
    nb = neighbours_from_run(run, locked, coefficients, which, best + 1e-10, 2.2e-16)
    if split < 1e-3 and nb is None:
        return  # the twin is not resolved from the locked value: nothing to check
    assert nb is not None and nb.vectors.shape[1] >= 1
    W = nb.vectors.numpy()
    r = W.shape[1]
    np.testing.assert_allclose(W.T @ W, np.eye(r), atol=1e-12)
    assert np.abs(Y.T @ W).max() < 1e-12
    B = _deflated(A.numpy(), Y)
    M = W.T @ B @ W
    assert np.linalg.norm(M - np.diag(nb.values), 2) <= nb.rounding + 1e-13
    E = B @ W - W @ M
    true_coupling = np.linalg.norm(E, 2)
    assert true_coupling <= nb.coupling * (1 + 1e-9) + 1e-14, (true_coupling, nb.coupling)
    last = np.abs(S[-1, order[1 : r + 1]])
    if split > 0.1 and r >= 2 and last.max() < 0.9 * np.linalg.norm(last):  # a max would be too small here
        assert true_coupling > abs(run.beta[-1]) * last.max() + nb.rounding


def test_a_value_of_the_compressed_operator_is_not_locked():
    """Neighbours whose coupling is large shift the first run's threshold far down, so that run meets values of
    the compressed operator ``C`` that ``B`` does not have above ``x``: it must not lock them (they are not
    copies), and the plain run after it must certify with nothing added."""
    lam = np.concatenate([[3.0, 2.0], np.linspace(0, 1.9, 38)])
    A = symmetric_from_eigenvalues(lam, seed=0)
    evecs = np.linalg.eigh(A.numpy())[1][:, ::-1]
    Y = torch.as_tensor(evecs[:, :1].copy())
    W = torch.as_tensor(evecs[:, 1:2].copy())
    op = SymmetricOperator(A, check_symmetry=False)
    # theta_W = 2, x = 3 + delta, g ~ 1: coupling 1.2 gives eta ~ 1.44, so C is tested near 1.56 and has 1.9
    nb = Neighbours(W, np.array([2.0]), 1.2, 0.0)
    cert = certify_complete(op, [3.0], Y, k=1, which="LA", delta=1e-9, generator=torch.Generator().manual_seed(0),
                            failure_probability=1e-6, max_steps=40, runs=5, neighbours=nb)
    assert cert.history[0]["neighbours"] == 1 and cert.history[0]["copy"], cert.history
    assert cert.history[-1]["neighbours"] == 0
    assert cert.values == ()
    assert cert.failure_probability is not None and cert.failure_probability <= 1e-6


def test_run_shares_sum_within_the_whole():
    total = sum(run_level(1.0, i) for i in range(200))
    assert total <= 1.0
    assert run_level(1e-6, 0) == pytest.approx(0.9e-6)
    assert run_level(1e-6, 1) == pytest.approx(0.05e-6)


def test_reported_probability_is_in_units_of_the_whole():
    """The reported bound is the issuing run's bound over its share times the whole, so "reported <= requested"
    holds exactly when the run met its share."""
    A = symmetric_from_eigenvalues(np.concatenate([[2.0], np.linspace(0, 1, 59)]), seed=1)
    r = lanczos(A, k=1, seed=0)
    assert r.multiplicities_guaranteed
    last = r.history["certification_runs"][-1]
    assert last["level"] == run_level(DEFAULT_FAILURE_PROBABILITY, len(r.history["certification_runs"]) - 1)
    assert 0 < last["failure_probability"] <= last["level"]
    assert r.multiplicity_failure_probability == pytest.approx(
        last["failure_probability"] * DEFAULT_FAILURE_PROBABILITY / last["level"], rel=1e-12)
    assert r.multiplicity_failure_probability <= DEFAULT_FAILURE_PROBABILITY


def test_reuse_cuts_the_certificate_on_outliers_and_a_bulk():
    """Ten outliers 10, 9.9, ..., 9.1 above a bulk in [0, 1] and k = 1: a certificate run deflated against the top
    value alone meets the relative gap 0.01 (the a-a-priori bound needs about 200 steps at 1e-6; a plain run
    needs dozens); with the resolved outliers deflated too, the gap is 0.91 and a handful of steps suffice."""
    lam = np.concatenate([10 - 0.1 * np.arange(10), np.linspace(0, 1, 390)])
    A = symmetric_from_eigenvalues(lam, seed=3)
    r = lanczos(A, k=1, seed=0, max_iter=200)
    assert r.multiplicities_guaranteed
    assert r.eigenvalues[0].item() == pytest.approx(10.0, abs=1e-8)
    assert r.history["certification_steps"] <= 15, r.history
    assert math.isfinite(r.multiplicity_failure_probability)
