"""Operators on models written the way users write them: frozen and tied weights, BatchNorm, mapping batches,
PyTorch's own losses with either reduction. Ground truth: dense float64 autograd on an explicit function of
the trainable, deduplicated parameters (not the code under test)."""
import pytest
import torch
from torch import nn
from torch.func import functional_call

from hessverify.estimators import hutchinson, lanczos
from hessverify.operators import BACKENDS, ggn, hessian, ntk
from tests.reference import rel_err

EXACT = ("double_backward", "jvp")
TOL = {"double_backward": 1e-12, "jvp": 1e-12, "finite_difference": 1e-5}


class FrozenTied(nn.Module):
    """tanh MLP: a frozen first layer, a weight shared by two layers."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.emb, self.hidden, self.out, self.head = nn.Linear(4, 5), nn.Linear(5, 5), nn.Linear(5, 5), nn.Linear(5, 3)
        for p in self.parameters():
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=g) * 0.7)
        self.out.weight = self.hidden.weight  # tied
        self.emb.requires_grad_(False)  # frozen
        self.double()

    def forward(self, x):
        return self.head(torch.tanh(self.out(torch.tanh(self.hidden(torch.tanh(self.emb(x)))))))


def explicit_forward(model: FrozenTied, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The same network written out by hand in the trainable parameters (hidden.weight used twice)."""
    W, b, bo, Wh, bh = torch.split(theta, [25, 5, 5, 15, 3])
    W, Wh = W.view(5, 5), Wh.view(3, 5)
    h = torch.tanh(x @ model.emb.weight.T + model.emb.bias)
    h = torch.tanh(h @ W.T + b)
    h = torch.tanh(h @ W.T + bo)
    return h @ Wh.T + bh


def trainable(model) -> torch.Tensor:
    return torch.cat([model.hidden.weight.reshape(-1), model.hidden.bias, model.out.bias,
                      model.head.weight.reshape(-1), model.head.bias]).detach()


@pytest.fixture(scope="module")
def problem():
    g = torch.Generator().manual_seed(1)
    X = torch.randn(10, 4, generator=g, dtype=torch.float64)
    return FrozenTied(), X, torch.randn(10, 3, generator=g, dtype=torch.float64), torch.randint(3, (10,), generator=g)


def reference_hessian(model, loss_fn, X, Y):
    return torch.autograd.functional.hessian(lambda t: loss_fn(explicit_forward(model, t, X), Y), trainable(model))


def reference_ggn(model, loss_fn, X, Y):
    theta = trainable(model)
    J = torch.autograd.functional.jacobian(lambda t: explicit_forward(model, t, X).reshape(-1), theta)
    out = explicit_forward(model, theta, X).detach()
    Hf = torch.autograd.functional.hessian(lambda o: loss_fn(o.reshape(out.shape), Y), out.reshape(-1))
    return J.T @ Hf @ J


def test_frozen_and_tied_parameters_are_selected(problem):
    model, X, Y, _ = problem
    H = hessian(model, "mse", X, Y)
    assert H.param_names == ["hidden.weight", "hidden.bias", "out.bias", "head.weight", "head.bias"]
    assert H.shape == (53, 53) and sum(p.numel() for p in model.parameters()) == 78


@pytest.mark.parametrize("batch_size", [None, 3])
@pytest.mark.parametrize("backend", BACKENDS)
def test_hessian_frozen_tied(problem, backend, batch_size):
    model, X, Y, labels = problem
    mse = lambda o, y: 0.5 * ((o - y) ** 2).sum() / o.shape[0]  # noqa: E731
    ref = reference_hessian(model, mse, X, Y)
    assert rel_err(hessian(model, "mse", X, Y, backend=backend, batch_size=batch_size).dense(), ref) < TOL[backend]
    ref_ce = reference_hessian(model, nn.functional.cross_entropy, X, labels)
    got = hessian(model, "cross_entropy", X, labels, backend=backend, batch_size=batch_size).dense()
    assert rel_err(got, ref_ce) < TOL[backend]


@pytest.mark.parametrize("batch_size", [None, 4])
def test_ggn_and_ntk_frozen_tied(problem, batch_size):
    model, X, Y, labels = problem
    ref = reference_ggn(model, nn.functional.cross_entropy, X, labels)
    assert rel_err(ggn(model, "cross_entropy", X, labels, batch_size=batch_size).dense(), ref) < 1e-12
    J = torch.autograd.functional.jacobian(lambda t: explicit_forward(model, t, X).reshape(-1), trainable(model))
    assert rel_err(ntk(model, X).dense(), J @ J.T / X.shape[0]) < 1e-12
    assert rel_err(ntk(model, X).matmat(torch.eye(30, dtype=torch.float64)), J @ J.T / X.shape[0]) < 1e-12


def test_params_by_name_gives_a_block(problem):
    model, X, Y, _ = problem
    full = hessian(model, "mse", X, Y).dense()
    block = hessian(model, "mse", X, Y, params=["head.weight", "head.bias"])
    assert block.param_names == ["head.weight", "head.bias"]
    assert rel_err(block.dense(), full[-18:, -18:]) < 1e-13
    with pytest.raises(ValueError, match="not a parameter name"):
        hessian(model, "mse", X, Y, params=["head.wieght"])


LOSSES = [
    (nn.MSELoss(), "targets"), (nn.MSELoss(reduction="sum"), "targets"),
    (nn.CrossEntropyLoss(), "labels"), (nn.CrossEntropyLoss(reduction="sum"), "labels"),
    (nn.BCEWithLogitsLoss(), "probabilities"), (nn.BCEWithLogitsLoss(reduction="sum"), "probabilities"),
    (nn.HuberLoss(delta=0.5), "targets"), (nn.HuberLoss(delta=0.5, reduction="sum"), "targets"),
]


