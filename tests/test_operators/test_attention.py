"""Attention on every backend (issue 24 item 1): a stock ``nn.TransformerEncoderLayer``, ``nn.MultiheadAttention``
and ``F.scaled_dot_product_attention``, against dense float64 autograd references computed with PyTorch's math
attention kernel; the user's attention settings are given back; a model an operator cannot differentiate fails at
construction with one clear error."""
from __future__ import annotations

from contextlib import contextmanager

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from hessverify.operators import BACKENDS, ggn, hessian, ntk
from hessverify.operators.attention import differentiable_attention
from tests.reference import rel_err
from tests.test_operators.conftest import flat_model

TOL = {"double_backward": 1e-10, "jvp": 1e-10, "finite_difference": 1e-5}
D, HEADS, T = 4, 2, 4


@contextmanager
def math_kernel():
    """The reference's attention: PyTorch's math SDPA kernel, no fused MHA fast path (set here, by hand)."""
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)


class SelfAttention(nn.Module):
    def __init__(self, dropout: float = 0.0):
        super().__init__()
        self.mha = nn.MultiheadAttention(D, HEADS, dropout=dropout, batch_first=True, dtype=torch.float64)

    def forward(self, x):
        return self.mha(x, x, x, need_weights=False)[0]


class SDPAClassifier(nn.Module):
    """Query/key/value projections, ``F.scaled_dot_product_attention`` over two heads, mean-pooled logits."""

    def __init__(self, classes: int = 3):
        super().__init__()
        self.q, self.k, self.v = (nn.Linear(D, D, dtype=torch.float64) for _ in range(3))
        self.head = nn.Linear(D, classes, dtype=torch.float64)

    def forward(self, x):
        n = x.shape[0]
        q, k, v = (p(x).view(n, T, HEADS, D // HEADS).transpose(1, 2) for p in (self.q, self.k, self.v))
        att = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, T, D)
        return self.head(torch.tanh(att).mean(1))


def _case(name: str):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    X = torch.randn(3, T, D, generator=g, dtype=torch.float64)
    if name == "encoder_layer":
        model = nn.TransformerEncoderLayer(D, HEADS, dim_feedforward=6, dropout=0.0, batch_first=True,
                                           dtype=torch.float64)
        return model.eval(), nn.MSELoss(), X, torch.randn(3, T, D, generator=g, dtype=torch.float64)
    if name == "multihead_attention":
        return SelfAttention().eval(), nn.MSELoss(), X, torch.randn(3, T, D, generator=g, dtype=torch.float64)
    return SDPAClassifier().eval(), nn.CrossEntropyLoss(), X, torch.tensor([0, 2, 1])


CASES = ["encoder_layer", "multihead_attention", "sdpa"]



def reference(model, loss, X, Y):
    """Dense Hessian, GGN and Jacobian by ``torch.autograd.functional`` with the math kernel."""
    theta0, f = flat_model(model)
    with math_kernel():
        H = torch.autograd.functional.hessian(lambda t: loss(f(t, X), Y), theta0)
        J = torch.autograd.functional.jacobian(lambda t: f(t, X).reshape(-1), theta0)
        out = f(theta0, X).detach()
        Hf = torch.autograd.functional.hessian(lambda o: loss(o.view(out.shape), Y), out.reshape(-1))
    return H, J.T @ Hf @ J, J


@pytest.fixture(scope="module", params=CASES)
def case(request):
    model, loss, X, Y = _case(request.param)
    return request.param, model, loss, X, Y, reference(model, loss, X, Y)


@pytest.mark.parametrize("backend", BACKENDS)
def test_hessian_on_every_backend(case, backend):
    _, model, loss, X, Y, (H, _, _) = case
    op = hessian(model, loss, X, Y, backend=backend)
    V = torch.randn(op.shape[0], 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    assert rel_err(op.matmat(V), H @ V) < TOL[backend]
    if backend == "double_backward":  # batched over the data as well
        assert rel_err(hessian(model, loss, X, Y, batch_size=2).dense(), H) < TOL[backend]


def test_ggn_and_ntk(case):
    _, model, loss, X, Y, (_, G, J) = case
    assert rel_err(ggn(model, loss, X, Y, batch_size=2).dense(), G) < 1e-10
    assert rel_err(ntk(model, X).dense(), J @ J.T / X.shape[0]) < 1e-10
    U = torch.randn(J.shape[0], 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    assert rel_err(ntk(model, X).matmat(U), J @ (J.T @ U) / X.shape[0]) < 1e-10


def _settings():
    return (torch.backends.mha.get_fastpath_enabled(), torch.backends.cuda.flash_sdp_enabled(),
            torch.backends.cuda.mem_efficient_sdp_enabled(), torch.backends.cuda.math_sdp_enabled())


class Recorder(nn.Module):
    """Records the attention settings its forward pass runs under; with ``attend``, attends over its 2 features."""

    def __init__(self, attend: bool = True):
        super().__init__()
        self.lin = nn.Linear(2, 2, dtype=torch.float64)
        self.attend, self.seen = attend, set()

    def forward(self, x):
        self.seen.add(_settings())
        h = self.lin(x)
        if self.attend:
            q = h[:, None, :, None]  # (n, heads 1, tokens 2, dim 1)
            h = h + F.scaled_dot_product_attention(q, q, q)[:, 0, :, 0]
        return h


@pytest.mark.parametrize("fastpath", [True, False])
def test_user_settings_are_restored(fastpath):
    before = (torch.backends.mha.get_fastpath_enabled(), torch.backends.cuda.mem_efficient_sdp_enabled())
    torch.backends.mha.set_fastpath_enabled(fastpath)
    torch.backends.cuda.enable_mem_efficient_sdp(False)  # a user's own choice, kept as it is
    try:
        user = _settings()
        model = Recorder()
        X, Y = torch.randn(4, 2, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
        for op in (hessian(model, "mse", X, Y, backend="jvp"), ggn(model, "mse", X, Y, batch_size=2), ntk(model, X)):
            assert _settings() == user  # after construction
            op.matvec(torch.ones(op.shape[0], dtype=torch.float64))
            assert _settings() == user  # after a product
        assert model.seen == {(False, False, False, True)}  # every forward pass: math kernel only, fast path off
        plain = Recorder(attend=False)  # no attention: the settings are left alone (switching them costs time)
        for op in (hessian(plain, "mse", X, Y, backend="jvp"), ggn(plain, "mse", X, Y, batch_size=2), ntk(plain, X)):
            assert not op.uses_attention
            plain.seen.clear()
            op.matvec(torch.ones(op.shape[0], dtype=torch.float64))
            assert plain.seen == {user}
        with pytest.raises(KeyError), differentiable_attention():
            assert _settings() == (False, False, False, True)
            raise KeyError("an error inside a product")
        assert _settings() == user  # also after an exception
    finally:
        torch.backends.mha.set_fastpath_enabled(before[0])
        torch.backends.cuda.enable_mem_efficient_sdp(before[1])


class Cube(torch.autograd.Function):
    """``x^3`` with a reverse-mode rule only: no forward-mode (jvp) rule."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return x**3

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x**2 * g


class CubeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2, dtype=torch.float64)

    def forward(self, x):
        return Cube.apply(self.lin(x))


def test_a_product_error_is_one_clear_error_at_construction():
    torch.manual_seed(0)
    model, X, Y = CubeNet(), torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    user = _settings()
    for build, match in [(lambda: hessian(model, "mse", X, Y, backend="jvp"), "backend='double_backward'"),
                         (lambda: ggn(model, "mse", X, Y), "backend='double_backward'"),
                         (lambda: ntk(model, X), "NTK needs forward")]:
        with pytest.raises(ValueError, match="no forward-mode derivative") as info:
            build()
        assert match in str(info.value)
        assert info.value.__cause__ is None and info.value.__suppress_context__  # no chained torch traceback
        assert isinstance(info.value.torch_error, NotImplementedError)  # kept for debugging
        assert _settings() == user
    # the reverse-mode backends differentiate it: x^3 through a linear layer, checked against autograd
    theta0, f = flat_model(model)
    H = torch.autograd.functional.hessian(lambda t: 0.5 * ((f(t, X) - Y) ** 2).sum() / 5, theta0)
    assert rel_err(hessian(model, "mse", X, Y).dense(), H) < 1e-12
