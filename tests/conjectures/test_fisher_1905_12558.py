"""Kunstner, Balles, Hennig, "Limitations of the empirical Fisher approximation for natural gradient descent",
NeurIPS 2019 (arXiv 1905.12558).

What we read: the abstract and the first paragraph of the introduction (quoted below). We could not read the
paper's sections 3-4 (its propositions on the generalised Gauss-Newton and on when the empirical Fisher
approaches the Fisher), so no claim here cites a proposition number. What the claims encode:

- the Fisher of an exponential family in its natural parameters is the GGN (the identity behind "unlike the
  Fisher"; standard, e.g. Martens 2020): the GGN of hessverify (``ggn``) against the Fisher computed by its
  *definition*, an expectation of score outer products over the model's predictive distribution, summed exactly
  (:mod:`hessverify.literature.fisher_definition`), for softmax cross-entropy and squared error, tanh and ReLU
  MLPs of every shape the strategies draw (saturated softmax, tiny and huge weights, awkward inputs);
- the empirical Fisher (EF) equals the Fisher *in expectation* when the labels are drawn from the model itself (a
  correctly specified model): the condition under which the abstract says the EF approaches the Fisher, as a
  statistical claim on ``u^T F~ u`` over label draws (anytime-valid confidence sequence);
- "does not generally capture second-order information": at a perfect fit of a regression (zero residuals) the
  Hessian *is* the Fisher while the EF is *zero*, exactly; and the claim that the EF equals the Fisher (the
  argument the paper disputes) is refuted on ordinary settings, as the paper says.
"""
import numpy as np
import torch
from hypothesis import strategies as hst

from hessverify import conjecture
from hessverify.claims import Measurement, build_setting, strategies as st
from hessverify.claims.assumptions import Assumption
from hessverify.claims.profiles import active_profile
from hessverify.claims.sequential import ALPHA, sequential_mean
from hessverify.literature.fisher_definition import (empirical_fisher_by_definition, fisher_by_definition,
                                                     per_sample_gradients)
from hessverify.operators import empirical_fisher, fisher, ntk

ABSTRACT = ("We dispute this argument by showing that the empirical Fisher—unlike the Fisher—does not generally "
            "capture second-order information.")
CONDITIONS = ("We further argue that the conditions under which the empirical Fisher approaches the Fisher (and the "
              "Hessian) are unlikely to be met in practice, and that, even on simple optimization problems, the "
              "pathologies of the empirical Fisher can have undesirable effects.")
FRAMEWORK = ("We assume a probabilistic model for the conditional distribution of the form p_theta(y|x) = "
             "p(y|f(x, theta)), where p(y|.) is an exponential family with natural parameters in F and f : X x R^D "
             "-> F is a prediction function parameterized by theta in R^D.")
EXAMPLES = None if active_profile() == "verify" else 10


def mlps(**options):
    """tanh and ReLU MLPs of the strategies (every shape, scale and input recipe they draw)."""
    return hst.one_of(st.mlps("tanh", **options), st.mlps("relu", **options))


def fisher_prediction(s):
    """The Fisher by its definition (an exact expectation over the model's predictive distribution)."""
    return fisher_by_definition(s.model, s.loss, s.X)[0].numpy()


def fisher_rounding(s):
    """The definition's own rounding: 8 ulps per summed term, elementwise."""
    return fisher_by_definition(s.model, s.loss, s.X)[1].numpy()


def softmax_above(p_min: float, why: str) -> Assumption:
    """Every class probability of every sample is at least ``p_min`` (cross-entropy settings)."""
    def holds(s) -> bool:
        if s.loss != "cross_entropy":
            return True
        with torch.no_grad():
            return float(torch.softmax(s.model(s.X), dim=1).min()) >= p_min
    return Assumption("softmax_not_saturated", f"every class probability >= {p_min:g} ({why})", holds)


@conjecture(setting=mlps(loss="cross_entropy"), quantity="dense", operator="ggn",
            assumptions=[softmax_above(1e-6, "a saturated softmax computes p (1 - p) as 0 to rounding: both sides are "
                                             "0 +- eps ||J||^2, which floating point cannot resolve")],
            examples=EXAMPLES, source="1905.12558 (Fisher = GGN, cross-entropy)", quote=FRAMEWORK,
            reading="identity (softmax cross-entropy: categorical in its natural parameters, the logits)",
            prediction_error=fisher_rounding)
