"""The prediction's own rounding error.

A closed form evaluated in float64 is off by what its evaluation loses: 003 eq (9b),
``(s_i^{2L} - s_j^{2L}) / (s_i^2 - s_j^2)``, loses ``eps / |s_i^2 - s_j^2|`` near ``s_i = s_j`` (1e-11 relative
at ``s = (1.000001, 1)``), although the function itself is well conditioned. A verdict must not count that
against the claim. Two estimates, the first that applies:

1. **Higher precision.** The prediction is evaluated again on a view of the setting whose float inputs
   (singular values, ``sigma_x``, weights, eigenvalues, matrix) are ``mpmath`` numbers at 50 digits. If the
   prediction computes with them (returns ``mpf`` values: plain arithmetic and numpy object arrays do), the
   difference to the float64 value is its rounding error, bounded exactly (times a safety factor).
2. **Float64 only.** If the prediction turns its inputs into floats (``np.asarray(x, float)``, numpy ufuncs) its
   evaluation error cannot be observed from outside. Then the allowance is the larger of the spread over inputs
   perturbed by a few ulps (the function's condition; Parker, Pierce and Eggert, "Monte Carlo Arithmetic",
   2000, perturb inputs and operations alike, we can only perturb inputs) and ``sqrt(eps) |prediction|``: a
   refutation needs a difference no float64 evaluation could explain. A claim about effects below 1.5e-8
   relative should evaluate its prediction in high precision or declare ``prediction_error=``.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

import mpmath
import numpy as np
import torch

#: inputs are perturbed by up to this many units in the last place (relative 4 * 2^-52)
PERTURBATION_ULPS = 4
#: perturbed re-evaluations per example
DRAWS = 4
#: the allowance is this multiple of the largest difference seen
SAFETY = 2.0
#: digits of the high-precision evaluation
DIGITS = 50
_EPS = float(np.finfo(float).eps)
#: relative allowance of a prediction evaluated in float64 only (no observable rounding bound)
FLOAT_ONLY = float(np.sqrt(_EPS))
_FIELDS = ("singular_values", "sigma_x", "X", "Y", "eigenvalues", "matrix")


def _jitter(x, rng: np.random.Generator):
    if x is None:
        return None
    if isinstance(x, torch.Tensor):
        if not x.is_floating_point():
            return x
        u = torch.as_tensor(rng.uniform(-1, 1, tuple(x.shape)), dtype=x.dtype, device=x.device)
        return x * (1 + PERTURBATION_ULPS * _EPS * u)
    if isinstance(x, float):
        return x * (1 + PERTURBATION_ULPS * _EPS * rng.uniform(-1, 1))
    arr = np.asarray(x)
    if arr.dtype.kind != "f":
        return x
    return arr * (1 + PERTURBATION_ULPS * _EPS * rng.uniform(-1, 1, arr.shape))


def perturbed(setting, rng: np.random.Generator):
    """A copy of ``setting`` whose float inputs (singular values, ``sigma_x``, weights, ``X``, ``Y``, eigenvalues,
    matrix) are each multiplied by ``1 + u`` with ``|u| <= PERTURBATION_ULPS eps`` (model and rationals shared)."""
    changes = {name: _jitter(getattr(setting, name), rng) for name in _FIELDS}
    changes["weights"] = [_jitter(w, rng) for w in setting.weights]
    if changes["matrix"] is not None:
        changes["matrix"] = (changes["matrix"] + changes["matrix"].T) / 2
    return dataclasses.replace(setting, **changes)


def _precise(x):
    if x is None or isinstance(x, torch.Tensor):
        return x
    if isinstance(x, float):
        return mpmath.mpf(x)
    arr = np.asarray(x)
    if arr.dtype.kind != "f":
        return x
    out = np.empty(arr.shape, dtype=object)
    for idx, v in np.ndenumerate(arr):
        out[idx] = mpmath.mpf(float(v))
    return out


def high_precision(fn: Callable, setting) -> np.ndarray | None:
    """``fn`` on a view of ``setting`` with ``mpmath`` inputs (module docstring), as floats; None where ``fn``
    does not compute in high precision (it raised, or returned floats)."""
    changes = {name: _precise(getattr(setting, name)) for name in ("singular_values", "sigma_x", "eigenvalues",
                                                                     "matrix")}
    changes["weights"] = [_precise(w) for w in setting.weights]
    with mpmath.workdps(DIGITS):
        try:
            out = fn(dataclasses.replace(setting, **changes))
        except Exception:  # noqa: BLE001 - a prediction that needs float inputs has no high-precision form
            return None
        values = np.asarray(out, dtype=object).reshape(-1)
        if values.size == 0 or not all(isinstance(v, (mpmath.mpf, int)) for v in values):
            return None
        return np.asarray([float(v) for v in values], dtype=float).reshape(np.shape(out))


def _sorted(a: np.ndarray, sort: bool) -> np.ndarray:
    return np.sort(a)[::-1] if sort and a.ndim == 1 else a


def prediction_rounding(fn: Callable, setting, prediction: np.ndarray, *, sort: bool = False,
                        seed: int = 0) -> tuple[np.ndarray, str]:
    """An absolute bound (elementwise) on the rounding error of ``fn(setting) == prediction`` and how it was
    obtained (module docstring)."""
    pred = _sorted(np.asarray(prediction, dtype=float), sort)
    precise = high_precision(fn, setting)
    if precise is not None and precise.shape == pred.shape and np.all(np.isfinite(precise)):
        return SAFETY * np.abs(_sorted(precise, sort) - pred), f"prediction checked at {DIGITS} digits"
    rng = np.random.default_rng(seed)
    spread = np.zeros(pred.shape)
    for _ in range(DRAWS):
        try:
            other = np.asarray(fn(perturbed(setting, rng)), dtype=float)
        except Exception:  # noqa: BLE001 - a prediction that needs exact inputs: the float-only floor applies
            break
        if other.shape != pred.shape or not np.all(np.isfinite(other)):
            break
        spread = np.maximum(spread, np.abs(_sorted(other, sort) - pred))
    return (np.maximum(SAFETY * spread, FLOAT_ONLY * np.abs(pred)),
            "prediction evaluated in float64 only: its rounding is allowed sqrt(eps) relative")
