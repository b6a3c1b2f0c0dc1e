"""The estimators on real curvature operators, against exact dense spectra."""
import numpy as np
import pytest
import torch

from hessverify.estimators import exact, hutchinson, hutchpp, lanczos, lobpcg, power_iteration, spectral_density
from hessverify.models import linear_network
from hessverify.operators import ggn, hessian


@pytest.fixture(scope="module")
def mlp_hessian():
    torch.manual_seed(0)
    model = linear_network((6, 8, 8, 3), activation="tanh", bias=True)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(40, 6, generator=g, dtype=torch.float64)
    labels = torch.randint(3, (40,), generator=g)
    H = hessian(model, "cross_entropy", X, labels)
    return H, torch.linalg.eigvalsh(H.dense()).flip(0).numpy()


def test_exact_matches_eigvalsh_and_certifies(mlp_hessian):
    H, truth = mlp_hessian
    r = exact(H, return_eigenvectors=True)
    np.testing.assert_allclose(r.eigenvalues.numpy(), truth, atol=1e-12 * np.abs(truth).max())
    assert float(r.residuals.max()) < 1e-10 * np.abs(truth).max()


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
