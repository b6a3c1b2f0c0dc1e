"""Singh, Bachmann, Hofmann, "Analytic insights into structure and rank of neural network Hessian maps",
NeurIPS 2021 (arXiv 2106.16225): rank formulas for deep linear networks, and their use as an estimate of the
numerical rank of tanh networks.

Theorem numbers: the paper's contribution statement names Theorems 3, 5, 9 and 12 and Lemma 8; the formulas
here are transcribed from the authors' reference notebook (github.com/dalab/hessian-rank), which gives them
without theorem numbers. We could not read the paper's theorem statements from this machine, so each claim
cites the result by what it is about, and the sources column says "2106.16225 (... rank)".

Inputs of every rank are drawn (``n < d0`` included), with the awkward recipes (constant features, duplicated
samples, the all-ones vector in the column space, ill-conditioned inputs), and the settings are rational, so
every rank is computed exactly (``hessverify.exact``); ``r`` is the exact rank of the inputs drawn. The functional
term needs a residual: teacher targets ``Y = X T^T`` leave one of rank ``min(r, K)`` (the ``s`` of the paper).
"""
import flint
import numpy as np
from hypothesis import strategies as hst

from hessverify import conjecture
from hessverify.claims import Measurement, build_setting, strategies as st
from hessverify.claims.assumptions import linear_model, mse_loss
from hessverify.claims.quantities import build_operator, functional_hessian_rank
from hessverify.exact import exact_rank
from hessverify.exact.construct import to_fmpq_mat
from theory import hessian_rank as R

LINEAR = [linear_model(), mse_loss()]
GENERIC = ("generic weights: rational draws of 20 bits, so an accidental rank drop is a Schwartz-Zippel event of "
           "probability <= degree / 2^20 (the formulas are the rank at generic points)")
#: the abstract's sentence every exact formula below encodes
EXACT_FORMULAS = ("This yields exact formulas and tight upper bounds for the Hessian rank of deep linear networks, "
                  "allowing for an elegant interpretation in terms of rank deficiency.")


def ones_in_column_space(s) -> bool:
    """Whether the all-ones sample vector lies in the column space of ``X`` (``n x d0``): exactly, as
    ``rank([X, 1]) == rank(X)`` in rational arithmetic."""
    X = np.asarray(s.exact.X, dtype=object).reshape(s.n, -1)
    with_ones = np.concatenate([X, np.full((s.n, 1), flint.fmpq(1), dtype=object)], axis=1)
    return exact_rank(to_fmpq_mat(with_ones)) == s.input_rank


@conjecture(setting=st.networks_with_input_rank(), quantity="rank", operator="ggn",
            source="2106.16225 (outer-product Hessian rank, deep linear)", assumptions=[*LINEAR, GENERIC],
            quote=EXACT_FORMULAS, reading="exact (at generic weights, for every width, depth and input rank)")
def singh2021_outer_product_rank(s):
    """rank(H_o) = q (r + K - q), q = min(r, M_1, ..., M_{L-1}, K)."""
    return R.outer_product_rank(s.widths, s.input_rank)


@conjecture(setting=st.networks_with_input_rank(), quantity=functional_hessian_rank, operator="hessian",
            source="2106.16225 (functional Hessian rank, deep linear)",
            assumptions=[*LINEAR, GENERIC, "depth >= 2 (the strategy draws 2..4 layers; at depth 1 H_f = 0)"],
            quote=EXACT_FORMULAS, reading="exact (at generic weights and a generic residual)")
def singh2021_functional_rank(s):
    """rank(H_f) = 2 q sum_l M_l + 2 q s - L q^2, s = min(r, K)."""
    return R.functional_rank(s.widths, s.input_rank)


@conjecture(setting=st.networks_with_input_rank(), quantity="rank", operator="hessian",
            source="2106.16225 (loss Hessian rank, deep linear)", assumptions=[*LINEAR, GENERIC],
            quote=EXACT_FORMULAS, reading="exact (at generic weights and a generic residual)")
def singh2021_hessian_rank(s):
    """rank(H) = 2 q sum_l M_l + q (r + K) - L q^2."""
    return R.hessian_rank(s.widths, s.input_rank)


#: the outside reviewer's counterexample: a constant feature, widths (2, 4, 3), n = 4, r = 2
CONSTANT_FEATURE = build_setting(kind="linear", widths=(2, 4, 3), n=4, sigma_x=None, seed=0, bias=True,
                                 targets="teacher", inputs="constant_feature", exact=True)


