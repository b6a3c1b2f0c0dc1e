"""``fisher`` and ``empirical_fisher`` against their definitions (Kunstner, Balles, Hennig 2019, arXiv 1905.12558,
§1), written out densely here in float64: per-sample gradients of each sample's negative log-likelihood term by
``torch.func`` (``vmap`` of ``grad``), and the expectation over the model's predictive distribution computed
exactly (a sum over classes; a two-point Gauss-Hermite rule per output for a Gaussian, exact for the quadratic
``g g^T``; the ``2^d`` outcomes of independent Bernoullis)."""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import grad, vmap

from hessverify.models import linear_network
from hessverify.operators import empirical_fisher, fisher, ggn
from tests.reference import dense_ggn, rel_err
from tests.test_operators.conftest import flat_model

N, D0, C = 9, 3, 3


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = linear_network((D0, 5, C), activation="tanh", bias=True)
    g = torch.Generator().manual_seed(1)
    X = torch.randn(N, D0, generator=g, dtype=torch.float64)
    Y = torch.randn(N, C, generator=g, dtype=torch.float64)
    labels = torch.randint(C, (N,), generator=g)
    bits = torch.randint(2, (N, C), generator=g).double()
    return model, X, Y, labels, bits



#: the per-sample terms l(f_i, y_i) and the loss's normaliser D (mean) for each loss, written out by hand
TERMS = {
    "mse": (lambda o, y: 0.5 * ((o - y) ** 2).sum(), lambda n, c: n),
    "cross_entropy": (lambda o, y: -torch.log_softmax(o, -1).gather(0, y.reshape(1)).sum(), lambda n, c: n),
    "MSELoss": (lambda o, y: ((o - y) ** 2).sum(), lambda n, c: n * c),
    "CrossEntropyLoss": (lambda o, y: -torch.log_softmax(o, -1).gather(0, y.reshape(1)).sum(), lambda n, c: n),
    "BCEWithLogitsLoss": (lambda o, y: F.binary_cross_entropy_with_logits(o, y, reduction="sum"), lambda n, c: n * c),
    "HuberLoss": (lambda o, y: F.huber_loss(o, y, delta=0.5, reduction="sum"), lambda n, c: n * c),
}
LOSS = {"mse": "mse", "cross_entropy": "cross_entropy", "MSELoss": nn.MSELoss(), "CrossEntropyLoss": nn.CrossEntropyLoss(),
        "BCEWithLogitsLoss": nn.BCEWithLogitsLoss(), "HuberLoss": nn.HuberLoss(delta=0.5)}


def _targets(name, setup):
    _, _, Y, labels, bits = setup
    return labels if "ross" in name or name == "cross_entropy" else bits if name.startswith("BCE") else Y


def per_sample_gradients(model, term, X, T):
    """``grad_theta l(f(x_i), t_i)`` for every sample, shape ``(n, p)``."""
    theta0, f = flat_model(model)
    return vmap(grad(lambda th, x, t: term(f(th, x[None])[0], t)), in_dims=(None, 0, 0))(theta0, X, T)


def reference_ef(model, name, X, T, reduction="mean"):
    term, count = TERMS[name]
    g = per_sample_gradients(model, term, X, T)
    return g.T @ g / (count(*X.shape[:1], C) if reduction == "mean" else 1)


def _outcomes(name, out_i):
    """``(targets, probabilities)``: every outcome of q(.|f_i) with its weight (exact expectation of g g^T)."""
    if name in ("cross_entropy", "CrossEntropyLoss"):
        return list(range(C)), torch.softmax(out_i, -1)
    if name in ("mse", "MSELoss"):
        sd = 1.0 if name == "mse" else 0.5**0.5  # q = N(f, I) for "mse", N(f, I/2) for nn.MSELoss
        signs = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=C)), dtype=torch.float64)
        return [out_i + sd * s for s in signs], torch.full((len(signs),), 0.5**C, dtype=torch.float64)
    p = torch.sigmoid(out_i)
    bits = torch.tensor(list(itertools.product([0.0, 1.0], repeat=C)), dtype=torch.float64)
    return list(bits), torch.stack([torch.prod(torch.where(b == 1, p, 1 - p)) for b in bits])


