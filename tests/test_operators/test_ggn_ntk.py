import numpy as np
import pytest
import scipy.sparse.linalg as sla
import torch

from hessverify.data import whiten
from hessverify.models import balanced_weights, linear_network
from hessverify.operators import ggn, hessian, ntk
from tests.reference import dense_ggn, dense_jacobian, rel_err
from tests.test_operators.conftest import targets


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_ggn_matches_autograd(tanh_problem, loss):
    model, X = tanh_problem[0], tanh_problem[1]
    Y = targets(tanh_problem, loss)
    ref = dense_ggn(model, loss, X, Y)
    op = ggn(model, loss, X, Y)
    G = op.dense()
    assert rel_err(G, ref) < 1e-10
    assert rel_err(G, G.T) < 1e-12
    v = torch.randn(op.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert float((op.matvec(v) - ref @ v).norm() / (ref @ v).norm()) < 1e-10
    assert rel_err(ggn(model, loss, X, Y, batch_size=2).dense(), ref) < 1e-10


def test_ntk_matches_autograd(tanh_problem):
    model, X = tanh_problem[0], tanh_problem[1]
    J = dense_jacobian(model, X)
    ref = J @ J.T / X.shape[0]
    op = ntk(model, X)
    assert op.shape == ref.shape
    assert rel_err(op.dense(), ref) < 1e-10
    eye = torch.eye(op.shape[0], dtype=torch.float64)
    assert rel_err(op.matmat(eye), ref) < 1e-10


def test_ntk_and_ggn_share_nonzero_eigenvalues(tanh_problem):
    model, X, Y, _ = tanh_problem
    k = torch.linalg.eigvalsh(ntk(model, X).dense()).flip(0)
    g = torch.linalg.eigvalsh(ggn(model, "mse", X, Y).dense()).flip(0)
    m = min(len(k), len(g))
    assert torch.allclose(k[:m], g[:m], atol=1e-12 * float(g[0]))
    assert float(g[m:].abs().max()) < 1e-12 * float(g[0]) if len(g) > m else True


def test_ggn_equals_hessian_for_linear_network_at_zero_loss():
    """003 eq (3) is exact when the residual vanishes: Y = f(X)."""
    g = torch.Generator().manual_seed(0)
    widths = (4, 5, 3, 2)
    w = balanced_weights(widths, torch.rand(2, generator=g, dtype=torch.float64) + 0.5, generator=g)
    model = linear_network(widths, weights=w)
    X = whiten(torch.randn(10, 4, generator=g, dtype=torch.float64), 1.5)
    with torch.no_grad():
        Y = model(X)
    assert rel_err(ggn(model, "mse", X, Y).dense(), hessian(model, "mse", X, Y).dense()) < 1e-12
    Y_off = Y + 0.3  # non-zero loss: the second-order term appears
    assert rel_err(ggn(model, "mse", X, Y_off).dense(), hessian(model, "mse", X, Y_off).dense()) > 1e-3


def test_to_scipy_linear_operator(tanh_problem):
    model, X, Y, _ = tanh_problem
    op = hessian(model, "mse", X, Y)
    lo = op.to_scipy()
    assert isinstance(lo, sla.LinearOperator) and lo.shape == op.shape
    dense = op.dense().numpy()
    x = np.random.default_rng(0).standard_normal(op.shape[0])
    np.testing.assert_allclose(lo @ x, dense @ x, rtol=1e-10, atol=1e-14)
    top = sla.eigsh(lo, k=2, which="LA", return_eigenvectors=False)
    np.testing.assert_allclose(np.sort(top), np.linalg.eigvalsh(dense)[-2:], rtol=1e-8)
    Xm = np.random.default_rng(1).standard_normal((op.shape[0], 3))
    np.testing.assert_allclose(lo.matmat(Xm), dense @ Xm, rtol=1e-10, atol=1e-14)