@conjecture(setting=st.networks_with_input_rank(bias=True), quantity="rank", operator="ggn", expect="refuted",
            source="derived here (first version), extends 2106.16225 to a bias in every layer",
            assumptions=[*LINEAR, GENERIC], also=[CONSTANT_FEATURE])
def outer_product_rank_with_bias(s):
    """rank(H_o) = min(q (r + K - q) + K - q [1 in column space of X], n K). Overcounts by K - q when the
    all-ones vector is in the column space and q = r < K (a constant feature: widths (2, 4, 3), n = 4, r = 2
    gives 7, the rank is 6)."""
    return R.outer_product_rank_with_bias(s.widths, s.input_rank, s.n, ones_in_column_space(s))


@conjecture(setting=st.networks_with_input_rank(bias=True), quantity="rank", operator="ggn",
            source="derived here (theory.hessian_rank.outer_product_rank_with_bias_corrected)",
            assumptions=[*LINEAR, GENERIC], also=[CONSTANT_FEATURE])
def outer_product_rank_with_bias_corrected(s):
    """rank(H_o) = min(q (r + K - q) + K - e, n K), e = 0 if 1 is not in the column space of X, K if it is and
    q = r, q if it is and q < r."""
    return R.outer_product_rank_with_bias_corrected(s.widths, s.input_rank, s.n, ones_in_column_space(s))


#: how far the paper's "estimate" may be off and still count as one (the claim is stated without a number)
ESTIMATE_TOLERANCE = 0.10


def tanh_rank_deviation(s) -> Measurement:
    """``|numerical rank of H - linear formula| / linear formula`` for the tanh network ``s``. The numerical rank
    counts eigenvalues above ``d eps lambda_max`` (numpy's ``matrix_rank`` rule, which the paper's experiments
    use through their frameworks); the deviation is a ratio, so its scale is 1."""
    H = build_operator(s, "hessian").dense().double().numpy()
    vals = np.abs(np.linalg.eigvalsh((H + H.T) / 2))
    eps = float(np.finfo(float).eps)
    numerical = int((vals > vals.size * eps * vals.max(initial=0.0)).sum())
    formula = R.hessian_rank(s.widths, s.input_rank)
    dev = abs(numerical - formula) / max(formula, 1)
    return Measurement(np.asarray(dev), np.asarray(0.0), "numerical rank of dense H", vals.size, eps, scale=1.0,
                       note=f"numerical rank {numerical}, linear formula {formula}")


ESTIMATE = ("Moreover, we demonstrate that our bounds remain faithful as an estimate of the numerical Hessian rank, "
            "for a larger class of models such as rectified and hyperbolic tangent networks.")
ESTIMATE_READING = (f"estimate (read here as: within {ESTIMATE_TOLERANCE:.0%} of the linear formula; the paper "
                    "states no number, so the refutation is of this reading, at these small widths)")


@conjecture(setting=st.networks_with_input_rank(activation="tanh"), quantity=tanh_rank_deviation, relation="le",
            expect="refuted", source="2106.16225 (linear formulas estimate the numerical rank of tanh nets)",
            assumptions=[mse_loss(), f"'estimate' read as: within {ESTIMATE_TOLERANCE:.0%} of the linear formula"],
            quote=ESTIMATE, reading=ESTIMATE_READING)
def singh2021_linear_formula_estimates_tanh_rank(s):
    """The numerical Hessian rank of a tanh network is within 10% of the deep-linear formula."""
    return ESTIMATE_TOLERANCE


@conjecture(setting=st.networks_with_input_rank(activation="tanh", depth=2, width=hst.integers(6, 12),
                                                     max_params=500),
            quantity=tanh_rank_deviation, relation="le", expect="refuted",
            source="2106.16225 (linear formulas estimate the numerical rank of tanh nets), widths 6-12",
            assumptions=[mse_loss(), f"'estimate' read as: within {ESTIMATE_TOLERANCE:.0%} of the linear formula",
                         "two layers, every width 6..12 (nearer the paper's experiments than the small strategy)"],
            quote=ESTIMATE, reading=ESTIMATE_READING)
def singh2021_tanh_rank_estimate_at_width(s):
    """As above, on wider two-layer tanh networks."""
    return ESTIMATE_TOLERANCE
