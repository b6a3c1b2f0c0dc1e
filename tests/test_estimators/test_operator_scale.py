"""Operators whose scale leaves the safe range are refused, never answered wrongly (the third review's finding:
at 1e-170 in float64 and 1e-25 in float32, Lanczos norms underflowed to 0, every step read as a breakdown, and
``lanczos`` certified Rayleigh quotients of random vectors with residuals 0 and failure probability 0; at 1e150
the tridiagonal eigensolver returned NaN and the error blamed ``v0``). Inside the range, near both edges, a
certified answer is compared with dense ``eigvalsh``."""
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla
import torch

from hessverify.estimators import block_lanczos, exact, hutchinson, lanczos, lobpcg, spectral_density
from hessverify.estimators._operator import safe_scale_range

SPECTRUM = np.array([3.0, 2.0, 1.0, 0.5, 0.25, 0.0])


def matrix(scale: float, n: int = 6, dtype=torch.float64) -> torch.Tensor:
    lam = np.concatenate([SPECTRUM, np.linspace(-0.9, 0.2, n - 6)]) if n > 6 else SPECTRUM
    Q = np.linalg.qr(np.random.default_rng(0).standard_normal((n, n)))[0]
    A = (Q * (lam * scale)) @ Q.T
    return torch.tensor((A + A.T) / 2, dtype=dtype)


class MatrixFree:
    """Only ``shape``, ``dtype`` and ``matvec``: no entries to inspect."""

    def __init__(self, A: torch.Tensor):
        self.A, self.shape, self.dtype = A, tuple(A.shape), A.dtype

    def matvec(self, v):
        return self.A @ v


def test_the_safe_range():
    lo, hi = safe_scale_range(torch.float64, 10)
    assert 1e-140 < lo < 1e-137 and 1e137 < hi < 1e140
    lo32, hi32 = safe_scale_range(torch.float32, 10)
    assert 1e-19 < lo32 < 1e-16 and 1e16 < hi32 < 1e18
    assert safe_scale_range(torch.float32, 10**8)[1] < hi32  # long vectors: their norms must stay finite


@pytest.mark.parametrize("scale,dtype", [(1e-170, torch.float64), (1e-200, torch.float64), (1e-300, torch.float64),
                                         (1e150, torch.float64), (1e-25, torch.float32), (1e-21, torch.float32)])
@pytest.mark.parametrize("form", ["dense", "matrix-free", "LinearOperator", "sparse"])
def test_out_of_range_is_refused_by_every_estimator(scale, dtype, form):
    A = matrix(scale, dtype=dtype)
    if form == "sparse" and dtype != torch.float64:
        pytest.skip("scipy sparse input is float64")
    op = {"dense": lambda: A, "matrix-free": lambda: MatrixFree(A),
          "LinearOperator": lambda: sla.aslinearoperator(A.double().numpy()),
          "sparse": lambda: sp.csr_matrix(A.numpy())}[form]()
    if form == "LinearOperator" and dtype != torch.float64:
        pytest.skip("a LinearOperator is float64 here")
    for run in (lambda: lanczos(op, k=2, seed=0, check_symmetry=False),
                lambda: lanczos(op, k=2, seed=0, which="LM"),
                lambda: block_lanczos(op, k=2, seed=0, check_symmetry=False),
                lambda: exact(op),
                lambda: hutchinson(op, 4, seed=0, check_symmetry=False)):
        with pytest.raises(ValueError, match=r"op .*rescale op by a power of two"):
            run()


@pytest.mark.parametrize("which", ["LA", "LM", "SA"])
@pytest.mark.parametrize("edge", ["low", "high"])
@pytest.mark.parametrize("form", ["dense", "matrix-free"])
def test_inside_the_range_near_its_edges_a_certified_answer_is_right(which, edge, form):
    lo, hi = safe_scale_range(torch.float64, 80)
    scale = lo * 4 if edge == "low" else hi / 64
    A = matrix(scale, n=80)
    op = A if form == "dense" else MatrixFree(A)
    r = lanczos(op, k=3, which=which, seed=1)
    truth = np.linalg.eigvalsh(A.numpy())
    order = {"LA": np.argsort(-truth), "SA": np.argsort(truth), "LM": np.argsort(-np.abs(truth))}[which]
    assert r.multiplicities_guaranteed and bool(r.converged.all())
    assert (r.residuals > 0).all(), r.residuals  # an underflowed residual would read 0
    allowed = r.residuals.numpy() + r.tol * np.abs(truth).max()
    assert np.all(np.abs(r.eigenvalues.numpy() - truth[order[:3]]) <= allowed), (r.eigenvalues / scale,
                                                                              truth[order[:3]] / scale)


def test_the_advice_of_the_error_works():
    """The error's fix, followed: a matrix at 1e-170 as ``LinearOperator * 2**k``, and a curvature operator of that
    scale as ``op.to_scipy() * 2**k``, give the right values once divided by ``2**k``."""
    A = matrix(1e-170, n=40)
    k = 2.0**560
    r = lanczos(sla.aslinearoperator(A.numpy()) * k, k=2, seed=0)
    truth = np.sort(np.linalg.eigvalsh(A.numpy()))[::-1][:2]
    assert r.multiplicities_guaranteed
    np.testing.assert_allclose(r.eigenvalues.numpy() / k, truth, rtol=1e-9)

    from hessverify.operators import hessian
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2, bias=False).double()
    X, Y = torch.randn(8, 3, dtype=torch.float64) * 1e-80, torch.zeros(8, 2, dtype=torch.float64)
    H = hessian(model, "mse", X, Y)
    with pytest.raises(ValueError, match=r"op.to_scipy\(\) \* 2\*\*k"):
        lanczos(H, k=1, seed=0)
    r = lanczos(H.to_scipy() * k, k=2, seed=0)
    # "mse" is (1/(2n)) ||f - Y||^2; for a linear layer H = (X^T X / n) (x) I_2, so its top value is doubled
    Xs = X.numpy() * 1e80
    top = np.linalg.eigvalsh(Xs.T @ Xs / 8)[-1] * 1e-160
    assert r.multiplicities_guaranteed
    np.testing.assert_allclose(r.eigenvalues.numpy() / k, [top, top], rtol=1e-9)


