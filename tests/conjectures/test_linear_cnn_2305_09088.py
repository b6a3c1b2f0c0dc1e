"""Singh, Hofmann, Schölkopf, "The Hessian perspective into the nature of convolutional neural networks",
ICML 2023 (arXiv 2305.09088): rank bounds for linear CNNs through their Toeplitz representation.

The paper's theorem statements could not be read from this machine (only its abstract and introduction), so
the bound checked here is the one its strategy gives, derived in ``theory.hessian_rank`` (each convolution
is a Toeplitz matrix, so a linear CNN is a deep linear network with structured weights and 2106.16225's
formula bounds its outer-product rank), tightened by counting the convolution and read-out columns apart.
Whether that bound is tight is a claim of its own.

The paper's headline (abstract, §1, Fig. 1) is a *trend*: the Hessian rank grows linearly in the hidden
channels ``C`` while the parameters grow as ``C^2`` (so the rank grows as the square root of the parameter
count), and its theorems are upper bounds. It is checked as the trend it states: exactly affine in ``C`` once
past the kinks of the rank (where the min() terms of the rank formulas saturate). An earlier version of this
file read "linear" as "affine for every C >= 1" and refuted it at ``C = 1`` with spatial size 1 and kernel 1 (a
dense network): a reading the paper does not make, withdrawn.
"""
import numpy as np
from hypothesis import strategies as hst

from hessverify import conjecture
from hessverify.claims import Measurement, build_setting, measure, strategies as st
from hessverify.claims.assumptions import linear_model, mse_loss
from hessverify.claims.profiles import active_profile
from theory.hessian_rank import linear_cnn_outer_product_rank_bound

ASSUMES = [linear_model(), mse_loss(), "'valid' convolutions without bias, then a dense read-out; Gaussian weights"]


def bound(s) -> int:
    return linear_cnn_outer_product_rank_bound(s.widths, s.spec["spatial"], s.spec["kernel"],
                                               s.spec.get("stride", 1), s.n, s.input_rank)


@conjecture(setting=st.linear_cnns(), quantity="rank", operator="ggn", relation="le",
            source="derived here from 2305.09088's Toeplitz representation and 2106.16225's rank formula",
            assumptions=ASSUMES)
def linear_cnn_outer_product_rank_bound_holds(s):
    """rank(H_o) <= min(q (r + K - q) on the Toeplitz widths, #conv weights + K rank(F), n K, #weights)."""
    return bound(s)


#: the smallest counterexample the verify profile found (stride 2 skips an input position): part of the record
NOT_TIGHT = build_setting(kind="linear_cnn", widths=(1, 1, 1), n=2, sigma_x=None, seed=0, spatial=(2,), kernel=1,
                          stride=2, exact=True)


@conjecture(setting=st.linear_cnns(), quantity="rank", operator="ggn", expect="refuted",
            source="derived here: is our Toeplitz bound tight? (ours, not the paper's: its theorems could not be "
                   "read here)",
            assumptions=ASSUMES, also=[NOT_TIGHT])
def linear_cnn_outer_product_rank_bound_is_tight(s):
    """The bound above is attained. (It is not: it counts neither the rescaling symmetries between layers nor
    the input positions a stride skips.)"""
    return bound(s)


# ---- 2305.09088 abstract and §1 (Fig. 1): the Hessian rank grows linearly in the hidden channels --------------
#: the sentence of 2305.09088 (§1, about its Fig. 1) the trend claim encodes
LINEAR_TREND = ("As the number of channels in the hidden layers increases, the number of parameters grows, as "
                "expected, quadratically. But, the rank of the loss Hessian at initialization, measured as precisely "
                "as it gets, grows at a much calmer, linear rate.")
#: the abstract's headline, which follows from the trend (rank affine in C, parameters quadratic in C)
SQRT_HEADLINE = ("Overall, our work generalizes and establishes the key insight that, even in CNNs, the Hessian rank "
                 "grows as the square root of the number of parameters.")


def window_start(s) -> int:
    """The first channel count of the window the trend is checked on: ``2 + n K``, past the kinks of the rank
    (where the min() terms of the rank formulas saturate; in a scan of 14 small configurations, C = 1..8, the
    last kink was at C = 6 <= 2 + n K every time). A window of our choosing: 2305.09088 states a trend, not where
    it starts."""
    return 2 + s.n * s.dL


@hst.composite
def channel_sweeps(draw):
    """Two hidden 1-D convolutions of ``C`` channels each (so the parameters grow as ``C^2``), a dense read-out,
    teacher targets (a non-zero residual: the loss Hessian at initialisation, as in Fig. 1); rational, so ranks
    are exact. ``C`` is the start of the window (``window_start``)."""
    k = draw(hst.integers(1, 2))
    side = 2 * k - 1 + draw(hst.integers(0, 2))
    n, K = draw(hst.integers(1, 3)), draw(hst.integers(1, 2))
    C = 2 + n * K
    return build_setting(kind="linear_cnn", widths=(draw(hst.integers(1, 2)), C, C, K), n=n, sigma_x=None,
                         seed=draw(hst.integers(0, 2**16)), spatial=(side,), kernel=k, targets="teacher", exact=True)


def _with_channels(s, C):
    w = s.widths
    return build_setting(**{**s.spec, "widths": (w[0], C, C, w[-1])})


def second_difference_of_rank(s) -> Measurement:
    """``rank H(C+2) - 2 rank H(C+1) + rank H(C)``, exact: zero iff the rank is affine in ``C`` over the three."""
    ms = [measure(_with_channels(s, s.widths[1] + j), "rank", "hessian") for j in range(3)]
    value = float(ms[2].value) - 2 * float(ms[1].value) + float(ms[0].value)
    return Measurement(np.asarray(value), np.asarray(0.0), "exact ranks at C, C+1, C+2", ms[2].size, 0.0, count=True,
                       note="ranks " + ", ".join(f"{float(m.value):g}" for m in ms))


CHANNELS = [linear_model(), mse_loss(), "two hidden 1-D convolutions of C channels each, then a dense read-out; "
            "C from 2 + n K (past the kinks) to C + 2"]


@conjecture(setting=channel_sweeps(), quantity=second_difference_of_rank, operator="hessian",
            examples=6 if active_profile() != "verify" else 40,
            source="2305.09088 §1, Fig. 1 (rank linear in the channels)", assumptions=CHANNELS,
            quote=LINEAR_TREND, reading="trend (read as: exactly affine in C once C is past the kinks of the rank, "
            "C >= 2 + n K; the square-root headline follows, with the parameters quadratic in C)")
def cnn_hessian_rank_affine_in_channels(s):
    """Past its kinks, the Hessian rank of a linear CNN at initialisation is affine in the hidden channels C (so
    it grows as the square root of the parameter count, which is quadratic in C)."""
    return 0
