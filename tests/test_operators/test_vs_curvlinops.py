"""Side by side with curvlinops (skipped where it is not installed; ``nox -s crosscheck`` and ``nox -s bench``
install it): Hessian, GGN and empirical Fisher of three models written outside hessverify, in float64, batched
through a DataLoader."""
import pytest
import torch
from torch import nn

from hessverify.operators import empirical_fisher, fisher, ggn, hessian
from tests.reference import rel_err
from tests.test_operators.conftest import peer
from tests.test_operators.test_real_models import BNNet, FrozenTied

curvlinops = peer("curvlinops")


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 3, 3), nn.Linear(3 * 4 * 4, 4)

    def forward(self, x):
        return self.fc(torch.tanh(self.conv(x)).flatten(1))


def _models():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(3)
    bn = BNNet().double()
    bn.train()
    bn(torch.randn(20, 4, dtype=torch.float64, generator=g))
    bn.eval()
    return [("frozen_tied", FrozenTied(), torch.randn(12, 4, dtype=torch.float64, generator=g), 3),
            ("batchnorm_eval", bn, torch.randn(12, 4, dtype=torch.float64, generator=g), 2),
            ("cnn", SmallCNN().double(), torch.randn(12, 1, 6, 6, dtype=torch.float64, generator=g), 4)]


def _dense(op, d):
    out = op @ torch.eye(d, dtype=torch.float64)
    return torch.as_tensor(out)


@pytest.mark.parametrize("name, model, X, C", _models(), ids=lambda v: v if isinstance(v, str) else "")
def test_hessian_and_ggn_match_curvlinops(name, model, X, C):
    labels = torch.arange(X.shape[0]) % C
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, labels), batch_size=5)
    params = [p for p in model.parameters() if p.requires_grad]
    d = sum(p.numel() for p in params)
    loss = nn.CrossEntropyLoss()
    ref_h = _dense(curvlinops.HessianLinearOperator(model, loss, params, loader), d)
    ref_g = _dense(curvlinops.GGNLinearOperator(model, loss, params, loader), d)
    assert rel_err(hessian(model, loss, loader).dense(), ref_h) < 1e-12
    assert rel_err(hessian(model, "cross_entropy", X, labels, batch_size=5, backend="jvp").dense(), ref_h) < 1e-12
    assert rel_err(ggn(model, loss, loader).dense(), ref_g) < 1e-12


@pytest.mark.parametrize("name, model, X, C", _models(), ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("kind", ["cross_entropy", "mse"])
def test_empirical_fisher_and_fisher_match_curvlinops(name, model, X, C, kind):
    """Same normalisation as curvlinops' ``EFLinearOperator`` (``(1/N) sum_n grad l_n grad l_n^T`` for a mean, ``N``
    the number of loss terms: samples for cross-entropy, entries for ``MSELoss``); the exact Fisher equals
    curvlinops' GGN."""
    g = torch.Generator().manual_seed(4)
    T = torch.arange(X.shape[0]) % C if kind == "cross_entropy" else torch.randn(X.shape[0], C, generator=g,
                                                                                 dtype=torch.float64)
    loss = nn.CrossEntropyLoss() if kind == "cross_entropy" else nn.MSELoss()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, T), batch_size=5)
    params = [p for p in model.parameters() if p.requires_grad]
    d = sum(p.numel() for p in params)
    ref_ef = _dense(curvlinops.EFLinearOperator(model, loss, params, loader), d)
    ref_g = _dense(curvlinops.GGNLinearOperator(model, loss, params, loader), d)
    assert rel_err(empirical_fisher(model, loss, loader).dense(), ref_ef) < 1e-12
    assert rel_err(fisher(model, loss, X, T, batch_size=5).dense(), ref_g) < 1e-12
