"""The claims of 003 ("How the Hessian-Spectrum of Linear Networks Depends on Data"), each as printed, with
the derived correction as a claim of its own where the printed one is refuted."""
import numpy as np
import torch
from hypothesis import assume, strategies as hst

from hessverify import conjecture, strategies as st
from hessverify.claims import Measurement, build_setting, measure, rounding
from hessverify.claims.assumptions import (balanced_weights, linear_model, mse_loss, whitened_inputs, zero_loss)
from hessverify.operators import ntk
from theory import linear as T

# 003's three assumptions, checked on every example (examples that violate one are set aside and counted)
WHITENED = whitened_inputs()   # Assumption 2
BALANCED = balanced_weights()  # Assumption 3
ZERO_LOSS = zero_loss()        # Assumption 1
LINEAR = [linear_model(), mse_loss()]
TWO_LAYERS = "two layers (the strategy draws depth 2)"


def top(values, p):
    """The ``p`` largest of ``values``, padded with zeros: a GGN shares the NTK's non-zero eigenvalues."""
    v = np.sort(np.asarray(values, float))[::-1][:p]
    return np.concatenate([v, np.zeros(p - v.size)])


# ---- eq (3)-(5): the GGN / NTK identity and the Kronecker-sum form --------------------------------------------
@conjecture(setting=st.linear_networks(sigma_x=hst.one_of(hst.none(), st.sigma_x())), quantity="spectrum",
            operator="ggn", source="003 eq (3)-(5)", assumptions=[*LINEAR, "raw or whitened inputs"])
def ggn_ntk_identity(s):
    """The GGN J^T J / n has the non-zero eigenvalues of the NTK J J^T / n (eq 5 Kronecker form), rest zero."""
    return top(np.linalg.eigvalsh(T.ntk_kronecker_sum(s.weights, s.X.numpy())), s.num_params)


@conjecture(setting=st.linear_networks(sigma_x=hst.one_of(hst.none(), st.sigma_x())), quantity="dense",
            operator="ntk", source="003 eq (5), eq (8)", assumptions=[*LINEAR, "raw or whitened inputs"])
def ntk_kronecker_sum(s):
    """J J^T / n = sum_l (X^T P_l^T P_l X / n) kron (S_l S_l^T)."""
    return T.ntk_kronecker_sum(s.weights, s.X.numpy())


# ---- eq (6), (7), (11): bound and traces ---------------------------------------------------------------------
@conjecture(setting=st.linear_networks(), quantity="lambda_max", operator="ggn", relation="le",
            source="003 eq (6)", assumptions=[*LINEAR, WHITENED])
def eq6_lambda_max_upper_bound(s):
    """lambda_max <= sigma_x^2 sum_l sigma_max(P_l)^2 sigma_max(S_l)^2."""
    return T.lambda_max_upper_bound(s.weights, s.sigma_x)


@conjecture(setting=st.linear_networks(), quantity="trace", operator="ggn", source="003 eq (7)",
            assumptions=[*LINEAR, WHITENED])
def eq7_trace(s):
    """Tr = sigma_x^2 sum_l ||P_l||_F^2 ||S_l||_F^2, exact for any weights."""
    return T.ggn_trace(s.weights, s.sigma_x)


@conjecture(setting=st.shallow_linear_networks(), quantity="trace", operator="ggn", source="003 eq (11)",
            assumptions=[*LINEAR, WHITENED, TWO_LAYERS])
def eq11_shallow_trace(s):
    """Tr = sigma_x^2 (d2 ||W1||_F^2 + d0 ||W2||_F^2)."""
    return T.shallow_trace(*s.weights, s.sigma_x)


# ---- eq (8)-(9): balanced deep networks ------------------------------------------------------------------------
@conjecture(setting=st.balanced_linear_networks(), quantity="spectrum", operator="ggn", source="003 eq (8)-(9)",
            assumptions=[*LINEAR, WHITENED, BALANCED])
