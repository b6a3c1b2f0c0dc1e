"""The estimators on real curvature operators, against exact dense spectra."""
import numpy as np
import pytest
import torch

from hessverify.estimators import exact, hutchinson, hutchpp, lanczos, lobpcg, power_iteration, spectral_density
from hessverify.models import linear_network
from hessverify.operators import ggn, hessian


def _mlp():
    torch.manual_seed(0)
    model = linear_network((6, 8, 8, 3), activation="tanh", bias=True)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(40, 6, generator=g, dtype=torch.float64)
    labels = torch.randint(3, (40,), generator=g)
    return model, X, labels


@pytest.fixture(scope="module")
def mlp_hessian():
    model, X, labels = _mlp()
    H = hessian(model, "cross_entropy", X, labels)
    return H, torch.linalg.eigvalsh(H.dense()).flip(0).numpy()


def test_exact_recovers_a_spectrum_known_by_construction():
    """``A = Q diag(lambda) Q^T`` held exactly in float64: ``Q = I - v v^T / 256`` is a Householder reflection for
    a +-1 vector ``v`` of length 512 and ``lambda`` are multiples of 1/8 (a triple, a double and a quadruple value,
    zeros, negative values, and many more repeats), so every entry of ``A`` is a dyadic rational computed exactly in
    integers. Then each returned eigenvalue lies within its certified residual of the chosen one, with no
    allowance, and every multiplicity is counted exactly; dense, and through products (512 columns cross the
    256-column blocks a matrix-free operator is materialised in)."""
    n = 512
    rng = np.random.default_rng(0)
    lam8 = np.concatenate([[24] * 3, [20], [8] * 2, [0] * 4, [-4], [-16] * 3,
                           rng.integers(-12, 12, n - 14)]).astype(np.int64)  # 8 * lambda
    v = rng.choice([-1, 1], n).astype(np.int64)
    # 8 * 256^2 * A = 256^2 L8 - 256 (L8 v v^T + v v^T L8) + (v^T L8 v) v v^T, with L8 = diag(8 lambda): integers
    vv = np.outer(v, v)
    A_int = 256**2 * np.diag(lam8) - 256 * (lam8[:, None] * vv + vv * lam8[None, :]) + int(v @ (lam8 * v)) * vv
    assert np.abs(A_int).max() < 2**53  # exact in float64, and the division by a power of two below is exact too
    A = torch.as_tensor(A_int.astype(np.float64) / (8 * 256**2))
    assert torch.equal(A, A.T)
    lam = lam8 / 8.0
    truth = np.sort(lam)[::-1]
    for op in (A, _MatrixFree(A)):
        for vectors in (False, True):
            r = exact(op, return_eigenvectors=vectors)
            got = r.eigenvalues.numpy()
            assert np.all(np.abs(got - truth) <= r.residuals.numpy()), (vectors, np.abs(got - truth).max())
            assert float(r.residuals.max()) < 1e-10 * 3.0 and r.multiplicities_guaranteed
            for value in np.unique(lam):  # every multiplicity, exactly
                assert int((np.abs(got - value) < 1e-9).sum()) == int((lam == value).sum()), value


class _MatrixFree:
    """A symmetric matrix seen only through ``matvec`` (what a curvature operator offers)."""

    def __init__(self, A: torch.Tensor):
        self.shape, self.dtype, self._A = tuple(A.shape), A.dtype, A

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self._A @ v


def test_exact_on_a_hessian_matches_an_independent_autograd_hessian(mlp_hessian):
    """The reference is built without the operator: ``torch.autograd.functional.hessian`` of the loss in the flat
    parameters (tests/reference.py), its eigenvalues by numpy's LAPACK."""
    from tests.reference import dense_hessian

    model, X, labels = _mlp()
    Href = dense_hessian(model, "cross_entropy", X, labels).numpy()
    truth = np.sort(np.linalg.eigvalsh((Href + Href.T) / 2))[::-1]
    H, _ = mlp_hessian
    r = exact(H, return_eigenvectors=True)
    scale = np.abs(truth).max()
    np.testing.assert_allclose(r.eigenvalues.numpy(), truth, atol=1e-12 * scale)
    assert np.all(np.abs(r.eigenvalues.numpy() - truth) <= r.residuals.numpy() + 1e-13 * scale)
    assert float(r.residuals.max()) < 1e-10 * scale


def test_exact_refuses_too_large():
    with pytest.raises(ValueError, match="max_bytes"):
        exact(torch.eye(100, dtype=torch.float64), max_bytes=1000)


@pytest.mark.parametrize("which", ["LA", "SA", "LM"])
def test_lanczos_on_hessian(mlp_hessian, which):
    H, truth = mlp_hessian
    r = lanczos(H, k=5, which=which, seed=0)
    expect = {"LA": truth[:5], "SA": truth[::-1][:5], "LM": truth[np.argsort(-np.abs(truth), kind="stable")][:5]}
    np.testing.assert_allclose(r.eigenvalues.numpy(), expect[which], atol=1e-8 * np.abs(truth).max())


def test_lobpcg_and_power_on_hessian(mlp_hessian):
    H, truth = mlp_hessian
    np.testing.assert_allclose(lobpcg(H, k=4, seed=0).eigenvalues.numpy(), truth[:4], atol=1e-8 * truth[0])
    top = truth[np.argmax(np.abs(truth))]
    assert abs(float(power_iteration(H, k=1, seed=0, max_iter=5000).eigenvalues[0]) - top) < 1e-7 * abs(top)


def test_traces_and_density_on_ggn(mlp_hessian):
    H, _ = mlp_hessian
    G = ggn(H.fm.model, "cross_entropy", *H.data._tensors)
    tr = float(torch.trace(G.dense()))
    for r in (hutchinson(G, 400, seed=0), hutchpp(G, 150, seed=0)):
        lo, hi = r.ci(0.999)
        assert lo <= tr <= hi
    d = spectral_density(G, num_iter=40, num_vectors=3, seed=0)
    assert abs(np.trapezoid(d.density.numpy(), d.grid.numpy()) - 1) < 1e-3
