"""Predictions against certified measurements.

A measurement carries an error bound from its estimator's certificate (``exact``: backward error of the
dense eigensolver; Lanczos: Ritz residuals; Hutchinson: a 99.9% interval). A comparison accepts a
prediction when it differs from the measurement by at most that bound plus the rounding of building the
operator in the setting's dtype (``ROUNDING_ULPS * d * eps * scale``, see :func:`rounding`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import warnings

import numpy as np
import torch

from hessverify.estimators import exact, hutchinson, lanczos
from hessverify.operators import ggn, hessian, ntk

Quantity = Literal["spectrum", "top_k", "lambda_max", "lambda_min", "trace", "rank", "dense"]
QUANTITIES = ("spectrum", "top_k", "lambda_max", "lambda_min", "trace", "rank", "dense")
OPERATORS = ("ggn", "hessian", "ntk", "matrix")
RELATIONS = ("eq", "le", "ge")
#: dense eigensolvers are used up to this size; larger operators go through Lanczos / Hutchinson
EXACT_MAX = 1500
#: The operator is assembled in floating point from weights and data that meet their defining identities
#: (balance, whitening, orthonormality) only to O(eps) each, and each of its d-term inner products adds
#: O(eps * scale); 8 ulps per dimension covers both with margin and stays 10^3x below any effect a claim
#: is about (checked in tests/test_compare.py against perturbed predictions).
ROUNDING_ULPS = 8
#: a certificate looser than this fraction of the quantity's scale gets a warning: it cannot support a verdict
#: about effects of that size
LOOSE_CERTIFICATE = 1e-3


@dataclass(frozen=True)
class Measurement:
    """``value`` with a bound ``error`` (broadcastable) on its distance to the exact quantity."""

    value: np.ndarray
    error: np.ndarray
    method: str
    size: int
    eps: float
    num_matvecs: int = 0
    #: magnitude errors are relative to; default max(|measurement|, |prediction|). Set it for quantities that
    #: are already relative (a normalised residual: scale 1)
    scale: float | None = None


@dataclass(frozen=True)
class Verdict:
    ok: bool
    max_abs_error: float
    max_rel_error: float
    tolerance: float
    where: int | None
    message: str


def rounding(size: int, scale: float, eps: float) -> float:
    """Rounding allowance ``ROUNDING_ULPS * size * eps * scale``."""
    return ROUNDING_ULPS * max(size, 1) * eps * scale


def build_operator(setting, operator: str):
    """The operator of ``setting`` named ``operator`` (``matrix``: the setting's own symmetric matrix)."""
    if operator not in OPERATORS:
        raise ValueError(f"operator={operator!r} is not supported; use one of {OPERATORS}")
    if operator == "matrix":
        if setting.matrix is None:
            raise ValueError("operator='matrix' needs a symmetric_matrices() setting")
        return torch.as_tensor(setting.matrix)
    if operator == "ntk":
        return ntk(setting.model, setting.X)
    if operator == "hessian":
        return hessian(setting.model, setting.loss, setting.X, setting.targets)
    return ggn(setting.model, setting.loss, setting.X, setting.targets)


def _spectrum(setting, operator: str):
    """All eigenvalues (descending) and per-value bounds, on the cheaper exact side when possible."""
    op = build_operator(setting, operator)
    d = op.shape[0]
    if operator == "ggn" and setting.loss == "mse":
        m = setting.n * setting.dL
        if m < d:  # 003 eq (3)-(5): GGN and NTK share non-zero eigenvalues; the rest are zero
            r = exact(ntk(setting.model, setting.X))
            vals = np.concatenate([r.eigenvalues.double().numpy(), np.zeros(d - m)])
            err = np.concatenate([r.residuals.double().numpy(), np.full(d - m, float(r.residuals.max()))])
            return vals, err, d, "exact(ntk)+zeros", r.num_matvecs
    if d > EXACT_MAX:
        raise ValueError(f"the whole spectrum of a {d}x{d} operator is too large to verify exactly (max {EXACT_MAX})")
    r = exact(op)
    return r.eigenvalues.double().numpy(), r.residuals.double().numpy(), d, "exact", r.num_matvecs


def measure(setting, quantity, operator: str = "ggn", k: int | None = None) -> Measurement:
    """Measure ``quantity`` of ``operator`` on ``setting`` with a certified estimator."""
    eps = float(torch.finfo(setting.dtype).eps) if operator != "matrix" else float(np.finfo(float).eps)
    if callable(quantity):
        out = quantity(setting)
        if isinstance(out, Measurement):
            return out
        value = np.asarray(out, dtype=float)
        size = int(value.size)
        return Measurement(value, np.zeros_like(value), getattr(quantity, "__name__", "callable"), size, eps)
    if quantity not in QUANTITIES:
        raise ValueError(f"quantity={quantity!r} is not supported; use one of {QUANTITIES} or a callable")
    if quantity == "dense":
        op = build_operator(setting, operator)
        M = op.dense() if hasattr(op, "dense") else op
        M = M.double().numpy()
        return Measurement(M, np.zeros_like(M), "dense", M.shape[0], eps)
    op_size = build_operator(setting, operator).shape[0]
    if quantity in ("top_k", "lambda_max", "lambda_min") and op_size > EXACT_MAX:
        kk = 1 if quantity != "top_k" else int(k)
        r = lanczos(build_operator(setting, operator), k=kk, which="SA" if quantity == "lambda_min" else "LA", seed=0)
        vals, err = r.eigenvalues.double().numpy(), r.residuals.double().numpy()
        if quantity != "top_k":
            vals, err = vals[0], err[0]
        return Measurement(np.asarray(vals), np.asarray(err), "lanczos", op_size, eps, r.num_matvecs)
    if quantity == "trace" and op_size > EXACT_MAX:
        t = hutchinson(build_operator(setting, operator), 1000, seed=0, rtol=1e-3)
        lo, hi = t.ci(0.999)
        return Measurement(np.asarray(t.value), np.asarray((hi - lo) / 2), "hutchinson", op_size, eps, t.num_matvecs)
    vals, err, d, method, mv = _spectrum(setting, operator)
    if quantity == "spectrum":
        return Measurement(vals, err, method, d, eps, mv)
    if quantity == "top_k":
        if k is None:
            raise ValueError("quantity='top_k' needs k=")
        return Measurement(vals[:k], err[:k], method, d, eps, mv)
    if quantity == "lambda_max":
        return Measurement(vals[0], err[0], method, d, eps, mv)
    if quantity == "lambda_min":
        return Measurement(vals[-1], err[-1], method, d, eps, mv)
    scale = float(np.abs(vals).max()) if vals.size else 0.0
    if quantity == "trace":
        return Measurement(np.asarray(vals.sum()), np.asarray(err.sum()), method, d, eps, mv)
    # rank: eigenvalues that are non-zero beyond their certificate and the rounding allowance
    threshold = err + rounding(d, scale, eps)
    return Measurement(np.asarray(float((np.abs(vals) > threshold).sum())), np.asarray(0.0), method, d, eps, mv)


def compare(prediction, measurement: Measurement, relation: str = "eq", *, sort: bool = False) -> Verdict:
    """Accept ``prediction`` if ``|prediction - measurement| <= error + rounding`` (``eq``), or the
    measurement is at most (``le``) / at least (``ge``) the prediction within that allowance."""
    if relation not in RELATIONS:
        raise ValueError(f"relation={relation!r} is not supported; use one of {RELATIONS}")
    pred = np.asarray(prediction, dtype=float)
    meas = np.asarray(measurement.value, dtype=float)
    if pred.size == 1 and meas.size == 1:
        pred = pred.reshape(meas.shape)
    if sort and pred.ndim == 1:
        pred = np.sort(pred)[::-1]
    if pred.shape != meas.shape:
        raise ValueError(
            f"the prediction has shape {pred.shape} but the measurement has {meas.shape}; a spectrum prediction "
            "must list every eigenvalue (zeros included), a top_k one exactly k values"
        )
    if not np.all(np.isfinite(pred)):
        raise ValueError("the prediction contains NaN or Inf")
    scale = measurement.scale if measurement.scale is not None else max(
        float(np.abs(meas).max(initial=0.0)), float(np.abs(pred).max(initial=0.0)))
    tol = np.broadcast_to(np.asarray(measurement.error, float), meas.shape) + rounding(measurement.size, scale,
                                                                                       measurement.eps)
    certificate = float(np.max(np.asarray(measurement.error, float), initial=0.0))
    if scale > 0 and certificate > LOOSE_CERTIFICATE * scale:
        warnings.warn(
            f"the {measurement.method} certificate allows an error of {certificate / scale:.1e} relative to the "
            f"quantity's scale: the comparison cannot resolve effects smaller than that (tighten the estimator's tol)",
            RuntimeWarning, stacklevel=2)
    diff = meas - pred
    bad = {"eq": np.abs(diff) > tol, "le": diff > tol, "ge": -diff > tol}[relation]
    # eq: the largest |difference|; le/ge: the largest violation of the bound (0 when it holds with slack)
    gap = {"eq": np.abs(diff), "le": np.maximum(diff, 0.0), "ge": np.maximum(-diff, 0.0)}[relation]
    abs_err = float(gap.max(initial=0.0))
    rel_err = abs_err / scale if scale > 0 else abs_err
    where = int(np.argmax(np.abs(diff).ravel() - np.ravel(tol))) if bad.any() else None
    if bad.any():
        i = np.unravel_index(where, meas.shape) if meas.ndim else ()
        sym = {"eq": "==", "le": "<=", "ge": ">="}[relation]
        msg = (f"measured {meas[i]:.10g} ({measurement.method}) {sym} predicted {pred[i]:.10g} fails at index "
               f"{tuple(int(x) for x in i)}: difference {float(diff[i]):.3g} exceeds tolerance {float(tol[i]):.3g}")
    else:
        msg = "ok"
    return Verdict(not bad.any(), abs_err, rel_err, float(tol.max(initial=0.0)), where, msg)