def eq9_balanced_spectrum(s):
    """lambda_ij = sigma_x^2 sum_l sigma_i^{2(L-l)} sigma_j^{2(l-1)}, i in [d0], j in [dL], 0^0 = 1."""
    return T.balanced_spectrum(s.widths, s.singular_values, s.sigma_x)


def eigenvector_residual(s):
    """max_ij ||K q_ij - lambda_ij q_ij|| / (||K|| ||q_ij||) for the eq (9) vectors q_ij = (X v_i/sqrt(n)) kron u_j."""
    K = ntk(s.model, s.X).dense().numpy()
    Q = T.balanced_ntk_eigenvectors(s.weights[0], s.weights[-1], s.X.numpy())
    k = min(s.widths)
    s_in = np.concatenate([s.singular_values, np.zeros(s.d0 - k)])
    s_out = np.concatenate([s.singular_values, np.zeros(s.dL - k)])
    lam = T.pairwise_eigenvalues(s_in, s_out, s.depth, s.sigma_x).ravel()  # i-major, as the columns of Q
    scale = max(np.linalg.norm(K, 2), 1e-300)
    res = np.linalg.norm(K @ Q - Q * lam, axis=0) / (scale * np.linalg.norm(Q, axis=0))
    eps = np.finfo(float).eps
    return Measurement(np.asarray(res.max()), np.asarray(rounding(K.shape[0], 1.0, eps)), "dense residual",
                       K.shape[0], eps, scale=1.0)


@conjecture(setting=st.balanced_linear_networks(), quantity=eigenvector_residual, operator="ntk", relation="le",
            source="003 eq (9) eigenvectors, eq (16)", assumptions=[*LINEAR, WHITENED, BALANCED])
def eq9_eigenvectors(s):
    """q_ij are eigenvectors of the NTK with eigenvalue lambda_ij: relative residual 0."""
    return 0.0


#: ranks are decided exactly: these strategies draw rational settings only (hessverify.exact)
EXACT = "rational setting (exact=True): the rank is computed exactly"
#: the outside reviewer's case: the smallest non-zero eigenvalue is 4e-18 of the largest (1e-3 to the 6th)
TINY_SINGULAR_VALUE = build_setting(kind="balanced_linear", widths=(2, 2, 2, 2, 2), n=2, sigma_x=1.0, seed=0,
                                    singular_values=[1.0, 0.001], exact=True)


@conjecture(setting=st.balanced_linear_networks(exact=True), quantity="rank", operator="ggn", relation="le",
            expect="refuted", source="003 remark after eq (9)", assumptions=[*LINEAR, WHITENED, BALANCED, EXACT])
def remark_eq9_at_most_min_width_squared_nonzero(s):
    """"of the p eigenvalues, at most (min{d0, ..., dL})^2 are non-zero"."""
    return T.max_nonzero_eigenvalues(s.widths, as_printed=True)


@conjecture(setting=st.balanced_linear_networks(exact=True), quantity="rank", operator="ggn",
            source="derived from 003 eq (9a) with 0^0 = 1", assumptions=[*LINEAR, WHITENED, BALANCED, EXACT],
            also=[TINY_SINGULAR_VALUE])
def nonzero_count_balanced(s):
    """Exactly k'(d0 + dL - k') non-zero eigenvalues for depth >= 2 (k' = number of non-zero singular values),
    d0 dL for depth 1: the pairs (i, j) with sigma_i != 0 or sigma_j != 0."""
    kk = int(np.sum(np.asarray(s.singular_values) > 0))
    return s.d0 * s.dL if s.depth == 1 else kk * (s.d0 + s.dL - kk)


# ---- Appendix B: shallow networks, eq (10), (15) ---------------------------------------------------------------
@conjecture(setting=st.shallow_linear_networks(), quantity="spectrum", operator="ggn", expect="refuted",
            source="003 eq (15), Appendix B", assumptions=[*LINEAR, WHITENED, TWO_LAYERS, "any weights"])
