"""Operators and estimators on CUDA: same answers as the dense float64 CPU ground truth, and Lanczos runs
without host round-trips between its convergence checks. Skipped where no GPU is visible (CI); run on a GPU
machine with ``pytest tests/test_cuda.py``."""
import warnings

import numpy as np
import pytest
import torch

from hessverify.estimators import (exact, hutchinson, hutchpp, lanczos, lanczos_ritz, lobpcg, power_iteration,
                                   spectral_density, subspace_iteration)
from hessverify.operators import cuda_graphed, ggn, hessian, ntk
from tests.reference import dense_ggn, dense_hessian

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")


def _problem(device):
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)  # the layers' default initialisation
    model = torch.nn.Sequential(torch.nn.Linear(6, 9), torch.nn.Tanh(), torch.nn.Linear(9, 3)).double()
    X = torch.randn(40, 6, generator=g, dtype=torch.float64)
    Y = torch.randn(40, 3, generator=g, dtype=torch.float64)
    return model.to(device), X.to(device), Y.to(device)


@pytest.fixture(scope="module")
def truth():
    model, X, Y = _problem("cpu")
    H = dense_hessian(model, "mse", X, Y)
    return {"H": H, "G": dense_ggn(model, "mse", X, Y), "eig": torch.linalg.eigvalsh(H).flip(0).numpy()}


@pytest.mark.parametrize("backend", ["double_backward", "jvp"])
def test_operators_match_cpu_dense(truth, backend):
    model, X, Y = _problem(CUDA)
    V = torch.randn(truth["H"].shape[0], 5, dtype=torch.float64)
    H = hessian(model, "mse", X, Y, backend=backend)
    assert H.device.type == "cuda"
    np.testing.assert_allclose(H.matmat(V.to(CUDA)).cpu().numpy(), (truth["H"] @ V).numpy(), rtol=0, atol=1e-12)
    G = ggn(model, "mse", X, Y)
    np.testing.assert_allclose(G.matmat(V.to(CUDA)).cpu().numpy(), (truth["G"] @ V).numpy(), rtol=0, atol=1e-12)
    K = ntk(model, X)
    assert K.dense().device.type == "cuda"


def test_estimators_match_eigvalsh(truth):
    model, X, Y = _problem(CUDA)
    H = hessian(model, "mse", X, Y)
    lam = truth["eig"]
    scale = abs(lam).max()
    np.testing.assert_allclose(exact(H).eigenvalues.cpu().numpy(), lam, atol=1e-12 * scale)
    for r in (lanczos(H, k=4, seed=0), lobpcg(H, k=4, seed=0), subspace_iteration(H, k=2, seed=0, max_iter=3000)):
        assert r.eigenvalues.device.type == "cuda"
        np.testing.assert_allclose(r.eigenvalues.cpu().numpy(), lam[: len(r.eigenvalues)], atol=1e-8 * scale)
    top = power_iteration(H, k=1, seed=0, max_iter=5000)
    assert abs(float(top.eigenvalues[0]) - lam[0]) <= 1e-6 * scale
    np.testing.assert_allclose(lanczos_ritz(H, seed=0).eigenvalues.cpu().numpy(), lam, atol=1e-9 * scale)
    trace = float(torch.trace(truth["H"]))
    for t in (hutchinson(H, 400, seed=0), hutchpp(H, 120, seed=0)):
        lo, hi = t.ci(0.999)
        assert lo <= trace <= hi
    density = spectral_density(H, num_iter=30, num_vectors=4, seed=0)
    assert abs(np.trapezoid(density.density.cpu().numpy(), density.grid.cpu().numpy()) - 1) < 1e-3


def test_lanczos_syncs_once_per_chunk():
    """``torch.cuda`` reports every host synchronisation; a 60-step run checked every 10 steps has about 6
    (plus the few at the start and the end), not one or more per step."""
    n = 2000
    lam = torch.linspace(0, 1, n, dtype=torch.float64, device=CUDA)
    Qm, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, device=CUDA))
    A = (Qm * lam) @ Qm.T
    A = (A + A.T) / 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            lanczos_ritz(A, num_iter=60, seed=0, check_symmetry=False)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message).lower()]
    assert len(syncs) <= 6 + 10, f"{len(syncs)} host synchronisations for 60 steps"


def test_cuda_graphed_hessian_replays_the_same_product(truth):
    model, X, Y = _problem(CUDA)
    H = cuda_graphed(hessian(model, "mse", X, Y))
    V = torch.randn(truth["H"].shape[0], 3, dtype=torch.float64)
    np.testing.assert_allclose(H.matmat(V.to(CUDA)).cpu().numpy(), (truth["H"] @ V).numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(lanczos(H, k=3, seed=0).eigenvalues.cpu().numpy(), truth["eig"][:3],
                               atol=1e-8 * abs(truth["eig"]).max())
    with pytest.raises(ValueError, match="one batch"):
        cuda_graphed(hessian(model, "mse", X, Y, batch_size=10))


def test_compiled_jvp_hessian_matches_cpu_dense(truth):
    """``compile=True`` (inductor on CUDA) gives the same products as the dense float64 CPU Hessian."""
    model, X, Y = _problem(CUDA)
    H = hessian(model, "mse", X, Y, backend="jvp", compile=True)
    V = torch.randn(truth["H"].shape[0], 3, dtype=torch.float64)
    np.testing.assert_allclose(H.matmat(V.to(CUDA)).cpu().numpy(), (truth["H"] @ V).numpy(), rtol=0, atol=1e-12)
