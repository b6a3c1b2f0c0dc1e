"""The prediction's own rounding error, estimated by Monte-Carlo arithmetic.

A closed form evaluated in float64 is off by about its condition number times ``eps``: 003 eq (9b),
``(s_i^{2L} - s_j^{2L}) / (s_i^2 - s_j^2)``, loses ``eps / |s_i^2 - s_j^2|`` near ``s_i = s_j`` (4.8e-11 relative
at ``s = (1.000001, 1)``). A verdict must not count that against the claim. Following Monte-Carlo arithmetic
(Parker, Pierce and Eggert, "Monte Carlo Arithmetic", Comput. Sci. Eng. 2000), the prediction is re-evaluated
on copies of the setting whose floating-point inputs are perturbed by a few ulps; the spread of the results,
times a safety factor, bounds what rounding does to the prediction. A prediction that reads a perturbed input
it should not depend on at all shows up as a spread too (then the claim is ill-conditioned where it is
evaluated, which is what the allowance should say).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

#: inputs are perturbed by up to this many units in the last place (relative 4 * 2^-52)
PERTURBATION_ULPS = 4
#: perturbed re-evaluations per example
DRAWS = 4
#: the allowance is this multiple of the largest spread seen
SAFETY = 2.0
_EPS = float(np.finfo(float).eps)


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
    changes = {name: _jitter(getattr(setting, name), rng)
               for name in ("singular_values", "sigma_x", "X", "Y", "eigenvalues", "matrix")}
    changes["weights"] = [_jitter(w, rng) for w in setting.weights]
    if changes["matrix"] is not None:
        changes["matrix"] = (changes["matrix"] + changes["matrix"].T) / 2
    return dataclasses.replace(setting, **changes)


def prediction_rounding(fn: Callable, setting, prediction: np.ndarray, *, sort: bool = False,
                        seed: int = 0) -> np.ndarray:
    """An absolute bound (elementwise) on the rounding error of ``fn(setting) == prediction`` (module docstring).

    Zero where the re-evaluations cannot be compared (a prediction of another shape, or one that raises on a
    perturbed copy: then nothing is allowed for rounding and the claim is judged on the measurement alone).
    """
    pred = np.asarray(prediction, dtype=float)
    rng = np.random.default_rng(seed)
    spread = np.zeros(pred.shape)
    for _ in range(DRAWS):
        try:
            other = np.asarray(fn(perturbed(setting, rng)), dtype=float)
        except Exception:  # noqa: BLE001 - a prediction that needs exact inputs gets no rounding allowance
            return np.zeros(pred.shape)
        if other.shape != pred.shape or not np.all(np.isfinite(other)):
            return np.zeros(pred.shape)
        if sort and other.ndim == 1:
            other = np.sort(other)[::-1]
        spread = np.maximum(spread, np.abs(other - (np.sort(pred)[::-1] if sort and pred.ndim == 1 else pred)))
    return SAFETY * spread