def eq15_pairwise_sums_as_printed(s):
    """Non-zero eigenvalues sigma_x^2 (sigma_i(W1)^2 + sigma_j(W2)^2), i in [min(d0,d1)], j in [min(d1,d2)]."""
    return T.shallow_spectrum(*s.weights, s.sigma_x, as_printed=True)


@conjecture(setting=st.shallow_linear_networks(), quantity="spectrum", operator="ggn",
            source="derived from 003 eq (5) (corrects eq 15)", assumptions=[*LINEAR, WHITENED, TWO_LAYERS, "any weights"])
def eq15_pairwise_sums_all_singular_vectors(s):
    """The same pairwise sums over i in [d0], j in [d2], with sigma_i = 0 beyond the rank."""
    return T.shallow_spectrum(*s.weights, s.sigma_x)


@conjecture(setting=st.shallow_linear_networks(exact=True), quantity="rank", operator="ggn", relation="le",
            expect="refuted", source="003 Appendix B, remark after eq (16)",
            assumptions=[*LINEAR, WHITENED, TWO_LAYERS, EXACT])
def remark_appB_at_most_min_products_nonzero(s):
    """At most min{d0,d1} x min{d1,d2} eigenvalues may be non-zero."""
    d0, d1, d2 = s.widths
    return min(d0, d1) * min(d1, d2)


@conjecture(setting=st.shallow_linear_networks(), quantity="lambda_max", operator="ggn", source="003 eq (10)",
            assumptions=[*LINEAR, WHITENED, TWO_LAYERS, "any weights"])
def eq10_shallow_lambda_max(s):
    """lambda_max = sigma_x^2 (||W1||_2^2 + ||W2||_2^2)."""
    return T.shallow_lambda_max(*s.weights, s.sigma_x)


@conjecture(setting=st.shallow_linear_networks(), quantity="lambda_max", operator="ggn", expect="refuted",
            source="Singh et al. [29, App. D.3.3] as quoted in 003 §3", assumptions=[*LINEAR, WHITENED, TWO_LAYERS])
def singh_lambda_max_is_max_norm(s):
    """lambda_max = max(||W1||_2^2, ||W2||_2^2) (scaled by sigma_x^2)."""
    return T.singh_lambda_max(*s.weights, s.sigma_x)


# ---- §4: dependence on data, eq (12)-(14) -----------------------------------------------------------------------
def end_to_end(s):
    P = s.weights[0]
    for W in s.weights[1:]:
        P = W @ P
    eps = np.finfo(float).eps
    return Measurement(P, np.full(P.shape, rounding(P.size, float(np.abs(P).max(initial=0.0)), eps)), "product",
                       P.size, eps)


@conjecture(setting=st.linear_networks(), quantity=end_to_end, operator="ggn", source="003 eq (12)",
            assumptions=[*LINEAR, WHITENED, ZERO_LOSS])
def eq12_end_to_end_map(s):
    """W_L ... W_1 = Y X^T / (n sigma_x^2) (our layout: Y^T X / (n sigma_x^2))."""
    return T.end_to_end_least_squares(s.X.numpy(), s.Y.numpy(), s.sigma_x)


def onehot_least_squares(alpha_max=hst.sampled_from([None, 0.5, 0.8, 1.0]), n_extra=hst.integers(0, 6)):
    """Balanced linear networks at the balanced least-squares solution for one-hot labels.

    ``n_extra=hst.just(0)`` (n = d0: whitened X is a scaled orthogonal matrix, so the labels are fitted
    exactly when the bottleneck allows) draws settings with zero loss, 003 Assumption 1."""
    return st.linear_networks(targets="one_hot", at_least_squares_solution=True, n_extra=n_extra, exact=False,
                              widths=st.widths(depth=hst.integers(1, 5)).filter(lambda w: w[-1] >= 2),
                              alpha_max=alpha_max)


