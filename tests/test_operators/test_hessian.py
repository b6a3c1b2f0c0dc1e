import pytest
import torch

from hessverify.models import linear_network
from hessverify.operators import BACKENDS, hessian
from tests.reference import dense_hessian, rel_err
from tests.test_operators.conftest import targets

# Exact backends agree with autograd to a few ulps times the size; finite differences to O(eps^(2/3)).
TOL = {"double_backward": 1e-10, "jvp": 1e-10, "finite_difference": 1e-5}


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_dense_and_matvec_match_autograd(tanh_problem, loss, backend):
    model, X = tanh_problem[0], tanh_problem[1]
    Y = targets(tanh_problem, loss)
    H_ref = dense_hessian(model, loss, X, Y)
    op = hessian(model, loss, X, Y, backend=backend)
    assert op.shape == H_ref.shape and op.dtype == torch.float64
    assert rel_err(op.dense(), H_ref) < TOL[backend]
    v = torch.randn(op.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    assert float((op.matvec(v) - H_ref @ v).norm() / (H_ref @ v).norm()) < TOL[backend]


@pytest.mark.parametrize("backend", BACKENDS)
def test_symmetric(tanh_problem, backend):
    model, X, Y, _ = tanh_problem
    H = hessian(model, "mse", X, Y, backend=backend).dense()
    assert rel_err(H, H.T) < TOL[backend]


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_backends_agree(tanh_problem, loss):
    model, X = tanh_problem[0], tanh_problem[1]
    Y = targets(tanh_problem, loss)
    V = torch.randn(sum(p.numel() for p in model.parameters()), 4, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(1))
    out = {b: hessian(model, loss, X, Y, backend=b).matmat(V) for b in BACKENDS}
    assert rel_err(out["jvp"], out["double_backward"]) < 1e-12
    assert rel_err(out["finite_difference"], out["double_backward"]) < 1e-6


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_accumulation_equals_one_pass(tanh_problem, backend):
    model, X, Y, _ = tanh_problem
    one = hessian(model, "mse", X, Y, backend=backend).dense()
    chunked = hessian(model, "mse", X, Y, backend=backend, batch_size=4).dense()
    pairs = [(X[i : i + 2], Y[i : i + 2]) for i in range(0, X.shape[0], 2)]
    loader = hessian(model, "mse", pairs, backend=backend).dense()
    tol = TOL[backend] if backend != "finite_difference" else 1e-6
    assert rel_err(chunked, one) < tol
    assert rel_err(loader, one) < tol


def test_dataloader_source(tanh_problem):
    model, X, _, labels = tanh_problem
    ds = torch.utils.data.TensorDataset(X, labels)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, shuffle=False)
    ref = dense_hessian(model, "cross_entropy", X, labels)
    assert rel_err(hessian(model, "cross_entropy", loader).dense(), ref) < 1e-10


def test_subset_is_the_hessian_of_the_subset(tanh_problem):
    model, X, Y, _ = tanh_problem
    ref = dense_hessian(model, "mse", X[:5], Y[:5])
    assert rel_err(hessian(model, "mse", X[:5], Y[:5]).dense(), ref) < 1e-10


def test_callable_loss_matches_named(tanh_problem):
    model, X, Y, _ = tanh_problem
    own = hessian(model, lambda out, y: 0.5 * ((out - y) ** 2).sum(1).mean(), X, Y).dense()
    assert rel_err(own, dense_hessian(model, "mse", X, Y)) < 1e-10


def test_float32_runs_with_float32_accuracy():
    torch.manual_seed(0)
    model = linear_network((3, 4, 2), activation="tanh", bias=True, dtype=torch.float32)
    X, Y = torch.randn(6, 3), torch.randn(6, 2)
    op = hessian(model, "mse", X, Y)
    assert op.dtype == torch.float32
    ref = dense_hessian(model.double(), "mse", X.double(), Y.double())
    assert rel_err(op.dense().double(), ref) < 1e3 * torch.finfo(torch.float32).eps


def test_snapshot_of_parameters(tanh_problem):
    """The operator is the Hessian at construction time; later changes to the model do not leak in."""
    model, X, Y, _ = tanh_problem
    op = hessian(model, "mse", X, Y)
    before = op.dense()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    assert rel_err(op.dense(), before) == 0.0


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_compiled_jvp_matches_autograd(tanh_problem, loss):
    """``compile`` traces the jvp product with torch.compile; the ``aot_eager`` backend needs no C compiler
    (CUDA with inductor is covered in test_cuda.py). Uneven batches trace one program per batch shape."""
    model, X = tanh_problem[0], tanh_problem[1]
    Y = targets(tanh_problem, loss)
    H_ref = dense_hessian(model, loss, X, Y)
    op = hessian(model, loss, X, Y, backend="jvp", compile="aot_eager", batch_size=5)
    V = torch.randn(op.shape[0], 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    assert rel_err(op.matmat(V), H_ref @ V) < TOL["jvp"]
