"""The number of outliers of a classifier's Hessian spectrum by a stated rule (Sagun, Bottou, LeCun 2016, arXiv
1611.07476; Sagun, Evci, Guney, Dauphin, Bottou 2017, arXiv 1706.04454; Papyan 2020, arXiv 2008.11865).

"Outlier" is informal in these papers (Papyan's Definition 1.2 describes them as eigenvalues set apart from a
bulk), so the count needs a rule fixed before measuring. Ours, :func:`largest_gap_count`: with
``lambda_1 >= ... >= lambda_{2C}`` the top ``2C`` eigenvalues (``C`` classes), the count is the ``k`` in
``1 .. 2C - 1`` that maximises the relative gap ``lambda_k / lambda_{k+1}``: the outliers are the values above the
largest relative gap among the top ``2C``. A count of ``C`` or ``C - 1`` needs no threshold, and a spectrum whose
largest gap is after the first value (one outlier, no class structure) is counted as 1.

The eigenvalues come from :func:`hessverify.estimators.lanczos` with certified multiplicities: each
``lambda_k`` lies in ``[theta_k - r_k, theta_k + r_k]`` unless a larger eigenvalue was missed (Kuczynski-
Wozniakowski failure probability, reported). Each ratio then lies in an interval, and every ``k`` whose ratio
could be the largest is a possible count: the count is an interval ``[k_lo, k_hi]``, a single value when the
largest gap is resolved.
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from hessverify._validation import as_int
from hessverify.claims.verdict import Measurement
from hessverify.estimators import lanczos
from hessverify.estimators.result import SpectralResult
from hessverify.literature.classifier_runs import SAMPLES, classifier_run
from hessverify.literature.descent import restore
from hessverify.literature.runs import RunSetting, cached
from hessverify.operators import hessian

#: residual tolerance of the Lanczos runs (relative to the top eigenvalue)
TOL = 1e-6


def top_eigenvalues(model: torch.nn.Module, X: torch.Tensor, labels: torch.Tensor, k: int, *,
                    seed: int = 0, eigenvectors: bool = False) -> SpectralResult:
    """The top ``k`` eigenvalues of the cross-entropy Hessian of ``model`` on ``(X, labels)``, certified
    (:func:`hessverify.estimators.lanczos`, ``tol = TOL``)."""
    H = hessian(model, "cross_entropy", X, labels)
    return lanczos(H, k=as_int("k", k, minimum=1), seed=seed, tol=TOL, return_eigenvectors=eigenvectors)


def gap_ratio_bounds(theta: np.ndarray, residuals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of ``lambda_k / lambda_{k+1}`` for ``k = 1 .. len(theta) - 1`` from values within
    their residuals (an upper bound is ``inf`` where ``lambda_{k+1}`` may be ``<= 0``)."""
    lo_vals, hi_vals = theta - residuals, theta + residuals
    with np.errstate(divide="ignore"):
        lower = np.where(hi_vals[1:] > 0, lo_vals[:-1] / hi_vals[1:], np.inf)
        upper = np.where(lo_vals[1:] > 0, hi_vals[:-1] / lo_vals[1:], np.inf)
    return lower, upper


def largest_gap_count(theta, residuals=None) -> tuple[int, int]:
    """The outlier count by the largest relative gap (module docstring) as an interval ``(k_lo, k_hi)``.

    Parameters
    ----------
    theta : array_like
        The top eigenvalues, descending (``2C`` of them), positive.
    residuals : array_like, optional
        Their certificates (zero: exact values).

    Returns
    -------
    (int, int)
        Every ``k`` between them may be the position of the largest gap; equal when it is resolved.
    """
    theta = np.asarray(theta, dtype=float)
    if theta.ndim != 1 or theta.size < 2:
        raise ValueError(f"theta must hold at least two eigenvalues, got shape {theta.shape}")
    if np.any(np.diff(theta) > 0):
        raise ValueError("theta must be sorted in descending order")
    if theta[-1] <= 0:
        raise ValueError(f"the gap rule needs positive eigenvalues; the smallest given is {theta[-1]:.3g}")
    res = np.zeros_like(theta) if residuals is None else np.abs(np.asarray(residuals, dtype=float))
    lower, upper = gap_ratio_bounds(theta, res)
    possible = np.nonzero(upper >= lower.max())[0] + 1
    return int(possible.min()), int(possible.max())


def outlier_count(result: SpectralResult, num_classes: int) -> Measurement:
    """The count of :func:`largest_gap_count` over the top ``2C`` values of ``result`` as a count
    :class:`Measurement` (``value +- error`` the interval of possible counts)."""
    C = as_int("num_classes", num_classes, minimum=1)
    theta = result.eigenvalues.double().cpu().numpy()[: 2 * C]
    res = result.residuals.double().cpu().numpy()[: 2 * C]
    if theta.size < 2 * C:
        raise ValueError(f"the count needs the top 2C = {2 * C} eigenvalues; the result holds {theta.size}")
    lo, hi = largest_gap_count(theta, res)
    p = result.multiplicity_failure_probability
    ratios = theta[:-1] / theta[1:]
    note = (f"largest relative gap lambda_k / lambda_(k+1) among the top {2 * C}: {ratios.max():.2f}x after "
            f"#{int(np.argmax(ratios)) + 1}" + (f" (counts {lo}..{hi} possible within the residuals)" if hi > lo else "")
            + (f"; no eigenvalue missed with failure probability <= {p:.1e}" if p is not None else
               "; multiplicities not certified"))
    return Measurement(np.asarray((lo + hi) / 2), np.asarray((hi - lo) / 2), "largest-gap outlier count (lanczos)",
                       int(result.eigenvectors.shape[0]) if result.eigenvectors is not None else 2 * C,
                       float(np.finfo(float).eps), result.num_matvecs, count=True, note=note)


def spectrum_at_zero_error(setting: RunSetting) -> SpectralResult | None:
    """The top ``2C + 1`` Hessian eigenvalues of the setting's SGD run at its first epoch with zero training error
    (None if the run never reached it); cached."""
    run = classifier_run(setting, SAMPLES)
    if run.zero_error_params is None:
        return None

    def compute() -> SpectralResult:
        model = restore(copy.deepcopy(setting.model), run.zero_error_params)
        return top_eigenvalues(model, setting.X, setting.labels, 2 * setting.spec["num_classes"] + 1,
                               seed=setting.spec["seed"])

    return cached("spectrum_at_zero_error", setting, compute)


def outliers_at_zero_error(setting: RunSetting) -> Measurement:
    """The outlier count (:func:`outlier_count`) of the setting's classifier at zero training error."""
    result = spectrum_at_zero_error(setting)
    if result is None:
        raise ValueError("the run never reached zero training error: no outlier count to read")
    return outlier_count(result, setting.spec["num_classes"])