AT_ZERO_LOSS = onehot_least_squares(n_extra=hst.just(0))
LEAST_SQUARES = "one-hot labels; weights at the balanced least-squares solution (eq 12), built in closed form"


def layer_singular_values_to_the_L(s):
    """sigma_i(W_1)^L, the left side of eq (13) as printed. (Comparing the L-th roots instead would amplify
    rounding: a zero singular value of the end-to-end map is ~eps, and eps^(1/L) is not small.)"""
    sv = np.linalg.svd(s.weights[0], compute_uv=False)[: min(s.widths)] ** s.depth
    eps = np.finfo(float).eps
    scale = float(sv.max(initial=0.0))
    return Measurement(sv, np.full(sv.shape, rounding(sv.size, scale, eps)), "svd(W_1)^L", sv.size, eps)


def eq13_prediction(s):
    """sigma_i(W)^L = sigma_i(Y) / (sqrt(n) sigma_x)."""
    return T.singular_values_from_labels(s.Y.numpy(), s.depth, s.sigma_x)[: min(s.widths)] ** s.depth


def eq14_prediction(s):
    """lambda_max = L sigma_x^{2/L} alpha_max^{1 - 1/L}."""
    return T.sharpness_from_labels(s.alpha_max, s.depth, s.sigma_x)


@conjecture(setting=AT_ZERO_LOSS, quantity=layer_singular_values_to_the_L, operator="ggn", source="003 eq (13)",
            assumptions=[*LINEAR, WHITENED, BALANCED, ZERO_LOSS, LEAST_SQUARES])
def eq13_singular_values_from_labels(s):
    """Under Assumption 1, as the paper states it: sigma_i(W)^L = sigma_i(Y) / (sqrt(n) sigma_x)."""
    return eq13_prediction(s)


@conjecture(setting=onehot_least_squares(), quantity=layer_singular_values_to_the_L, operator="ggn", expect="refuted",
            source="003 eq (13) beyond Assumption 1", assumptions=[*LINEAR, WHITENED, BALANCED, LEAST_SQUARES])
def eq13_beyond_zero_loss(s):
    """Eq (13) applied where the loss is not zero (n > d0 one-hot labels cannot be fitted)."""
    return eq13_prediction(s)


@conjecture(setting=onehot_least_squares(), quantity=layer_singular_values_to_the_L, operator="ggn",
            source="derived from 003 eq (12) (corrects eq 13 when the loss is not zero)",
            assumptions=[*LINEAR, WHITENED, BALANCED, LEAST_SQUARES])
def eq13_with_projected_labels(s):
    """sigma_i(W)^L = sigma_i(Pi_X Y) / (sqrt(n) sigma_x), Pi_X the projection on the column space of X."""
    return T.singular_values_from_labels(s.Y.numpy(), s.depth, s.sigma_x, X=s.X.numpy())[: min(s.widths)] ** s.depth


@conjecture(setting=AT_ZERO_LOSS, quantity="lambda_max", operator="ggn", source="003 eq (14), one-hot labels",
            assumptions=[*LINEAR, WHITENED, BALANCED, ZERO_LOSS, LEAST_SQUARES])
def eq14_sharpness_from_label_imbalance(s):
    """Under Assumption 1, as the paper states it: lambda_max = L sigma_x^{2/L} alpha_max^{1 - 1/L}."""
    return eq14_prediction(s)


@conjecture(setting=onehot_least_squares(), quantity="lambda_max", operator="ggn", expect="refuted",
            source="003 eq (14) beyond Assumption 1", assumptions=[*LINEAR, WHITENED, BALANCED, LEAST_SQUARES])
def eq14_beyond_zero_loss(s):
    """Eq (14) applied where the loss is not zero."""
    return eq14_prediction(s)