def reference_fisher(model, name, X):
    """``(1/D) sum_i sum_y q(y|f_i) grad l(f_i, y) grad l(f_i, y)^T``: Kunstner et al.'s F in the loss's scale."""
    term, count = TERMS[name]
    theta0, f = flat_model(model)
    out = f(theta0, X).detach()
    total = 0
    for i in range(X.shape[0]):
        ys, probs = _outcomes(name, out[i])
        for y, q in zip(ys, probs):
            g = grad(lambda th: term(f(th, X[i:i + 1])[0], torch.as_tensor(y)))(theta0)
            total = total + q * torch.outer(g, g)
    return total / count(X.shape[0], C)


@pytest.mark.parametrize("name", list(TERMS))
def test_empirical_fisher_matches_per_sample_gradients(setup, name):
    model, X = setup[0], setup[1]
    T = _targets(name, setup)
    ref = reference_ef(model, name, X, T)
    assert rel_err(empirical_fisher(model, LOSS[name], X, T).dense(), ref) < 1e-12
    op = empirical_fisher(model, LOSS[name], X, T, batch_size=4)  # batches 4, 4, 1
    V = torch.randn(op.shape[0], 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert rel_err(op.matmat(V), ref @ V) < 1e-12
    assert torch.linalg.matrix_rank(ref) <= N  # a sum of N outer products


def test_empirical_fisher_of_a_sum(setup):
    model, X, Y = setup[0], setup[1], setup[2]
    ref = reference_ef(model, "MSELoss", X, Y, reduction="sum")
    assert rel_err(empirical_fisher(model, nn.MSELoss(reduction="sum"), X, Y, batch_size=4).dense(), ref) < 1e-12


@pytest.mark.parametrize("name", ["mse", "cross_entropy", "MSELoss", "CrossEntropyLoss", "BCEWithLogitsLoss"])
def test_fisher_is_its_definition_and_the_ggn(setup, name):
    """Exact for these likelihoods, and equal to the GGN to rounding (Fisher = GGN for exponential families)."""
    model, X = setup[0], setup[1]
    T = _targets(name, setup)
    ref = reference_fisher(model, name, X)
    F_op = fisher(model, LOSS[name], X, T, batch_size=4)
    assert F_op.exact and F_op.mc_samples is None
    assert rel_err(F_op.dense(), ref) < 1e-12
    assert rel_err(ggn(model, LOSS[name], X, T).dense(), ref) < 1e-12
    if name in ("mse", "cross_entropy"):  # and the GGN of the test's own reference
        assert rel_err(dense_ggn(model, name, X, T), ref) < 1e-12


def test_monte_carlo_fisher(setup):
    model, X, _, labels, _ = setup
    exact = reference_fisher(model, "cross_entropy", X)
    F_mc = fisher(model, "cross_entropy", X, labels, mc_samples=200, seed=3, batch_size=4)
    assert not F_mc.exact and "mc_samples=200, seed=3" in repr(F_mc)
    D = F_mc.dense()
    assert torch.equal(D, F_mc.dense())  # the same draws in every product: one matrix
    assert torch.equal(D, fisher(model, "cross_entropy", X, labels, mc_samples=200, seed=3, batch_size=4).dense())
    assert not torch.equal(D, fisher(model, "cross_entropy", X, labels, mc_samples=200, seed=4, batch_size=4).dense())
    assert rel_err(D, D.T) < 1e-14 and float(torch.linalg.eigvalsh(D)[0]) > -1e-12
    # Monte-Carlo error of 200 draws per sample: 3.7% on average, at most 4.7% over seeds 0-9; the empirical
    # Fisher is 34% away, a wrong scale further
    assert rel_err(D, exact) < 0.1


@pytest.mark.parametrize("name", ["mse", "MSELoss", "BCEWithLogitsLoss"])
def test_monte_carlo_draws_of_the_named_likelihoods(setup, name):
    """The built-in samplers draw from the likelihood whose negative log is the loss's term (N(f, I) for "mse",
    N(f, I/2) for nn.MSELoss, Bernoulli for BCE): their Monte-Carlo Fisher approaches the exact one."""
    model, X = setup[0], setup[1]
    mc = fisher(model, LOSS[name], X, _targets(name, setup), mc_samples=200, seed=1)
    assert rel_err(mc.dense(), reference_fisher(model, name, X)) < 0.1


def test_custom_likelihood_with_a_sampler(setup):
    """A custom loss needs its sampler; a sampler that returns fixed targets gives the empirical Fisher at them
    (exact), and a categorical sampler for a hand-written cross-entropy converges to the Fisher."""
    model, X, _, labels, _ = setup
    own_ce = lambda o, y: -torch.log_softmax(o, -1).gather(1, y[:, None]).mean()  # noqa: E731
    fixed = fisher(model, own_ce, X, labels, sampler=lambda out, g: labels, mc_samples=1)
    assert rel_err(fixed.dense(), reference_ef(model, "cross_entropy", X, labels)) < 1e-12
    draw = lambda out, g: torch.multinomial(torch.softmax(out, -1), 1, generator=g)[:, 0]  # noqa: E731
    mc = fisher(model, own_ce, X, labels, sampler=draw, mc_samples=200, seed=0)
    assert rel_err(mc.dense(), reference_fisher(model, "cross_entropy", X)) < 0.1


def test_token_losses(setup):
    """Sequence outputs with ignore_index: the Fisher is the GGN, the empirical Fisher uses per-sequence gradients,
    both over the mean of all contributing tokens."""
    torch.manual_seed(0)
    emb, head = nn.Embedding(5, 3, dtype=torch.float64), nn.Linear(3, C, dtype=torch.float64)
    model = nn.Sequential(emb, nn.Tanh(), head)

    class Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = model

        def forward(self, tokens):
            return self.net(tokens).transpose(1, 2)  # (n, C, T)

    seq = Seq()
    g = torch.Generator().manual_seed(5)
    X, Y = torch.randint(5, (6, 4), generator=g), torch.randint(C, (6, 4), generator=g)
    Y[0, 1:] = -100
    Y[3, :2] = -100
    loss = nn.CrossEntropyLoss()
    G = ggn(seq, loss, X, Y).dense()
    assert rel_err(fisher(seq, loss, X, Y, batch_size=2).dense(), G) < 1e-12
    assert rel_err(fisher(seq, loss, X, Y, batch_size=2, mc_samples=200).dense(), G) < 0.1  # ignored stay ignored
    term = lambda o, y: F.cross_entropy(o[None], y[None], reduction="sum")  # noqa: E731  (a sequence's term)
    grads = per_sample_gradients(seq, term, X, Y)
    ref = grads.T @ grads / int((Y != -100).sum())
    assert rel_err(empirical_fisher(seq, loss, X, Y, batch_size=2).dense(), ref) < 1e-12


def test_clear_errors(setup):
    model, X, Y, labels, _ = setup
    with pytest.raises(ValueError, match="sampler="):
        fisher(model, nn.HuberLoss(), X, Y)
    with pytest.raises(ValueError, match="sampler="):
        fisher(model, nn.CrossEntropyLoss(weight=torch.ones(C, dtype=torch.float64)), X, labels)
    with pytest.raises(ValueError, match="mc_samples="):
        fisher(model, nn.HuberLoss(), X, Y, sampler=lambda out, g: out)
    with pytest.raises(ValueError, match="shaped like Y"):
        fisher(model, nn.HuberLoss(), X, Y, sampler=lambda out, g: out[:2], mc_samples=2)
    with pytest.raises(ValueError, match="mc_samples"):
        fisher(model, "mse", X, Y, mc_samples=0)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, Y), batch_size=4, shuffle=True)
    with pytest.raises(ValueError, match="fixed order"):
        fisher(model, "mse", loader, mc_samples=2)
