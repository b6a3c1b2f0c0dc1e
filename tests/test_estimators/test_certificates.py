"""The pieces of the multiplicity certificate (hessverify.estimators.certificates), each against an independent
ground truth: the distribution of a uniform unit vector's component (closed forms), the Lanczos polynomials
(dense determinants and eigenvalues), and the bound itself (a planted eigenvector the start barely sees)."""
import math

import numpy as np
import pytest
import torch

from hessverify.estimators import lanczos, lanczos_tridiagonal
from hessverify.estimators.certificates import (LanczosPolynomial, MissingEigenvalueTest, kuczynski_wozniakowski,
                                                start_component_probability)
from tests.spectra import symmetric_from_eigenvalues


@pytest.mark.parametrize("t", [1e-9, 1e-4, 0.3, 0.99])
def test_start_component_probability_closed_forms(t):
    """Uniform on the sphere: in R^3 the first coordinate is uniform on [-1, 1] (Archimedes), so P = t; in R^2
    it is cos(phi), so P = (2 / pi) arcsin(t); in R^1 it is +-1."""
    assert start_component_probability(3, t) == pytest.approx(t, rel=1e-12)
    assert start_component_probability(2, t) == pytest.approx(2 / math.pi * math.asin(t), rel=1e-12)
    assert start_component_probability(1, t) == 0.0
    # large n: sqrt(n) u^T q tends to N(0, 1), so P(|u^T q| <= t) ~ erf(t sqrt(n / 2))
    if t < 1e-3:
        assert start_component_probability(10**6, t) == pytest.approx(math.erf(t * math.sqrt(5e5)), rel=1e-3)


def test_start_component_probability_by_sampling():
    g = np.random.default_rng(0)
    q = g.standard_normal((200_000, 7))
    x = np.abs(q[:, 0]) / np.linalg.norm(q, axis=1)
    for t in (0.05, 0.2, 0.5):
        p = start_component_probability(7, t)
        assert abs(np.mean(x <= t) - p) < 4 * math.sqrt(p * (1 - p) / x.size)


def test_lanczos_polynomials_against_determinants():
    """``p_j(x) = det(x I - T_j) / (beta_1 ... beta_j)`` and its sign changes count the eigenvalues of ``T_m``
    above ``x`` (Sturm); for ``sign=-1``, those of ``-T_m``."""
    A = symmetric_from_eigenvalues(np.linspace(-2, 3, 50), seed=0)
    run = lanczos_tridiagonal(A, 12, seed=1)
    a, b = run.tridiagonal_coefficients()
    T = np.diag(a) + np.diag(b, 1) + np.diag(b, -1)
    for x in (3.1, 2.5, 0.0):
        for sign in (1.0, -1.0):
            poly = LanczosPolynomial(x, sign)
            for j in range(12):
                poly.update(run.alpha[j], run.beta[j - 1] if j else 0.0, run.beta[j])
                Tj = sign * T[: j + 1, : j + 1]
                expected = np.linalg.det(x * np.eye(j + 1) - Tj) / np.prod(run.beta[: j + 1])
                assert poly.current == pytest.approx(expected, rel=1e-9, abs=1e-12)
            assert poly.sign_changes == int((np.linalg.eigvalsh(sign * T) > x).sum())


def test_bound_holds_for_a_planted_eigenvector():
    """The deterministic heart of the certificate: a start whose component along the top eigenvector ``u`` (the
    eigenvalue 2, above ``x = 1.5``) is ``c`` gives Lanczos runs whose Ritz values stay below ``x`` for a while; at
    every such step the probability the test reports must be at least that of the event ``|u^T q_1| <= |c|``
    (equivalently its ``t >= |c|``), or the certificate could be issued with the eigenvalue missing."""
    lam = np.concatenate([[2.0], np.linspace(0, 1, 199)])
    Qm, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((200, 200)))
    A = torch.as_tensor((Qm * lam) @ Qm.T)
    A = (A + A.T) / 2
    u = torch.as_tensor(Qm[:, 0])
    for c in (1e-12, 1e-8, 1e-5):
        w = torch.as_tensor(np.random.default_rng(4).standard_normal(200))
        w = w - (u @ w) * u
        v0 = c * u + math.sqrt(1 - c * c) * w / torch.linalg.vector_norm(w)
        test = MissingEigenvalueTest("LA", kth=1.5, delta=1e-10, lock_tol=1e-11, n_free=200, eps=2.2e-16,
                            failure_probability=0.0)
        floor = start_component_probability(200, c)
        seen = []

        def stop(run, beta, test=test, floor=floor):
            test(run, beta)
            if test.probability < 1:
                seen.append(test.probability)
                assert test.probability >= floor, (run.m, test.probability, floor)
            return False

        lanczos_tridiagonal(A, 60, v0=v0, stop=stop)
        assert seen and min(seen) < 1e-2  # the bound was exercised, down to small probabilities


def test_kuczynski_wozniakowski_formula():
    assert kuczynski_wozniakowski(100, 0.01, 50) == pytest.approx(1.648 * 10 * math.exp(-0.1 * 99))
    assert kuczynski_wozniakowski(100, 0.0, 50) == 1.0 and kuczynski_wozniakowski(100, 0.5, 0) == 1.0


def test_a_wide_gap_certifies_in_few_steps_and_a_tiny_one_does_not_pretend():
    """Top-3 of a spectrum with a 50% gap below the third value: the certificate needs few steps. An eigenvalue
    1e-13 below the third (closer than rounding resolves) cannot be told apart: the answer still holds within its
    tolerance, and no bound is claimed that rounding would make unsafe."""
    lam = np.concatenate([[10.0, 9.0, 8.0], np.linspace(0, 4, 197)])
    A = symmetric_from_eigenvalues(lam, seed=0)
    r = lanczos(A, k=3, seed=0)
    assert r.multiplicities_guaranteed and r.history["certification_steps"] < 40
    close = symmetric_from_eigenvalues(np.concatenate([[10.0, 9.0, 8.0, 8.0 - 1e-13], np.linspace(0, 4, 196)]), seed=0)
    r = lanczos(close, k=3, seed=0)
    np.testing.assert_allclose(r.eigenvalues.numpy(), [10, 9, 8], atol=1e-9)