@conjecture(setting=onehot_least_squares(), quantity="lambda_max", operator="ggn",
            source="derived from 003 eq (9b) and (12) (corrects eq 14)",
            assumptions=[*LINEAR, WHITENED, BALANCED, LEAST_SQUARES])
def eq14_with_projected_labels(s):
    """lambda_max = L sigma_x^{2/L} n^{-(1-1/L)} sigma_max(Pi_X Y)^{2(1-1/L)}."""
    X, Y = s.X.numpy(), s.Y.numpy()
    proj = X @ (X.T @ Y) / (s.n * s.sigma_x**2)
    return T.sharpness_from_labels_singular_value(np.linalg.norm(proj, 2), s.n, s.depth, s.sigma_x)


INDEPENDENT_OF_N = ("Therefore, in this case, the sharpness at a balanced solution is independent of the dataset size n, "
                    "in disagreement with Cohen et al. [3, Figure 18], which suggests that sharpness of gradient-flow "
                    "solution increases with n.")


@conjecture(setting=onehot_least_squares(alpha_max=hst.sampled_from([0.5, 0.8, 1.0])), quantity="lambda_max",
            operator="ggn", expect="refuted", source="003 §4, after eq (14), beyond Assumption 1",
            assumptions=[*LINEAR, WHITENED, BALANCED, LEAST_SQUARES, "fixed alpha_max; the same recipe at 2n samples; "
                         "Assumption 1 cannot hold at both n and 2n > d0 with one-hot labels, so it is not required"],
            quote=INDEPENDENT_OF_N, reading="exact (applied beyond Assumption 1, as eq 13/14 beyond it)")
def sharpness_independent_of_n(s):
    """The sharpness at n samples equals the sharpness at 2n samples with the same label proportions."""
    doubled = build_setting(**{**s.spec, "n": 2 * s.n})
    assume(s.alpha_max == doubled.alpha_max == s.spec["alpha_max"])  # n * alpha_max whole: exact proportions
    return measure(doubled, "lambda_max", "ggn").value


def sharpness_of_duplicated_data(s):
    """lambda_max of the GGN at the same weights on the data set twice over (``[X; X]``, ``[Y; Y]``, 2n samples):
    the only way a second, larger one-hot data set of this whitened family also has zero loss (Assumption 1)."""
    from hessverify.operators import ggn as ggn_operator
    from hessverify.estimators import exact as exact_spectrum

    X2, Y2 = torch.cat([s.X, s.X]), torch.cat([s.Y, s.Y])
    r = exact_spectrum(ggn_operator(s.model, "mse", X2, Y2))
    eps = np.finfo(float).eps
    return Measurement(np.asarray(float(r.eigenvalues[0])), np.asarray(float(r.residuals[0])), "exact(ggn at 2n)",
                       s.num_params, eps)


@conjecture(setting=AT_ZERO_LOSS, quantity=sharpness_of_duplicated_data, operator="ggn",
            source="003 §4, after eq (14), under Assumption 1",
            assumptions=[*LINEAR, WHITENED, BALANCED, ZERO_LOSS, LEAST_SQUARES,
                         "the larger data set is the same samples twice (zero loss at both sizes)"],
            quote=INDEPENDENT_OF_N, reading="exact (under Assumption 1 at both sizes)")
def sharpness_independent_of_n_at_zero_loss(s):
    """Under Assumption 1 at n and at 2n: the sharpness at 2n (duplicated data) equals that at n (eq 14)."""
    return measure(s, "lambda_max", "ggn").value


@conjecture(setting=hst.one_of(st.linear_networks(), st.mlps(targets="zero_loss")), quantity="dense",
            operator="hessian", source="003 eq (3), Assumption 1",
            assumptions=[mse_loss(), ZERO_LOSS, "any network, linear or tanh"])
def eq3_ggn_equals_hessian_at_zero_loss(s):
    """At zero loss the Hessian equals the GGN."""
    return measure(s, "dense", "ggn").value
