"""Wrong answers an outside review found in this round (cross-entropy ranks in floating point, a resolution on a
count, a zero-width trace interval, a Sequential subclass read as a chain), each with the reviewer's case."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import strategies as hst
from torch import nn

from hessverify import conjecture
from hessverify.claims import build_setting, compare, measure
from hessverify.estimators import hutchinson, hutchpp
from hessverify.exact import ExactProblem, NoExactRoute


def _verdict(claim) -> str:
    try:
        claim()
    except Exception:  # noqa: BLE001 - an unexpected verdict raises; the record keeps the status
        pass
    return claim.record.status


SATURATED = [(20.0, 1), (10.0, 2), (60.0, 0)]


@pytest.mark.parametrize("weight_scale, seed", SATURATED)
@pytest.mark.parametrize("operator", ["ggn", "hessian"])
def test_a_cross_entropy_rank_in_floating_point_never_excludes_the_true_rank(weight_scale, seed, operator):
    """Two classes: each sample's output Hessian is p1 p2 [[1, -1], [-1, 1]], so the GGN (= the Hessian of a linear
    model) is (v v^T) (x) sum_i p_i (1 - p_i) x_i x_i^T with v = (1, -1): rank at most d0 = 2, here exactly 2 (60-digit
    check by the reviewer: eigenvalues 1.9e-4, 4.1e-8, 3e-62, 2e-62). The softmax's rounding was left out of the
    rank's error, so rounding noise counted as certainly non-zero: 4 +- 0."""
    s = build_setting(kind="linear", widths=(2, 2), n=3, seed=seed, loss="cross_entropy", weight_scale=weight_scale)
    m = measure(s, "rank", operator)
    lo, hi = float(m.value - m.error), float(m.value + m.error)
    assert lo <= 2 <= hi
    assert compare(2, m).status != "refuted" and compare(4, m).status != "holds"
    assert compare(3, m, "le").status != "refuted"  # the true bound rank <= n (C - 1) = 3


def test_the_reviewers_claims_on_a_saturated_softmax():
    s = build_setting(kind="linear", widths=(2, 2), n=3, seed=1, loss="cross_entropy", weight_scale=20.0)
    true = conjecture(setting=hst.just(s), quantity="rank", operator="ggn", examples=1,
                      name="review_ce_rank_two")(lambda s: 2)
    false = conjecture(setting=hst.just(s), quantity="rank", operator="hessian", examples=1, expect="refuted",
                       name="review_ce_rank_four")(lambda s: 4)
    assert _verdict(true) in ("holds", "inconclusive") and _verdict(false) in ("refuted", "inconclusive")


def test_a_resolution_on_a_rank_claim_is_refused_and_ignored_by_compare():
    """resolution=0.6 let 'rank 1' hold on the interval 1..2 (eigenvalues [1, 1e-17], true rank 2)."""
    with pytest.raises(ValueError, match="a rank is a count"):
        conjecture(setting=hst.just(None), quantity="rank", operator="matrix", resolution=0.6)
    m = measure(build_setting("symmetric_matrix", eigenvalues=[1.0, 1e-17], sigma_x=None), "rank", "matrix")
    assert float(m.error) == 0.5
    assert compare(1, m, rel_resolution=0.6).status == "inconclusive"
    assert compare(2, m, rel_resolution=0.6).status == "inconclusive"


@pytest.mark.parametrize("seed", range(5))
def test_agreeing_rademacher_samples_are_no_zero_width_interval(seed):
    """z^T A z is 3 or -1 for A = [[0.5, 1], [1, 0.5]] (trace 1): two equal draws gave stderr 0 and the interval
    (-1, -1)."""
    A = torch.tensor([[0.5, 1.0], [1.0, 0.5]], dtype=torch.float64)
    lo, hi = hutchinson(A, 2, seed=seed).ci(0.95)
    assert lo <= 1.0 <= hi


def test_a_diagonal_operator_is_exact_only_past_the_chance_of_agreeing():
    D = torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    assert hutchinson(D, 10, seed=0).stderr == float("inf")  # ten agreeing draws: 0.75^9 = 7.5% by chance
    r = hutchinson(D, 60, seed=0)
    lo, hi = r.ci(0.95)
    assert r.stderr == 0 and lo <= 6.0 <= hi and hi - lo < 1e-12


def test_a_whole_space_hutchpp_interval_covers_its_rounding():
    """Spectrum [1e3, -1e3, 1, 2, 3]: the sketch spans the space, stderr is 0, and the value is off the float
    matrix's trace by rounding (2.8e-13 in the review); the interval must still contain the trace."""
    Q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((5, 5)))
    M = torch.tensor(Q @ np.diag([1e3, -1e3, 1.0, 2.0, 3.0]) @ Q.T)
    M = (M + M.T) / 2
    truth = float(np.sum(np.diag(M.numpy()).astype(np.longdouble)))
    for seed in range(5):
        lo, hi = hutchpp(M, 30, seed=seed).ci(0.95)
        assert lo <= truth <= hi and hi > lo


def test_a_sequential_subclass_with_its_own_forward_has_no_exact_route():
    class Residual(nn.Sequential):
        def forward(self, x):
            return x + super().forward(x)

    m = nn.Sequential(Residual(nn.Linear(2, 2, bias=False)), nn.Linear(2, 1, bias=False)).double()
    X = torch.tensor([[1.0, 2.0], [3.0, 5.0]], dtype=torch.float64)
    with pytest.raises(NoExactRoute, match="overrides nn.Sequential.forward"):
        ExactProblem(m, X, torch.zeros(2, 1, dtype=torch.float64))

    class Scaled(nn.Linear):
        def forward(self, x):
            return 2 * super().forward(x)

    with pytest.raises(NoExactRoute, match="overrides Linear.forward"):
        ExactProblem(nn.Sequential(Scaled(2, 1, bias=False)).double(), X, torch.zeros(2, 1, dtype=torch.float64))
