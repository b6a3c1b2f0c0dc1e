"""A prediction against a certified measurement: ``holds``, ``refuted``, ``inconclusive`` or ``error``.

The measured value ``m`` carries a bound ``e`` on its distance to the exact quantity (the estimator's
certificate); building the operator in floating point adds ``rounding(d, scale, eps)``. With
``tol = e + rounding`` and ``diff = m - prediction``:

- **error**: the prediction, the measurement or its certificate is NaN/Inf (or the certificate is negative).
  Nothing is judged from such numbers.
- **refuted**: the difference is certain: ``|diff| > tol`` (``eq``), ``diff > tol`` (``le``: measurement at
  most the prediction), ``-diff > tol`` (``ge``).
- **holds**: not refuted, and the allowance is small enough to mean something: ``tol <= resolution``, where
  the resolution is ``RESOLUTION * scale`` for a continuous quantity (a "holds" says "equal to 1e-3 of the
  quantity's magnitude, or better") and a single value for a count. A bound that holds with slack beyond the
  allowance (``m + tol <= prediction`` for ``le``) holds whatever the allowance.
- **inconclusive**: not refuted, but the allowance is wider than the resolution: the certificate would have
  to shrink by ``tol / resolution`` before the numbers could say "holds" (``Verdict.shrink_needed``).

The allowance also carries the prediction's own rounding (``prediction_error``, absolute): a closed form
evaluated in floating point is itself off by its condition times ``eps`` (``(a^L - b^L) / (a - b)`` near
``a = b`` loses ``eps / |a - b|``), and that must not count against the claim (:mod:`hessverify.claims.rounding`
estimates it).

A **sampled** measurement (``Measurement.sampled``: a Monte-Carlo mean with an anytime-valid confidence
sequence, :mod:`hessverify.claims.sequential`) is judged on its interval ``[m - e, m + e]``: refuted when the
interval excludes the prediction, holds only when the whole interval lies within the resolution of the
prediction (``|diff| + e <= resolution``), inconclusive otherwise. Its verdict message states that resolution
("holds to +-1e-3 relative at level 0.999").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from hessverify._validation import as_bool

Status = Literal["holds", "refuted", "inconclusive", "error"]
STATUSES: tuple[str, ...] = ("holds", "refuted", "inconclusive", "error")
RELATIONS = ("eq", "le", "ge")
#: The operator is assembled in floating point from weights and data that meet their defining identities
#: (balance, whitening, orthonormality) only to O(eps) each, and each of its d-term inner products adds
#: O(eps * scale); 8 ulps per dimension covers both with margin and stays 10^3x below any effect a claim
#: is about (checked in tests/test_claims/test_verdict.py against perturbed predictions).
ROUNDING_ULPS = 8
#: a "holds" needs the allowance (certificate + rounding) to be at most this fraction of the quantity's scale
RESOLUTION = 1e-3


@dataclass(frozen=True)
class Measurement:
    """``value`` with a bound ``error`` (broadcastable) on its distance to the exact quantity.

    ``count=True`` marks an integer count (a rank): ``value +- error`` is an interval of counts, no rounding
    allowance is added, and the claim is decided only when the interval holds one count.

    Attributes
    ----------
    value : numpy.ndarray
        The measured quantity (a scalar array, a spectrum, a matrix).
    error : numpy.ndarray
        A bound on ``|value - exact|``, broadcastable to ``value``; non-negative.
    method : str
        The route that measured it (``"exact"``, ``"lanczos"``, ``"rank interval"``, ...), quoted in messages.
    size : int
        The dimension ``d`` the rounding allowance :func:`rounding` is scaled by.
    eps : float
        The machine epsilon of the arithmetic (0 for exact rational arithmetic).
    num_matvecs : int
        Operator products the measurement spent.
    scale : float or None
        The magnitude errors are relative to; None: ``max(|measurement|, |prediction|)``. Set it for quantities
        that are already relative (a normalised residual: scale 1).
    count : bool
        An integer count (a rank): no rounding allowance is added, and a "holds" needs ``error <= 0.25`` (an
        interval of one count).
    resolution : float or None
        The widest absolute allowance at which a "holds" still says something; None: ``RESOLUTION * scale``
        (0.25 for counts). Set it when the claim is about a coarser effect, with a reason.
    note : str
        Why the certificate is as wide as it is (e.g. "4 eigenvalues inside the rounding band"), for messages.
    sampled : bool
        A Monte-Carlo estimate whose ``error`` is the half-width of a confidence sequence (module docstring).
    level : float or None
        The confidence level of a sampled measurement's interval, valid over all its looks.
    """

    value: np.ndarray
    error: np.ndarray
    method: str
    size: int
    eps: float
    num_matvecs: int = 0
    #: magnitude errors are relative to; default ``max(|measurement|, |prediction|)``. Set it for quantities that
    #: are already relative (a normalised residual: scale 1)
    scale: float | None = None
    count: bool = False
    #: the widest allowance (absolute) at which a "holds" still says something about the claim; default
    #: ``RESOLUTION * scale`` (``0.25`` for counts). Set it when the claim is about a coarser effect, with a reason
    resolution: float | None = None
    #: why the certificate is as wide as it is (e.g. "4 eigenvalues inside the rounding band"), for messages
    note: str = ""
    #: a Monte-Carlo estimate whose ``error`` is the half-width of a confidence sequence (module docstring)
    sampled: bool = False
    #: the confidence level of a sampled measurement's interval, valid over all its looks
    level: float | None = None


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`compare` (``ok`` is ``status == "holds"``).

    Attributes
    ----------
    status : {"holds", "refuted", "inconclusive", "error"}
        The outcome (module docstring).
    max_abs_error : float
        The largest violation in the direction of the relation: ``|m - p|`` for ``eq``, ``max(m - p, 0)`` for
        ``le``, ``max(p - m, 0)`` for ``ge`` (NaN for ``error``).
    max_rel_error : float
        ``max_abs_error / scale`` (``max_abs_error`` when the scale is 0).
    tolerance : float
        The largest allowance over the entries: certificate + :func:`rounding` + the prediction's own error (the
        certificate alone for counts; NaN for ``error``).
    where : int or None
        Flat index of the worst offending entry of a ``refuted`` or ``inconclusive`` verdict; None otherwise.
    message : str
        What was measured against what, and why the verdict is what it is (``"ok"`` for a plain "holds").
    shrink_needed : float or None
        The factor by which the allowance must shrink to resolve an ``inconclusive`` verdict (else None).
    rel_tolerance : float
        ``tolerance`` relative to the scale (absolute for counts): what ``max_rel_error`` is compared with.
    rel_resolution : float
        The resolution the verdict was decided at, relative to the scale (absolute for counts).
    """

    status: Status
    max_abs_error: float
    max_rel_error: float
    tolerance: float
    where: int | None
    message: str
    #: factor by which the allowance must shrink to resolve an ``inconclusive`` verdict (else None)
    shrink_needed: float | None = None
    #: the largest allowance relative to the quantity's scale (what ``max_rel_error`` is compared with)
    rel_tolerance: float = float("nan")
    #: the resolution the verdict was decided at, relative to the scale (absolute for counts)
    rel_resolution: float = float("nan")

    @property
    def ok(self) -> bool:
        return self.status == "holds"


