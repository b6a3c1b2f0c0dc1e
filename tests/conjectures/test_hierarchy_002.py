"""The claims of 002 (Papyan, "The full spectrum of deepnet Hessians at scale"): the Gauss-Newton split and
the three-level hierarchical decomposition of G for cross-entropy."""
import numpy as np
import torch

from hessverify import conjecture, strategies as st
from hessverify.claims.assumptions import Assumption, cross_entropy_loss
from hessverify.claims import Measurement
from hessverify.exact import exact_rank, rational_array
from hessverify.exact.construct import to_fmpq_mat
from hessverify.operators import ntk
from hessverify.operators._functional import FlatModel
from theory import hierarchy as Hy

CE_MLPS = st.mlps(activation="tanh", loss="cross_entropy")
# 002's setting: n training examples in each of the C classes
CE_MLPS_BALANCED = st.mlps(activation="tanh", loss="cross_entropy", alpha_max=lambda w: 1.0 / w[-1]).filter(
    lambda s: len(set(torch.bincount(s.labels, minlength=s.dL).tolist())) == 1)
def _unsaturated(s) -> bool:
    with torch.no_grad():
        P = torch.softmax(s.model(s.X).double(), dim=1)
    return bool((1 - P.max(dim=1).values).min() >= 1e-6)


#: where float64 can decide: a saturated softmax has p (1 - p) below the rounding of p itself, so its GGN entries
#: are rounding noise (such examples are inconclusive by the softmax rounding allowance; they are set aside here
#: and counted, so the table shows how many of the drawn networks were saturated)
UNSATURATED = Assumption("softmax_not_saturated", "1 - max_k p_ik >= 1e-6 for every sample (float64 resolves "
                         "the GGN; saturated networks are set aside and counted)", _unsaturated)
ASSUME = [cross_entropy_loss(), UNSATURATED, "mean over all N samples, any class counts; tanh MLP with biases"]
EQUAL_CLASSES = Assumption("equal_class_counts", "n samples in every class (002's setting)",
                           lambda s: len(set(torch.bincount(s.labels, minlength=s.dL).tolist())) == 1)


def jacobians_and_probs(s):
    """Per-sample output Jacobians (N, C, p), softmax probabilities (N, C) and labels, in float64."""
    J = ntk(s.model, s.X).jacobian().reshape(s.n, s.dL, -1).numpy()
    with torch.no_grad():
        P = torch.softmax(s.model(s.X), dim=1).numpy()
    return J, P, s.labels.numpy()


def second_order_term(s) -> np.ndarray:
    """002 eq (2): H = (1/N) sum_i sum_k (d loss / d z_ik) d^2 z_ik / d theta^2, by autograd on the
    residual-weighted outputs (the residual held fixed)."""
    fm = FlatModel(s.model)
    with torch.no_grad():
        out = fm(fm.theta0, s.X)
        R = torch.softmax(out, 1) - torch.nn.functional.one_hot(s.labels, s.dL).to(out.dtype)
    return torch.autograd.functional.hessian(lambda t: (R * fm(t, s.X)).sum() / s.n, fm.theta0).numpy()


@conjecture(setting=CE_MLPS, quantity="dense", operator="hessian", source="002 eq (2)", assumptions=ASSUME)
def gauss_newton_split(s):
    """Hess = G + H, G the Gauss-Newton term, H the residual-weighted second derivatives of the outputs."""
    J, P, _ = jacobians_and_probs(s)
    return Hy.gauss_newton(J, P) + second_order_term(s)


@conjecture(setting=CE_MLPS_BALANCED, quantity="dense", operator="ggn", expect="refuted",
            source="002 eq (4)-(5), eq (25)",
            assumptions=[*ASSUME, EQUAL_CLASSES, "Sigma_c centred at g_{c'} as printed"])
def hierarchical_decomposition_as_printed(s):
    """G = A1 + A2 + B1 + B2 with Sigma_c = (1/p_c) sum_{c' != c} p_{c,c'} (g_{c,c'} - g_{c'})(...)^T."""
    return sum(Hy.ggn_decomposition(*jacobians_and_probs(s), as_printed=True).values())


@conjecture(setting=CE_MLPS, quantity="dense", operator="ggn", source="002 eq (32), Appendix A (Sigma_c centred at g_c)",
            assumptions=ASSUME)
def hierarchical_decomposition(s):
    """G = A1 + A2 + B1 + B2 with Sigma_c centred at g_c (the weighted mean it is built around)."""
    return sum(Hy.ggn_decomposition(*jacobians_and_probs(s)).values())


def rank_of_A1(s):
    """``rank A1 = rank F`` for its factor ``F`` (``A1 = F^T F``, ``F`` the ``C`` weighted class means), exactly:
    the floats of ``F`` are rationals. (The dense float ``A1`` cannot be used: its rounding makes it full rank.)"""
    F = Hy.a1_factor(*jacobians_and_probs(s))
    r = exact_rank(to_fmpq_mat(rational_array(F)))
    return Measurement(np.asarray(float(r)), np.asarray(0.0), "exact rank of A1's factor", F.shape[1], 0.0,
                       count=True)


@conjecture(setting=CE_MLPS, quantity=rank_of_A1, operator="ggn", relation="le", source="002 §5.1, eq (5)",
            assumptions=ASSUME, textbook=True)
def rank_A1_at_most_C(s):
    """A1 = sum_c (p_c / N) g_c g_c^T has rank at most C (a sum of C outer products: linear algebra, a sanity
    check of the decomposition's shape)."""
    return s.dL
