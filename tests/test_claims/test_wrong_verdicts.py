"""The five wrong verdicts an outside review found (issue 22), each now right or inconclusive with its reason.
Each test names what it would take to bring the bug back."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as hst

from hessverify import conjecture
from hessverify.claims import build_setting, compare, measure
from hessverify.claims.quantities import NEEDS_EXACT
from theory import hessian_rank as R
from theory.linear import max_nonzero_eigenvalues


# 1. rank below the floor ---------------------------------------------------------------------------------------
def test_a_tiny_nonzero_eigenvalue_is_unresolved_in_floating_point_and_decided_exactly():
    """Balanced widths (2,2,2,2,2), singular values [1, 1e-3]: the smallest non-zero GGN eigenvalue is 4e-18 of the
    largest. Counting it as zero (the old floor) refuted this true rank claim."""
    true_rank = max_nonzero_eigenvalues((2, 2, 2, 2, 2), as_printed=False)
    floating = build_setting("balanced_linear", (2, 2, 2, 2, 2), n=2, singular_values=[1.0, 1e-3])
    v = compare(true_rank, measure(floating, "rank", "ggn"))
    assert v.status == "inconclusive" and NEEDS_EXACT in v.message
    rational = build_setting("balanced_linear", (2, 2, 2, 2, 2), n=2, singular_values=[1.0, 1e-3], exact=True)
    m = measure(rational, "rank", "ggn")
    assert m.method.startswith("exact") and compare(true_rank, m).status == "holds"
    assert compare(true_rank - 1, m).status == "refuted"


@pytest.mark.parametrize("exact", [False, True])
def test_eigenvalues_one_and_1e17(exact):
    s = build_setting("symmetric_matrix", eigenvalues=[1.0, 1e-17], sigma_x=None, exact=exact)
    m = measure(s, "rank", "matrix")
    if exact:  # rank 2 is true and holds; rank 1 is false and is refuted
        assert compare(2, m).status == "holds" and compare(1, m).status == "refuted"
    else:  # floating point cannot tell 1e-17 from 0: neither is decided
        assert compare(2, m).status == "inconclusive" and compare(1, m).status == "inconclusive"


def test_a_zero_eigenvalue_is_zero_exactly():
    s = build_setting("symmetric_matrix", eigenvalues=[2.0, 0.0, 0.0, -1.0], sigma_x=None, exact=True)
    assert compare(2, measure(s, "rank", "matrix")).status == "holds"


# 2. a derived theorem that was false ---------------------------------------------------------------------------
def test_bias_rank_formula_with_a_constant_feature():
    """Widths (2, 4, 3), n = 4, r = 2, a constant feature: the first formula gives 7, the rank is 6."""
    s = build_setting("linear", (2, 4, 3), n=4, sigma_x=None, bias=True, targets="teacher",
                      inputs="constant_feature", exact=True)
    m = measure(s, "rank", "ggn")
    assert s.input_rank == 2 and int(m.value) == 6
    assert R.outer_product_rank_with_bias(s.widths, 2, 4, True) == 7
    assert R.outer_product_rank_with_bias_corrected(s.widths, 2, 4, True) == 6


# 4. the prediction's own rounding ------------------------------------------------------------------------------
def naive_eq9b_spectrum(s):
    """003 eq (9a)/(9b) evaluated naively: (s_i^{2L} - s_j^{2L}) / (s_i^2 - s_j^2) for i != j (cancellation near
    s_i = s_j), L s^{2(L-1)} on the diagonal."""
    a = np.asarray(s.singular_values, float) ** 2
    L = s.depth
    vals = []
    for i in range(a.size):
        for j in range(a.size):
            vals.append(L * a[i] ** (L - 1) if i == j else (a[i] ** L - a[j] ** L) / (a[i] - a[j]))
    vals = np.asarray(vals) * s.sigma_x**2
    return np.concatenate([vals, np.zeros(s.num_params - vals.size)])


CLOSE = build_setting("balanced_linear", (2, 2, 2, 2), n=2, sigma_x=1.0, singular_values=[1.000001, 1.0])


def test_a_naive_closed_form_is_not_refuted_for_its_own_rounding():
    claim = conjecture(setting=hst.just(CLOSE), quantity="spectrum", operator="ggn", examples=1,
                       name="naive_eq9b")(naive_eq9b_spectrum)
    claim()
    assert claim.record.status == "holds"


def test_without_the_rounding_allowance_the_same_claim_is_refuted_and_the_message_shows_the_digits():
    """The bug put back (no allowance for the prediction's rounding): refuted at ~5e-11 relative."""
    claim = conjecture(setting=hst.just(CLOSE), quantity="spectrum", operator="ggn", examples=1,
                       name="naive_eq9b_no_allowance", prediction_error=None, expect="refuted")(naive_eq9b_spectrum)
    claim()
    msg = claim.record.failure
    measured, predicted = msg.split("measured ")[1].split(" (")[0], msg.split("predicted ")[1].split(" fails")[0]
    assert measured != predicted  # printed to as many digits as it takes to see them differ


# 5. a statistical claim's resolution ---------------------------------------------------------------------------
def test_a_sampled_verdict_prints_its_resolution_and_refutes_five_percent():
    from tests.conjectures.test_initialisation_derived import kaiming_uniform, mean_trace_over_inits
    from theory.initialisation import expected_ggn_trace, torch_default_variances

    s = build_setting("linear", (3, 4, 2), n=5, sigma_x=1.0, seed=0)
    q = mean_trace_over_inits(kaiming_uniform, "kaiming_uniform")
    pred = expected_ggn_trace(s.widths, torch_default_variances(s.widths), s.sigma_x)
    good = compare(pred, q(s, prediction=pred, rel_resolution=0.01))
    assert good.status == "holds" and "holds to +-0.01 relative" in good.message
    assert compare(1.05 * pred, q(s, prediction=1.05 * pred, rel_resolution=0.01)).status == "refuted"


def test_empty_comparisons_are_errors():
    m = measure(build_setting("symmetric_matrix", eigenvalues=[1.0], sigma_x=None), "spectrum", "matrix")
    assert compare([], m).status == "error"


def plain_eq9b_top(s):
    """The top two eigenvalues by eq (9b) in plain arithmetic on the setting's numbers (no float coercion), so
    the verdict can evaluate it at 50 digits."""
    a, b, L, sx = s.singular_values[0] ** 2, s.singular_values[1] ** 2, s.depth, s.sigma_x
    return [sx**2 * L * a ** (L - 1), sx**2 * (a**L - b**L) / (a - b)]


def test_a_prediction_in_plain_arithmetic_is_checked_at_50_digits():
    claim = conjecture(setting=hst.just(CLOSE), quantity="top_k", k=2, operator="ggn", examples=1,
                       name="plain_eq9b")(plain_eq9b_top)
    claim()
    assert claim.record.status == "holds" and claim.record.prediction_rounding == "prediction checked at 50 digits"