def rounding(size: int, scale: float, eps: float) -> float:
    """Rounding allowance ``ROUNDING_ULPS * size * eps * scale`` of an operator assembled in floating point.

    Parameters
    ----------
    size : int
        The operator's dimension ``d`` (its inner products have ``d`` terms); values below 1 count as 1.
    scale : float
        The magnitude of the quantity (e.g. the largest eigenvalue in absolute value).
    eps : float
        The machine epsilon of the arithmetic.

    Returns
    -------
    float
        The absolute allowance.
    """
    return ROUNDING_ULPS * max(size, 1) * eps * scale


def _error(message: str) -> Verdict:
    return Verdict("error", float("nan"), float("nan"), float("nan"), None, message)


def _finite_or_message(name: str, a: np.ndarray) -> str | None:
    if a.dtype.kind not in "biuf":
        return f"the {name} is not real-valued (dtype {a.dtype}); return real numbers"
    if not np.all(np.isfinite(a)):
        return f"the {name} contains NaN or Inf ({int(np.sum(~np.isfinite(a)))} of {a.size} entries)"
    return None


def distinct(a: float, b: float) -> tuple[str, str]:
    """``a`` and ``b`` printed with as many significant digits as it takes to see them differ (10 to 17)."""
    for digits in range(10, 18):
        sa, sb = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if sa != sb:
            return sa, sb
    return f"{a!r}", f"{b!r}"


