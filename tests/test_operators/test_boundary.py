"""The public boundary of the operators (issue 24, smaller items): ``params=`` order, train-mode modules,
``dense`` progress, keyword-only ``backend``."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from hessverify.operators import ggn, hessian, ntk
from tests.reference import rel_err
from tests.test_operators.test_attention import SelfAttention
from tests.test_operators.test_real_models import problem, reference_hessian  # noqa: F401  (problem: a fixture)

F64 = torch.float64


def test_params_are_taken_in_the_order_given(problem):  # noqa: F811
    """The flat order is the order of ``params=``: the block of the full Hessian, permuted accordingly."""
    model, X, Y, _ = problem
    mse = lambda o, y: 0.5 * ((o - y) ** 2).sum() / o.shape[0]  # noqa: E731
    full = reference_hessian(model, mse, X, Y)  # order hidden.weight (25), hidden.bias (5), out.bias, head.*
    H = hessian(model, "mse", X, Y, params=["head.bias", "hidden.weight", model.out.bias])
    assert H.param_names == ["head.bias", "hidden.weight", "out.bias"]
    assert H.param_shapes == [torch.Size([3]), torch.Size([5, 5]), torch.Size([5])]
    idx = torch.cat([torch.arange(50, 53), torch.arange(0, 25), torch.arange(30, 35)])
    assert rel_err(H.dense(), full[idx][:, idx]) < 1e-12
    assert rel_err(ggn(model, "mse", X, Y, params=["head.bias", "head.weight"]).dense(),
                   ggn(model, "mse", X, Y).dense()[torch.cat([torch.arange(50, 53), torch.arange(35, 50)])]
                   [:, torch.cat([torch.arange(50, 53), torch.arange(35, 50)])]) < 1e-12


def test_a_parameter_given_twice_is_refused(problem):  # noqa: F811
    model, X, Y, _ = problem
    with pytest.raises(ValueError, match=r"params\[1\] is the tensor of params\[0\].*tied"):
        hessian(model, "mse", X, Y, params=["hidden.weight", "out.weight"])  # one tied tensor, two names
    with pytest.raises(ValueError, match="pass each parameter once"):
        ntk(model, X, params=[model.head.bias, model.head.bias])


class Net(nn.Module):
    def __init__(self, *layers):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 4), *layers, nn.Tanh(), nn.Linear(4, 2)).double()

    def forward(self, x):
        return self.body(x)


def _xy():
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, 3, generator=g, dtype=F64), torch.randn(8, 2, generator=g, dtype=F64)


def test_train_mode_modules():
    X, Y = _xy()
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="depends on the batch"):
        hessian(Net(nn.BatchNorm1d(4)).train(), "mse", X, Y)
    with pytest.raises(ValueError, match="random"):
        hessian(Net(nn.Dropout(0.1)).train(), "mse", X, Y)
    with pytest.raises(ValueError, match="MultiheadAttention.*random"):  # its dropout is an argument, not a module
        ggn(SelfAttention(dropout=0.1).train(), nn.MSELoss(), torch.randn(2, 3, 4, dtype=F64),
            torch.randn(2, 3, 4, dtype=F64))
    net = Net(nn.Dropout(0.0))  # p = 0 is the identity in train mode too
    assert net.training
    assert rel_err(hessian(net, "mse", X, Y).dense(), hessian(net.eval(), "mse", X, Y).dense()) == 0
    layer = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, batch_first=True, dtype=F64).train()
    Xs, Ys = torch.randn(2, 3, 4, dtype=F64), torch.randn(2, 3, 4, dtype=F64)
    assert rel_err(hessian(layer, nn.MSELoss(), Xs, Ys).dense(), hessian(layer.eval(), nn.MSELoss(), Xs, Ys).dense()) \
        < 1e-12


def test_batch_statistics_in_eval_mode_need_one_batch():
    """BatchNorm without running statistics normalises with the batch even in eval mode: one batch is the model,
    several batches would be another."""
    X, Y = _xy()
    torch.manual_seed(0)
    net = Net(nn.BatchNorm1d(4, track_running_stats=False)).eval()
    hessian(net, "mse", X, Y)
    with pytest.raises(ValueError, match="track_running_stats=False"):
        hessian(net, "mse", X, Y, batch_size=4)


def test_dense_reports_progress(capsys):
    X, Y = _xy()
    torch.manual_seed(0)
    H = hessian(Net(), "mse", X, Y)
    seen = []
    D = H.dense(chunk=10, callback=seen.append, progress=True)
    assert [i["step"] for i in seen] == [10, 20, 26] and {i["total"] for i in seen} == {26}
    assert seen[-1]["num_matvecs"] == 26
    assert capsys.readouterr().err.count("[HessianOperator.dense]") == 3
    assert torch.equal(D, H.dense())
    K = ntk(Net(), X)
    K.dense(callback=seen.append)
    assert seen[-1]["step"] == seen[-1]["total"] == 16
    with pytest.raises(TypeError, match="callback"):
        H.dense(callback=3)
    with pytest.raises(TypeError, match="progress"):
        H.dense(progress="yes")
    with pytest.raises(ValueError, match="chunk"):
        H.dense(chunk=0)


def test_backend_is_keyword_only():
    X, Y = _xy()
    with pytest.raises(TypeError, match="positional"):
        hessian(Net(), "mse", X, Y, "jvp")
