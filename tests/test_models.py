import pytest
import torch
from hypothesis import given, strategies as hst

from hessverify.models import (balanced_weights, get_weights, kaiming_uniform_weights, linear_network,
                               unbalanced_weights)

widths_st = hst.lists(hst.integers(1, 7), min_size=2, max_size=6)


def test_linear_network_layout():
    m = linear_network((3, 5, 2), activation="tanh", bias=True)
    kinds = [type(x).__name__ for x in m]
    assert kinds == ["Linear", "Tanh", "Linear"]
    assert m[0].weight.shape == (5, 3) and m[2].weight.shape == (2, 5)
    assert linear_network((3, 2))[0].bias is None


def test_weights_are_loaded():
    w = [torch.ones(4, 3, dtype=torch.float64), 2 * torch.ones(2, 4, dtype=torch.float64)]
    m = linear_network((3, 4, 2), weights=w)
    assert all(torch.equal(a, b) for a, b in zip(get_weights(m), w))
    x = torch.ones(1, 3, dtype=torch.float64)
    assert torch.allclose(m(x), w[1] @ w[0] @ x.T.squeeze(1))


@given(widths=widths_st, seed=hst.integers(0, 2**16))
def test_balanced_weights_are_strongly_balanced(widths, seed):
    """003 Assumption 3: W_l W_l^T = W_{l+1}^T W_{l+1}, and every layer has the given singular values."""
    g = torch.Generator().manual_seed(seed)
    k = min(widths)
    s = torch.rand(k, generator=g, dtype=torch.float64) * 2
    W = balanced_weights(widths, s, generator=g)
    assert [tuple(w.shape) for w in W] == [(b, a) for a, b in zip(widths[:-1], widths[1:])]
    scale = max(1.0, float(s.max()) ** 2)
    for a, b in zip(W[:-1], W[1:]):
        assert torch.allclose(a @ a.T, b.T @ b, atol=1e-12 * scale)
    for w in W:
        sv = torch.linalg.svdvals(w)[:k]
        assert torch.allclose(sv, s.sort(descending=True).values, atol=1e-12 * max(1.0, float(s.max())))


def test_unbalanced_weights_are_not_balanced():
    W = unbalanced_weights((4, 4, 4), torch.tensor([2.0, 1.5, 1.0, 0.5], dtype=torch.float64),
                           generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(W[0] @ W[0].T, W[1].T @ W[1], atol=1e-3)


def test_kaiming_uniform_bounds():
    W = kaiming_uniform_weights((16, 8, 2), generator=torch.Generator().manual_seed(0))
    assert float(W[0].abs().max()) <= 1 / 4 and float(W[1].abs().max()) <= 1 / 8 ** 0.5


@pytest.mark.parametrize("bad, err", [((3,), ValueError), ((3, 0, 2), ValueError), ((3, 2.5), TypeError)])
def test_bad_widths(bad, err):
    with pytest.raises(err, match="widths"):
        linear_network(bad)


def test_bad_singular_values():
    with pytest.raises(ValueError, match="min\\(widths\\)"):
        balanced_weights((3, 4, 2), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="non-negative"):
        balanced_weights((3, 4, 2), [1.0, -2.0])
