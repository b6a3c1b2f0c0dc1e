"""The whole-data objective of token losses (issue 24 item 2): a batched operator is the curvature of the mean over
every target of the data, with batches weighted by their numbers of targets (``ignore_index``, class weights, a
padding mask through ``num_targets_fn``). Ground truth: the dense autograd Hessian of the loss evaluated on all the
data in one batch (the mean over all tokens)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from hessverify.operators import BACKENDS, ggn, hessian
from tests.reference import rel_err
from tests.test_operators.conftest import flat_model

TOL = {"double_backward": 1e-12, "jvp": 1e-12, "finite_difference": 1e-6}
N, T, VOCAB, C = 6, 5, 7, 4


class TokenModel(nn.Module):
    """Embedding, a tanh layer mixing each position with the sequence mean, logits ``(n, C, T)``."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 3, dtype=torch.float64)
        self.mix = nn.Linear(6, 3, dtype=torch.float64)
        self.out = nn.Linear(3, C, dtype=torch.float64)

    def forward(self, tokens):
        e = self.emb(tokens)
        h = torch.tanh(self.mix(torch.cat([e, e.mean(1, keepdim=True).expand_as(e)], -1)))
        return self.out(h).transpose(1, 2)


def _data():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(VOCAB, (N, T), generator=g)
    labels = torch.randint(C, (N, T), generator=g)
    labels[:2] = -100
    labels[0, 0] = 2  # batch 0 (the first two sequences): 1 target of 10; batches 1 and 2: 10 and 7
    labels[4, 1:4] = -100
    return TokenModel(), tokens, labels



def one_batch_hessian(model, loss, X, Y):
    """The Hessian of ``loss`` on all the data at once: for a mean, the mean over every target."""
    theta0, f = flat_model(model)
    return torch.autograd.functional.hessian(lambda t: loss(f(t, X), Y), theta0)


def one_batch_ggn(model, loss, X, Y):
    theta0, f = flat_model(model)
    J = torch.autograd.functional.jacobian(lambda t: f(t, X).reshape(-1), theta0)
    out = f(theta0, X).detach()
    Hf = torch.autograd.functional.hessian(lambda o: loss(o.view(out.shape), Y), out.reshape(-1))
    return J.T @ Hf @ J


@pytest.fixture(scope="module")
def tokens():
    model, X, Y = _data()
    loss = nn.CrossEntropyLoss()
    return model, loss, X, Y, one_batch_hessian(model, loss, X, Y)


def test_the_constructed_case_separates_the_objectives(tokens):
    """Weighting the batches by samples (2/6 each) is the Hessian of the mean of per-batch token means; here it is
    far from the mean over all tokens, so the tests below can tell the two apart."""
    model, loss, X, Y, H = tokens
    per_batch_means = sum(one_batch_hessian(model, loss, X[i:i + 2], Y[i:i + 2]) for i in range(0, N, 2)) / 3
    assert rel_err(per_batch_means, H) > 0.3


@pytest.mark.parametrize("backend", BACKENDS)
def test_ignore_index_batches_give_the_mean_over_all_tokens(tokens, backend):
    model, loss, X, Y, H = tokens
    op = hessian(model, loss, X, Y, backend=backend, batch_size=2)
    V = torch.randn(op.shape[0], 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    assert rel_err(op.matmat(V), H @ V) < TOL[backend]
    assert op.num_targets == 18  # 1 + 10 + 7 labels are not ignore_index


def test_ggn_and_other_sources(tokens):
    model, loss, X, Y, H = tokens
    assert rel_err(ggn(model, loss, X, Y, batch_size=2).dense(), one_batch_ggn(model, loss, X, Y)) < 1e-12
    pairs = [(X[i:i + 2], Y[i:i + 2]) for i in range(0, N, 2)]
    assert rel_err(hessian(model, loss, pairs).dense(), H) < 1e-12
    # a shuffling DataLoader regroups the tokens on every pass: the counts are taken again on each
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, Y), batch_size=2, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    assert rel_err(hessian(model, loss, loader).dense(), H) < 1e-12


def test_class_weights_and_a_batch_without_targets():
    model, X, Y = _data()
    Y = Y.clone()
    Y[2:4] = -100  # batch 1 has no target at all: skipped (its own mean would be 0/0)
    weighted = nn.CrossEntropyLoss(weight=torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=torch.float64))
    for loss in (nn.CrossEntropyLoss(), weighted):
        H = one_batch_hessian(model, loss, X, Y)
        assert rel_err(hessian(model, loss, X, Y, batch_size=2).dense(), H) < 1e-12
    with pytest.raises(ValueError, match="no target"):
        hessian(model, nn.CrossEntropyLoss(), X, torch.full_like(Y, -100), batch_size=2)


def masked_mse(out, Y):
    """A padding-masked mean: ``Y[..., 0]`` targets, ``Y[..., 1]`` the mask (1 for a real token)."""
    mask = Y[..., 1]
    return (mask * (out[:, 0, :] - Y[..., 0]) ** 2).sum() / mask.sum()


def test_num_targets_fn_for_a_masked_custom_loss():
    model, X, _ = _data()
    g = torch.Generator().manual_seed(2)
    mask = torch.ones(N, T, dtype=torch.float64)
    mask[:2, 1:] = 0  # 1 real token in the first batch, 10 and 8 in the others
    mask[5, 3:] = 0
    Y = torch.stack([torch.randn(N, T, generator=g, dtype=torch.float64), mask], -1)
    H = one_batch_hessian(model, masked_mse, X, Y)
    count = lambda X, Y: Y[..., 1].sum()  # noqa: E731
    assert rel_err(hessian(model, masked_mse, X, Y, batch_size=2, num_targets_fn=count).dense(), H) < 1e-12
    # without the hook the samples would weight the batches: the weighting check refuses instead
    with pytest.raises(ValueError, match="num_targets_fn"):
        hessian(model, masked_mse, X, Y, batch_size=2)
    Y0 = Y.clone()
    Y0[2:4, :, 1] = 0  # a batch without real tokens: its own masked mean is 0/0, so it must be left out
    H0 = one_batch_hessian(model, masked_mse, X, Y0)
    assert rel_err(hessian(model, masked_mse, X, Y0, batch_size=2, num_targets_fn=count).dense(), H0) < 1e-12
    with pytest.raises(ValueError, match="num_targets_fn returned"):
        hessian(model, masked_mse, X, Y, batch_size=2, num_targets_fn=lambda X, Y: -1)
    with pytest.raises(ValueError, match="sum"):
        hessian(model, nn.MSELoss(reduction="sum"), X, Y[..., 0], num_targets_fn=count)


def test_elementwise_losses_count_entries():
    """``nn.MSELoss`` is a mean over entries: batches of sequences of other lengths are weighted by their entries."""
    model, X, _ = _data()
    g = torch.Generator().manual_seed(3)
    loss = nn.MSELoss()
    short, long = X[:4, :2], X[4:]  # 4 sequences of 2 tokens, 2 of 5: 32 and 40 output entries
    Ys, Yl = (torch.randn(x.shape[0], C, x.shape[1], generator=g, dtype=torch.float64) for x in (short, long))
    theta0, f = flat_model(model)
    H = torch.autograd.functional.hessian(
        lambda t: (((f(t, short) - Ys) ** 2).sum() + ((f(t, long) - Yl) ** 2).sum()) / (Ys.numel() + Yl.numel()),
        theta0)
    assert rel_err(hessian(model, loss, [(short, Ys), (long, Yl)]).dense(), H) < 1e-12