# ---- the fourth review's cases (inside the range) ---------------------------------------------------------------


def _spectrum_with_a_pair(dtype, scale):
    g = np.random.default_rng(0)
    Q, _ = np.linalg.qr(g.standard_normal((100, 100)))
    lam = np.r_[5.0, 4.9, 4.9, 3.0, g.uniform(-1, 1, 96)]
    A = (Q * lam) @ Q.T
    return torch.tensor((A + A.T) / 2, dtype=dtype) * scale, lam


@pytest.mark.parametrize("dtype,scale", [(torch.float32, 2.0**-40), (torch.float64, 2.0**-60), (torch.float64, 1.0)])
def test_lobpcg_has_no_spurious_ritz_values(dtype, scale):
    """LOBPCG's SVQB kept directions at eps of a block that mixed unit columns with tiny residuals and amplified
    their rounding by 1/sqrt(eps): Ritz values far outside the spectrum (3.5e17 for a top of 5), which then
    served as ``||A||`` and passed residuals 1e8 times too large as converged (4.209 certified for 5.0)."""
    A, lam = _spectrum_with_a_pair(dtype, scale)
    r = lobpcg(A, k=3, seed=1)
    truth = np.sort(lam)[::-1][:3] * scale
    seen = torch.stack(r.history["ritz_values"]).abs().max().item()
    assert seen <= 5.0 * scale * (1 + 1e-3), seen / scale
    if r.multiplicities_guaranteed:
        allowed = r.residuals.double().numpy() + r.tol * 5.0 * scale
        assert np.all(np.abs(r.eigenvalues.double().numpy() - truth) <= allowed), (r.eigenvalues / scale, truth)


def test_lobpcg_on_a_ggn_with_triples():
    """The review's scale-1 case: the GGN of a bias-free linear layer (eigenvalues in triples), top 4."""
    from hessverify.operators import ggn

    torch.manual_seed(0)
    model = torch.nn.Linear(40, 3, bias=False).double()
    X = (torch.randn(200, 40) * torch.linspace(0.5, 2, 40)).double()
    G = ggn(model, "mse", X, torch.randn(200, 3).double())
    # the GGN of "mse" (1/(2n) ||XW^T - Y||^2) is (X^T X / n) (x) I_3, eigenvalues of X^T X / n three times each
    top = np.sort(np.linalg.eigvalsh((X.T @ X / 200).numpy()))[::-1]
    truth = np.repeat(top, 3)[:4]
    r = lobpcg(G, k=4, seed=0)
    assert r.converged.all() and not r.multiplicities_guaranteed  # LOBPCG certifies nothing; the values must hold
    assert np.all(np.abs(r.eigenvalues.numpy() - truth) <= r.residuals.numpy() + r.tol * top[0])


def test_a_zero_returned_vector_certifies_nothing():
    """``power_iteration`` in float32 once normalised by an overflowed norm and returned 0 with residual 0,
    converged; the shared tail now gives a zero vector an infinite residual."""
    from hessverify.estimators._operator import SymmetricOperator
    from hessverify.estimators.result import finish_spectral

    A = SymmetricOperator(torch.eye(4, dtype=torch.float64) * 2)
    r = finish_spectral(A, [0.0, 2.0], [torch.zeros(4, dtype=torch.float64), torch.eye(4, dtype=torch.float64)[0]],
                        which="LA", tol=1e-10, norm_est=0.0, method="test", iterations=1, history={}, notes=[],
                        matvecs_before=0, return_eigenvectors=False, multiplicities_guaranteed=True)
    assert r.converged.tolist() == [True, False] and r.residuals[1] == float("inf")
    assert not r.multiplicities_guaranteed


@pytest.mark.parametrize("scale", [1e-11, 1e-13, 1e-20, 1e-100])
def test_spectral_density_does_not_depend_on_the_scale(scale):
    """An absolute floor in the range's margin widened a 1e-13-scale spectrum 20-fold and lost it at 1e-20."""
    A = torch.diag(torch.linspace(1, 2, 200, dtype=torch.float64))
    one = spectral_density(A, num_iter=30, num_vectors=2, seed=0, grid=64)
    r = spectral_density(A * scale, num_iter=30, num_vectors=2, seed=0, grid=64)
    np.testing.assert_allclose(np.asarray(r.lambda_range) / scale, np.asarray(one.lambda_range), rtol=1e-9)
    np.testing.assert_allclose(r.density.numpy() * scale, one.density.numpy(), rtol=1e-6, atol=1e-9)


def test_a_start_vector_cannot_hide_a_huge_direction():
    """``v0`` along a unit direction of a diagonal operator with one entry 1e160: the first product's gain is 1,
    the second meets 1e160 (it crashed 18 frames deep in scipy with the scale check on the first product only)."""
    d = torch.linspace(1, 2, 50, dtype=torch.float64)
    d[0] = 1e160

    class Diag:
        shape, dtype = (50, 50), torch.float64

        def matvec(self, v):
            return d * v

    v0 = torch.zeros(50, dtype=torch.float64)
    v0[1] = 1
    with pytest.raises(ValueError, match="op has products of size"):
        lanczos(Diag(), k=2, v0=v0, seed=0, check_symmetry=False)