def compare(prediction, measurement: Measurement, relation: str = "eq", *, sort: bool = False,
            prediction_error=None, rel_resolution: float | None = None) -> Verdict:
    """Judge ``prediction`` against ``measurement`` by ``relation`` (``eq``, ``le``: measurement <= prediction,
    ``ge``); see the module docstring for the four outcomes.

    Parameters
    ----------
    prediction : array_like
        The claimed value(s).
    measurement : Measurement
        The certified measurement.
    relation : {"eq", "le", "ge"}
        ``le``: the measurement is at most the prediction (an upper bound); ``ge``: at least.
    sort : bool
        Sort a 1-D prediction descending first (spectra).
    prediction_error : array_like, optional
        Absolute bound on the prediction's own rounding error, added to the allowance.
    rel_resolution : float, optional
        A coarser resolution the claim declares (relative to the scale), instead of ``RESOLUTION``; ignored for
        counts (ranks), which are decided only when their interval is one point.

    Returns
    -------
    Verdict
        ``holds``, ``refuted``, ``inconclusive`` or ``error`` (NaN/Inf or empty inputs, a negative
        certificate), with the errors, the allowance and a message.

    Raises
    ------
    ValueError
        For an unknown ``relation``, or a prediction whose shape differs from the measurement's.
    TypeError
        If ``measurement`` is not a :class:`Measurement`.
    """
    if relation not in RELATIONS:
        raise ValueError(f"relation={relation!r} is not supported; use one of {RELATIONS}")
    if not isinstance(measurement, Measurement):
        raise TypeError(f"measurement must be a hessverify.claims.Measurement, got {type(measurement).__name__}")
    sort = as_bool("sort", sort)
    try:
        pred = np.asarray(prediction, dtype=float)
    except (TypeError, ValueError):
        return _error(f"the prediction {prediction!r} is not a number or an array of numbers")
    if pred.size == 0 or np.asarray(measurement.value).size == 0:
        return _error("the prediction or the measurement is empty: there is nothing to judge")
    meas = np.asarray(measurement.value)
    err = np.asarray(measurement.error)
    for name, a in (("prediction", pred), ("measurement", meas), ("measurement's error bound", err)):
        bad = _finite_or_message(name, a)
        if bad:
            return _error(bad)
    meas, err = meas.astype(float), err.astype(float)
    if np.any(err < 0):
        return _error("the measurement's error bound is negative")
    if pred.size == 1 and meas.size == 1:
        pred = pred.reshape(meas.shape)
    if sort and pred.ndim == 1:
        pred = np.sort(pred)[::-1]
    if pred.shape != meas.shape:
        raise ValueError(
            f"the prediction has shape {pred.shape} but the measurement has {meas.shape}; a spectrum prediction "
            "must list every eigenvalue (zeros included), a top_k one exactly k values"
        )
    scale = measurement.scale if measurement.scale is not None else max(
        float(np.abs(meas).max(initial=0.0)), float(np.abs(pred).max(initial=0.0)))
    tol = np.broadcast_to(err, meas.shape).astype(float)
    if measurement.count:
        resolution = 0.25  # counts move in whole steps: an interval of counts resolves only when it is one point
    else:
        tol = tol + rounding(measurement.size, scale, measurement.eps)
        resolution = RESOLUTION * scale
        if prediction_error is not None:
            pe = np.asarray(prediction_error, dtype=float)
            if pe.size and not np.all(np.isfinite(pe)):
                return _error("the prediction's own rounding error is NaN or Inf: it cannot be bounded")
            tol = tol + np.broadcast_to(np.abs(pe), meas.shape)
    if measurement.resolution is not None:
        resolution = float(measurement.resolution)
    if rel_resolution is not None and not measurement.count:
        # a count is decided only when its interval is one point: a declared resolution cannot widen that
        resolution = float(rel_resolution) * scale
    diff = meas - pred
    refuted = {"eq": np.abs(diff) > tol, "le": diff > tol, "ge": -diff > tol}[relation]
    # a bound that holds by more than the allowance holds whatever the allowance is
    slack = {"eq": np.zeros(meas.shape, bool), "le": diff + tol <= 0, "ge": diff - tol >= 0}[relation]
    if measurement.sampled:  # the whole interval must lie within the resolution of the prediction
        outside = {"eq": np.abs(diff) + tol, "le": diff + tol, "ge": tol - diff}[relation]
        unresolved = ~refuted & ~slack & (outside > resolution)
    else:
        unresolved = ~refuted & ~slack & (tol > resolution)
    gap = {"eq": np.abs(diff), "le": np.maximum(diff, 0.0), "ge": np.maximum(-diff, 0.0)}[relation]
    abs_err = float(gap.max(initial=0.0))
    rel_err = abs_err / scale if scale > 0 else abs_err
    sym = {"eq": "==", "le": "<=", "ge": ">="}[relation]
    note = f" ({measurement.note})" if measurement.note else ""

    tol_max = float(tol.max(initial=0.0))
    rel_tol = tol_max / scale if scale > 0 and not measurement.count else tol_max
    rel_res = resolution / scale if scale > 0 and not measurement.count else resolution
    sampled = (f"; sampled: {measurement.method} at level {measurement.level}, interval +-{tol_max:.3g}, "
               f"resolution +-{rel_res:.2g} relative" if measurement.sampled else "")

    def at(mask):
        flat = int(np.argmax(np.where(mask, np.abs(diff) - tol, -np.inf).ravel()))
        return flat, (np.unravel_index(flat, meas.shape) if meas.ndim else ())

    if refuted.any():
        where, i = at(refuted)
        m_txt, p_txt = distinct(float(meas[i]), float(pred[i]))
        msg = (f"measured {m_txt} ({measurement.method}) {sym} predicted {p_txt} fails at index "
               f"{tuple(int(x) for x in i)}: difference {float(diff[i]):.3g} exceeds tolerance {float(tol[i]):.3g}"
               f"{note}{sampled}")
        return Verdict("refuted", abs_err, rel_err, tol_max, where, msg, rel_tolerance=rel_tol, rel_resolution=rel_res)
    if unresolved.any():
        where, i = at(unresolved)
        shrink = float(np.max(tol[unresolved]) / resolution) if resolution > 0 else float("inf")
        m_txt, p_txt = distinct(float(meas[i]), float(pred[i]))
        msg = (f"measured {m_txt} ({measurement.method}) {sym} predicted {p_txt} at index "
               f"{tuple(int(x) for x in i)} within tolerance {float(tol[i]):.3g}, but that tolerance is wider than the "
               f"resolution {resolution:.3g}: the certificate would have to shrink {shrink:.3g}x to decide{note}"
               f"{sampled}")
        return Verdict("inconclusive", abs_err, rel_err, tol_max, where, msg, shrink, rel_tol, rel_res)
    msg = f"holds to +-{rel_res:.2g} relative at level {measurement.level}" if measurement.sampled else "ok"
    return Verdict("holds", abs_err, rel_err, tol_max, None, msg, rel_tolerance=rel_tol, rel_resolution=rel_res)
