"""Wrong answers a second outside review found: the Monte-Carlo Fisher of elementwise means it did not count by
entries, a teacher computed from inputs the setting then replaced, options input_spectrum silently overrode, and the
functional rank formula at depth 1."""
import numpy as np
import pytest
import torch
from torch import nn

from hessverify.claims import build_setting, compare
from hessverify.claims.quantities import functional_hessian_rank
from hessverify.operators import fisher, ggn
from theory.hessian_rank import functional_rank, outer_product_rank


@pytest.mark.parametrize("loss", [nn.PoissonNLLLoss(log_input=True), nn.SoftMarginLoss(),
                                  nn.MultiLabelSoftMarginLoss()])
def test_elementwise_means_count_their_entries(loss):
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 3)).double()
    X = torch.randn(4, 2, dtype=torch.float64)
    Y = torch.ones(4, 3, dtype=torch.float64) if not isinstance(loss, nn.PoissonNLLLoss) else \
        torch.poisson(torch.exp(m(X).detach()))
    assert ggn(m, loss, X, Y).num_targets == 12


def test_monte_carlo_fisher_of_a_poisson_likelihood_is_its_ggn():
    """Poisson with a log link is an exponential family in its natural parameter: Fisher = GGN. The MC Fisher
    read 1/d_L of it (trace ratio 0.333 at d_L = 3) when the mean was counted by samples."""
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 3)).double()
    X = torch.randn(4, 2, dtype=torch.float64)
    Y = torch.poisson(torch.exp(m(X).detach()))
    loss = nn.PoissonNLLLoss(log_input=True)
    F = fisher(m, loss, X, Y, sampler=lambda out, g: torch.poisson(torch.exp(out), generator=g), mc_samples=3000,
               seed=0)
    ratio = float(F.dense().trace() / ggn(m, loss, X, Y).dense().trace())
    assert abs(ratio - 1) < 0.1


def test_a_teacher_is_the_teacher_of_the_returned_inputs():
    s = build_setting(kind="linear", widths=(3, 2, 2), n=6, sigma_x=None, seed=0, targets="teacher",
                      input_spectrum=[1.0, 2.0, 0.5])
    X, Y = s.X.numpy(), s.Y.numpy()
    assert np.linalg.norm(X @ np.linalg.lstsq(X, Y, rcond=None)[0] - Y) <= 1e-12 * np.linalg.norm(Y)


@pytest.mark.parametrize("extra", [dict(input_rank=1), dict(inputs="constant_feature"), dict(inputs="duplicated")])
def test_input_spectrum_refuses_options_it_would_ignore(extra):
    with pytest.raises(ValueError, match="input_spectrum"):
        build_setting(kind="linear", widths=(3, 2, 2), n=6, sigma_x=None, seed=0, input_spectrum=[1.0, 2.0, 0.5],
                      **extra)


def test_functional_rank_is_zero_at_depth_one():
    """A depth-1 linear model's loss is quadratic in the weights: H = G, H_f = 0 (the formula gives q^2)."""
    s = build_setting(kind="linear", widths=(3, 3), n=4, sigma_x=None, seed=0, targets="teacher", input_rank=1,
                      exact=True)
    assert functional_rank((3, 3), 1) == 0 and functional_rank((4, 3), 3) == 0
    assert compare(functional_rank(s.widths, s.input_rank), functional_hessian_rank(s)).status == "holds"
    assert functional_rank((3, 2, 3), 2) == 2 * 2 * 2 + 2 * 2 * 2 - 2 * 4  # depth 2 unchanged


def test_theory_ranks_take_numpy_integers():
    assert outer_product_rank((3, 2, 2), np.int64(3)) == outer_product_rank((3, 2, 2), 3)
    with pytest.raises(ValueError, match="input_rank"):
        outer_product_rank((3, 2, 2), True)