def _targets(kind, problem):
    _, X, Y, labels = problem
    return {"targets": Y, "labels": labels, "probabilities": torch.sigmoid(Y)}[kind]


@pytest.mark.parametrize("loss, kind", LOSSES, ids=[f"{type(l).__name__}-{l.reduction}" for l, _ in LOSSES])
def test_pytorch_losses_on_every_route(problem, loss, kind):
    model, X = problem[0], problem[1]
    T = _targets(kind, problem)
    ref_h, ref_g = reference_hessian(model, loss, X, T), reference_ggn(model, loss, X, T)
    for backend in BACKENDS:
        for batch_size in (None, 4):
            H = hessian(model, loss, X, T, backend=backend, batch_size=batch_size)
            assert rel_err(H.dense(), ref_h) < TOL[backend], (backend, batch_size)
    for batch_size in (None, 4):
        assert rel_err(ggn(model, loss, X, T, batch_size=batch_size).dense(), ref_g) < 1e-12


def test_sum_reduction_is_exact_when_batched(problem):
    model, X, Y, _ = problem
    one = hessian(model, nn.MSELoss(reduction="sum"), X, Y).dense()
    batched = hessian(model, nn.MSELoss(reduction="sum"), X, Y, batch_size=3).dense()
    assert rel_err(batched, one) < 1e-13
    plain_sum = lambda o, y: ((o - y) ** 2).sum()  # noqa: E731  (no .reduction attribute: say it)
    assert rel_err(hessian(model, plain_sum, X, Y, batch_size=3, reduction="sum").dense(), one) < 1e-13
    with pytest.raises(ValueError, match="reduction='sum'"):
        hessian(model, plain_sum, X, Y, batch_size=3)  # default "mean" would weight it wrongly


class BNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.bn, self.l2 = nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, 2)

    def forward(self, x):
        return self.l2(torch.relu(self.bn(self.l1(x))))


def test_batchnorm_snapshot_ignores_later_use(problem):
    torch.manual_seed(0)
    model = BNNet().double()
    X = problem[1]
    model.train()
    model(X * 3 + 1)  # non-trivial running statistics
    model.eval()
    H = hessian(model, nn.CrossEntropyLoss(), X, problem[3] % 2)
    before = H.dense()
    model.train()
    model(torch.randn(50, 4, dtype=torch.float64) * 5)  # moves the running statistics
    model.eval()
    assert torch.equal(H.dense(), before)


class DictDataset(torch.utils.data.Dataset):
    def __init__(self, X, labels):
        self.X, self.labels = X, labels

    def __len__(self):
        return self.X.shape[0]

    def __getitem__(self, i):
        return {"x": self.X[i], "label": self.labels[i]}


def test_mapping_batches_end_to_end(problem):
    model, X, _, labels = problem
    loader = torch.utils.data.DataLoader(DictDataset(X, labels), batch_size=4)
    H = hessian(model, nn.CrossEntropyLoss(), loader, input_key="x", target_key="label")
    ref = reference_hessian(model, nn.functional.cross_entropy, X, labels)
    assert rel_err(H.dense(), ref) < 1e-12
    top = lanczos(H, k=2, seed=0)
    exact = torch.linalg.eigvalsh(ref).flip(0)[:2]
    assert torch.allclose(top.eigenvalues, exact, rtol=1e-8, atol=1e-10)
    t = hutchinson(H, 400, seed=0)
    assert abs(t.value - float(torch.trace(ref))) < 5 * t.stderr
    with pytest.raises(TypeError, match="input_key"):
        hessian(model, nn.CrossEntropyLoss(), loader)


class DictInputNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 3), nn.Linear(2, 3)

    def forward(self, inputs):
        return torch.tanh(self.a(inputs["image"])) + self.b(inputs["meta"])


def test_dict_model_input():
    torch.manual_seed(0)
    model = DictInputNet().double()
    g = torch.Generator().manual_seed(2)
    inputs = {"image": torch.randn(6, 4, generator=g, dtype=torch.float64),
              "meta": torch.randn(6, 2, generator=g, dtype=torch.float64)}
    Y = torch.randn(6, 3, generator=g, dtype=torch.float64)
    one = hessian(model, "mse", inputs, Y).dense()
    batched = hessian(model, "mse", inputs, Y, batch_size=4).dense()
    assert rel_err(batched, one) < 1e-13

    def loss(theta):
        params = dict(zip([n for n, _ in model.named_parameters()],
                          torch.split(theta, [p.numel() for p in model.parameters()])))
        params = {n: t.view(p.shape) for (n, p), t in zip(model.named_parameters(), params.values())}
        out = functional_call(model, params, (inputs,))
        return 0.5 * ((out - Y) ** 2).sum() / 6

    theta0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    assert rel_err(one, torch.autograd.functional.hessian(loss, theta0)) < 1e-12


def test_ntk_jacobian_in_chunks_equals_one_pass():
    """``NTKOperator.jacobian`` builds J a few rows at a time (all rows at once hold n d_L copies of the
    activations); chunking must not change a single entry, and a bad chunk is a clear error."""
    import pytest
    import torch
    from torch.func import jacrev

    from hessverify.models import linear_network
    from hessverify.operators import ntk

    torch.manual_seed(0)
    K = ntk(linear_network((7, 5, 3), activation="tanh", bias=True), torch.randn(40, 7, dtype=torch.float64))
    whole = jacrev(K._f)(K.fm.theta0)
    for chunk in (1, 7, 64, 10_000):
        assert torch.equal(K.jacobian(chunk=chunk), whole)
    with pytest.raises(ValueError, match="chunk"):
        K.jacobian(chunk=0)
