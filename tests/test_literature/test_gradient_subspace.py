"""The overlap with a top eigenspace and its Davis-Kahan bound (hessverify.literature.gradient_subspace) on
matrices with known eigenvectors."""
import numpy as np
import pytest
import torch

from hessverify.estimators import lanczos
from hessverify.literature.gradient_subspace import Overlap, top_subspace_overlap


def known(seed=0, d=200, k=3):
    rng = np.random.default_rng(seed)
    spectrum = np.concatenate([[30.0, 25.0, 20.0], rng.uniform(0, 5, d - 3)])
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return torch.as_tensor(Q @ np.diag(spectrum) @ Q.T), torch.as_tensor(Q), rng


def test_overlap_of_a_known_combination():
    A, Q, rng = known()
    coef = rng.standard_normal(200)
    coef[:3] *= 2.0
    g = Q @ torch.as_tensor(coef)
    truth = float((coef[:3] ** 2).sum() / (coef**2).sum())
    o = top_subspace_overlap(lanczos(A, k=4, seed=0, tol=1e-10, return_eigenvectors=True), g, 3)
    assert abs(o.value - truth) <= max(o.bound, 1e-12) and o.bound < 1e-6


def test_bound_covers_a_loosely_converged_subspace():
    """At tol 1e-2 the Ritz vectors are off by about residual / gap; the true overlap stays within the bound."""
    A, Q, rng = known(1)
    for trial in range(5):
        coef = rng.standard_normal(200)
        g = Q @ torch.as_tensor(coef)
        truth = float((coef[:3] ** 2).sum() / (coef**2).sum())
        o = top_subspace_overlap(lanczos(A, k=4, seed=trial, tol=1e-2, return_eigenvectors=True), g, 3)
        assert abs(o.value - truth) <= o.bound


def test_uncertified_subspace_gets_no_bound():
    A, Q, _ = known()
    r = lanczos(A, k=4, seed=0, tol=1e-10, return_eigenvectors=True, certify_multiplicities=False)
    o = top_subspace_overlap(r, Q[:, 0], 3)
    assert o.bound == 1.0 and o.status(0.5) == "unresolved"


def test_status():
    assert Overlap(0.9, 0.01, 0.1, 1e-7).status(0.5) == "in"
    assert Overlap(0.2, 0.01, 0.1, 1e-7).status(0.5) == "out"
    assert Overlap(0.5, 0.01, 0.1, 1e-7).status(0.5) == "unresolved"


def test_bad_input():
    A, Q, _ = known()
    r = lanczos(A, k=2, seed=0, return_eigenvectors=True)
    with pytest.raises(ValueError, match="k \\+ 1"):
        top_subspace_overlap(r, Q[:, 0], 3)
    with pytest.raises(ValueError, match="zero"):
        top_subspace_overlap(lanczos(A, k=4, seed=0, return_eigenvectors=True), torch.zeros(200, dtype=torch.float64), 3)


def test_bound_is_met_by_the_worst_gradient():
    """Ritz vector q1 = cos(phi) u1 + sin(phi) u4 (u the true eigenvectors): ||P - Q Q^T||_2 = sin(phi), attained
    by a gradient along that matrix's top eigenvector, so the overlap error is exactly sin(phi); the bound must
    cover it (a bound of residual / theta_1 would not: 8.3e-4 < 1e-3)."""
    from hessverify.estimators.result import SpectralResult

    rng = np.random.default_rng(3)
    d, phi = 50, 1e-3
    lam = np.concatenate([[30.0, 25.0, 20.0, 5.0], rng.uniform(0, 4, d - 4)])
    U, _ = np.linalg.qr(rng.standard_normal((d, d)))
    A = U @ np.diag(lam) @ U.T
    c, s = np.cos(phi), np.sin(phi)
    Q = U[:, :4].copy()
    Q[:, 0], Q[:, 3] = c * U[:, 0] + s * U[:, 3], -s * U[:, 0] + c * U[:, 3]
    theta = np.einsum("ij,ij->j", Q, A @ Q)
    res = np.linalg.norm(A @ Q - Q * theta, axis=0)
    result = SpectralResult(eigenvalues=torch.as_tensor(theta), residuals=torch.as_tensor(res), num_matvecs=0,
                            converged=torch.ones(4, dtype=torch.bool), method="constructed",
                            eigenvectors=torch.as_tensor(Q), multiplicity_failure_probability=1e-9,
                            multiplicities_guaranteed=True)
    P = U[:, :3] @ U[:, :3].T
    D = P - Q[:, :3] @ Q[:, :3].T
    w, V = np.linalg.eigh(D)
    g = V[:, np.argmax(np.abs(w))]
    o = top_subspace_overlap(result, torch.as_tensor(g), 3)
    error = abs(o.value - float(g @ P @ g))
    assert error == pytest.approx(s, rel=1e-6)
    assert error <= o.bound < 2 * s
