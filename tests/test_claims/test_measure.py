"""Resolution-aware quantities: a rank with an eigenvalue below the rounding band is an interval, a trace
above the dense limit is exact where a cheap exact route exists and never "holds" on a wide interval."""
import numpy as np
import pytest
import torch

from hessverify.claims import build_setting, compare, measure
from hessverify.claims import quantities as measure_module
from hessverify.estimators import exact
from hessverify.operators import ggn
from theory.linear import balanced_spectrum


def test_ill_conditioned_rank_is_inconclusive_not_refuted():
    # lambda_22 = 3 s^4 = 6e-15 against a top of 3: a true non-zero eigenvalue under the rounding band
    s2 = (2e-15) ** 0.25
    s = build_setting("balanced_linear", (2, 2, 2, 2), n=2, singular_values=[1.0, s2])
    true = balanced_spectrum(s.widths, s.singular_values, s.sigma_x)
    assert np.sort(true)[0] == pytest.approx(6e-15, rel=1e-6)
    meas = measure(s, "rank", "ggn")
    nonzero = int(np.sum(true > 0))  # 4 = k'(d0 + dL - k') with k' = 2
    v = compare(nonzero, meas)
    assert v.status == "inconclusive", v.message
    assert "count is 3..4" in v.message
    assert compare(2, meas).status == "refuted"  # outside the interval


def test_a_zero_singular_value_is_decided_exactly_and_left_open_in_floating_point():
    true = 1 * (3 + 3 - 1)  # k'(d0 + dL - k') with one non-zero singular value
    exact_setting = build_setting("balanced_linear", (3, 2, 3), n=3, singular_values=[1.0, 0.0], exact=True)
    assert compare(true, measure(exact_setting, "rank", "ggn")).status == "holds"
    floating = build_setting("balanced_linear", (3, 2, 3), n=3, singular_values=[1.0, 0.0])
    assert compare(true, measure(floating, "rank", "ggn")).status == "inconclusive"  # zeros come out ~1e-17


def test_trace_above_exact_max_uses_the_exact_ntk_side():
    s = build_setting("linear", (40, 40, 10), n=40, seed=1)  # 2,000 parameters, NTK 400 x 400
    assert s.num_params > measure_module.EXACT_MAX
    meas = measure(s, "trace", "ggn")
    truth = float(torch.trace(ggn(s.model, "mse", s.X, s.Y).dense()))
    assert meas.method.startswith("exact(ntk)")
    assert compare(truth, meas).status == "holds"
    assert compare(1.03 * truth, meas).status == "refuted"


def test_hessian_trace_above_exact_max_sums_unit_vectors():
    s = build_setting("mlp", (30, 40, 10), n=40, activation="tanh", bias=True, targets="teacher", seed=2)
    assert s.num_params > measure_module.EXACT_MAX
    meas = measure(s, "trace", "hessian")
    assert meas.method == "sum of e_i^T A e_i"
    from hessverify.operators import hessian
    truth = float(torch.trace(hessian(s.model, "mse", s.X, s.Y).dense()))
    assert compare(truth, meas).status == "holds"
    assert compare(1.03 * truth, meas).status == "refuted"


def test_sampled_trace_never_refutes_the_truth_and_never_holds_a_wrong_trace(monkeypatch):
    monkeypatch.setattr(measure_module, "EXACT_TRACE_MAX", 10)
    monkeypatch.setattr(measure_module, "HUTCHINSON_BUDGET", 1024)
    s = build_setting("mlp", (30, 40, 10), n=40, activation="tanh", bias=True, targets="teacher", seed=2)
    truth = float(exact(measure_module.build_operator(s, "hessian").dense()).eigenvalues.sum())
    right = compare(truth, measure(s, "trace", "hessian", prediction=truth))
    assert right.status in ("holds", "inconclusive"), right.message  # 1,024 probes cannot reach 1e-3: inconclusive
    wrong = compare(1.03 * truth, measure(s, "trace", "hessian", prediction=1.03 * truth))
    assert wrong.status in ("refuted", "inconclusive"), wrong.message
    for v in (right, wrong):
        if v.status == "inconclusive":
            assert "hutchinson" in v.message and "shrink" in v.message and "confidence sequence" in v.message