def kunstner2019_fisher_equals_ggn_cross_entropy(s):
    """(1/n) sum_i sum_c p_ic grad l_i(c) grad l_i(c)^T = (1/n) sum_i J_i^T (diag p_i - p_i p_i^T) J_i."""
    return fisher_prediction(s)


@conjecture(setting=mlps(loss="mse"), quantity="dense", operator="ggn",
            examples=EXAMPLES, source="1905.12558 (Fisher = GGN, squared error)", quote=FRAMEWORK,
            reading="identity (squared error: Gaussian N(f, I) in its natural parameter, the mean)",
            prediction_error=fisher_rounding)
def kunstner2019_fisher_equals_ggn_mse(s):
    """(1/n) sum_i E_{y ~ N(f_i, I)} grad l_i(y) grad l_i(y)^T = (1/n) sum_i J_i^T J_i."""
    return fisher_prediction(s)


def perfect_fit_empirical_fisher(s):
    """hessverify's ``empirical_fisher`` at the setting's targets, judged relative to the Fisher's scale."""
    EF = empirical_fisher(s.model, s.loss, s.X, s.loss_targets).dense().double().numpy()
    scale = float(np.abs(fisher_prediction(s)).max())
    return Measurement(EF, np.zeros_like(EF), "empirical_fisher (dense)", EF.shape[0], float(np.finfo(float).eps),
                       scale=scale)


def nonzero_fisher() -> Assumption:
    return Assumption("nonzero_fisher", "the Fisher is not zero (the network's output depends on its weights)",
                      lambda s: float(np.abs(fisher_prediction(s)).max()) > 0)


@conjecture(setting=mlps(loss="mse", targets="zero_loss"),
            quantity=perfect_fit_empirical_fisher, examples=EXAMPLES, prediction_error=0.0,
            source="1905.12558 (EF at a perfect fit)", quote=ABSTRACT, assumptions=[nonzero_fisher()],
            reading="identity (squared error at a perfect fit: every residual is zero, so every per-sample gradient is)")
def kunstner2019_empirical_fisher_vanishes_at_a_perfect_fit(s):
    """F~ = 0 (relative to the Fisher's scale) when f(x_i) = y_i for every sample."""
    return np.zeros((s.num_params, s.num_params))


@conjecture(setting=mlps(loss="mse", targets="zero_loss"), quantity="dense",
            operator="hessian", examples=EXAMPLES, prediction_error=fisher_rounding,
            source="1905.12558 (Hessian at a perfect fit)", quote=ABSTRACT,
            reading="identity (squared error at a perfect fit: H = G + sum_i r_i d^2 f_i, and every r_i is zero)")
def kunstner2019_hessian_equals_fisher_at_a_perfect_fit(s):
    """H = F when every residual is zero: the Fisher captures the second-order information the EF lost."""
    return fisher_prediction(s)


@conjecture(setting=mlps(loss="cross_entropy"),
            quantity=lambda s: Measurement(empirical_fisher_by_definition(s.model, s.loss, s.X, s.loss_targets).numpy(),
                                           np.zeros((s.num_params, s.num_params)), "empirical Fisher (definition)",
                                           s.num_params, float(np.finfo(float).eps)),
            examples=EXAMPLES, expect="refuted", prediction_error=fisher_rounding,
            also=[build_setting(kind="mlp", widths=(3, 4, 3), n=6, activation="tanh", bias=True,
                                loss="cross_entropy", seed=0)],
            source="1905.12558 (the argument it disputes)", quote=ABSTRACT,
            reading="exact (the argument the paper disputes: 'the empirical Fisher equals the Fisher'; refuted, as "
                    "the paper says, on ordinary settings)")
def kunstner2019_disputed_empirical_fisher_equals_fisher(s):
    """F~ = F at the observed labels: false in general (a record that agrees with the paper)."""
    return fisher_prediction(s)


# --- the condition under which the EF approaches the Fisher: labels drawn from the model (statistical) -----------

#: the declared resolution of the statistical claim (relative): 1e-3 would need ~10^8 label draws
RESOLUTION = 0.01
BUDGET, FIRST = 2**20, 2**12
#: the least class probability admitted: the asymptotic confidence sequence needs draws whose mean is not carried
#: by labels rarer than the budget can see
MIN_PROBABILITY = 1e-3


def quadratic_form_over_model_labels(s, prediction=None, rel_resolution=None):
    """The mean over label draws ``y_i ~ q(.|f_i)`` of ``u^T F~(y) u = (1/n) sum_i (g_i(y_i) . J_i u)^2`` for a
    seeded unit ``u``; ``g_i`` the output gradient, ``J_i u`` from hessverify's NTK Jacobian. The first draw is
    checked against hessverify's ``empirical_fisher`` at the drawn labels; a mismatch is an error."""
    g = torch.Generator().manual_seed(int(s.spec["seed"]))
    u = torch.randn(s.num_params, generator=g, dtype=torch.float64)
    u /= torch.linalg.vector_norm(u)
    J = ntk(s.model, s.X).jacobian().double().reshape(s.n, s.dL, -1)
    Ju = (J @ u).numpy()  # (n, dL)
    with torch.no_grad():
        out = s.model(s.X).double()
    rng = np.random.default_rng([int(s.spec["seed"]), 27])
    if s.loss == "cross_entropy":
        P = torch.softmax(out, dim=1).numpy()
        cum = np.cumsum(P, axis=1)

        def labels(m):
            draws = (rng.random((m, s.n, 1)) < cum[None]).argmax(axis=2)
            return draws

        def values(draws):
            G = P[None] - np.eye(s.dL)[draws]  # (m, n, dL): softmax(f) - e_y
            return ((G * Ju[None]).sum(2) ** 2).mean(1)
    else:
        F_out = out.numpy()

        def labels(m):
            return F_out[None] + rng.standard_normal((m, s.n, s.dL))

        def values(draws):
            G = F_out[None] - draws  # f - y
            return ((G * Ju[None]).sum(2) ** 2).mean(1)

    first = labels(1)
    targets = torch.as_tensor(first[0])
    EF = empirical_fisher(s.model, s.loss, s.X, targets)
    library = float(u @ EF.matvec(u))
    reference = float(values(first)[0])
    check = per_sample_gradients(s.model, s.loss, s.X, targets) @ u
    assert abs(float((check**2).mean()) - reference) <= 1e-9 * max(abs(reference), 1e-300)
    if abs(library - reference) > 1e-9 * max(abs(reference), 1e-300):
        raise AssertionError(f"empirical_fisher gives u^T F~ u = {library!r}, the per-sample definition {reference!r}")
    p = None if prediction is None else float(prediction)
    res = None if p is None else (rel_resolution or RESOLUTION) * abs(p)
    return sequential_mean(lambda m: values(labels(m)), prediction=p, resolution=res, budget=BUDGET, first=FIRST,
                           method="mean of u^T F~ u over labels drawn from the model")


quadratic_form_over_model_labels.sampled = True


def fisher_quadratic_form(s):
    """``u^T F u`` from hessverify's ``fisher`` (exact: the GGN for these losses), the same seeded ``u``."""
    g = torch.Generator().manual_seed(int(s.spec["seed"]))
    u = torch.randn(s.num_params, generator=g, dtype=torch.float64)
    u /= torch.linalg.vector_norm(u)
    return float(u @ fisher(s.model, s.loss, s.X, s.loss_targets).matvec(u))


def nonzero_quadratic_form() -> Assumption:
    return Assumption("nonzero_u_F_u", "u^T F u > 1e-12 (a relative resolution of zero is undefined)",
                      lambda s: fisher_quadratic_form(s) > 1e-12)


def small_mlps(loss: str):
    """MLPs small enough for 10^6 label draws of every sample in seconds."""
    return mlps(loss=loss, n_extra=hst.integers(0, 4),
                   widths=st.widths(depth=hst.integers(1, 3), width=hst.integers(2, 5), max_params=80))


@conjecture(setting=hst.one_of(small_mlps("cross_entropy"), small_mlps("mse")),
            quantity=quadratic_form_over_model_labels, examples=None if active_profile() == "verify" else 4,
            resolution=RESOLUTION, prediction_error=0.0, source="1905.12558 (EF with labels from the model)",
            quote=CONDITIONS,
            assumptions=[softmax_above(MIN_PROBABILITY, "the draws' mean must not be carried by labels too rare to be "
                                                           "drawn"), nonzero_quadratic_form(),
                         f"statistical: labels drawn from the model's predictive distribution (a correctly specified "
                         f"model); anytime-valid confidence sequence at level {1 - ALPHA}, declared resolution "
                         f"{RESOLUTION:g} relative"],
            reading="statistical (the expectation over labels drawn from the model: the condition under which the EF "
                    "approaches the Fisher)")
def kunstner2019_empirical_fisher_is_unbiased_for_labels_from_the_model(s):
    """E_{y ~ q}[u^T F~(y) u] = u^T F u."""
    return fisher_quadratic_form(s)
