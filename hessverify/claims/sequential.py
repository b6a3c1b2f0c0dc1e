"""Sampled quantities judged with error control across looks: an anytime-valid confidence sequence.

A Monte-Carlo estimate (Hutchinson's trace, a mean over random initialisations) is sampled in rounds until it
decides. Looking after every round with a fixed-level interval spends the error rate once per look (six looks at
0.1% refute a true claim ~0.4% of the time). A confidence sequence ``(C_t)`` instead covers the mean at *every*
``t`` simultaneously with probability ``1 - alpha``, so stopping whenever it decides keeps the promise.

We use the asymptotic confidence sequence of Waudby-Smith, Arnold, Wu, Howard and Ramdas ("Time-uniform central
limit theory and asymptotic confidence sequences", Ann. Statist. 2024, Thm 2.2), Robbins' normal mixture with the
sample variance plugged in:

    C_t = mean_t +- sd_t sqrt( 2 (t rho^2 + 1) / (t^2 rho^2) log( sqrt(t rho^2 + 1) / alpha ) ),

with ``rho^2 = (-2 log alpha + log(-2 log alpha + 1)) / t_opt`` (their eq 2.9), tightest near ``t_opt`` samples.
It needs only a finite variance (probe values of Hutchinson and traces of random networks are unbounded, which
rules out the bounded betting/empirical-Bernstein sequences) and its coverage is asymptotic in ``t``: the
simulation in ``tests/test_claims/test_sequential.py`` measures the false-refutation rate and the power.

Decision after each round, for a prediction ``p`` and a resolution ``r`` (absolute):
refuted when ``p`` is outside ``C_t``; holds when ``C_t`` lies inside ``[p - r, p + r]``; otherwise sample on,
up to a budget, then inconclusive.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from hessverify.claims.verdict import Measurement

#: the error rate a sampled verdict promises (a true claim refuted, or a false one held), over all looks
ALPHA = 1e-3
#: samples in the first round; each later round doubles the total
FIRST_ROUND = 256


def half_width(sd: float, t: int, alpha: float, t_opt: float) -> float:
    """Half-width of the asymptotic confidence sequence after ``t`` samples of standard deviation ``sd``."""
    log_term = -2 * math.log(alpha)
    rho2 = (log_term + math.log(log_term + 1)) / t_opt
    a = t * rho2 + 1
    return sd * math.sqrt(2 * a / (t * t * rho2) * math.log(math.sqrt(a) / alpha))


def sequential_mean(draw: Callable[[int], np.ndarray], *, prediction: float | None, resolution: float | None,
                    budget: int, alpha: float = ALPHA, first: int = FIRST_ROUND, method: str = "sampled mean",
                    size: int = 1, eps: float = float(np.finfo(float).eps)) -> Measurement:
    """Sample ``draw(m)`` (``m`` fresh i.i.d. values) in doubling rounds until the confidence sequence decides
    the prediction (module docstring) or ``budget`` samples are spent.

    Parameters
    ----------
    draw : callable
        ``draw(m)`` returns ``m`` new samples whose mean is the quantity.
    prediction : float or None
        The claimed mean; without one, sampling stops when the half-width reaches ``resolution``.
    resolution : float or None
        Absolute resolution of a "holds"; default ``1e-3`` of ``|prediction|`` (or of the running mean).
    budget : int
        The most samples to draw.
    alpha : float
        Error rate of the sequence, valid across all looks.

    Returns
    -------
    Measurement
        ``value`` the mean, ``error`` the sequence's half-width at the last look, ``sampled=True``,
        ``level = 1 - alpha``; ``resolution`` set to the one used.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha} must lie in (0, 1)")
    if budget < 2 or first < 2:
        raise ValueError(f"budget={budget} and first={first} must be at least 2")
    samples: list[np.ndarray] = []
    total, looks = 0, 0
    t_opt = max(first, budget / 4)
    while True:
        m = first if total == 0 else min(total, budget - total)
        batch = np.asarray(draw(m), dtype=float).reshape(-1)
        if batch.size != m or not np.all(np.isfinite(batch)):
            raise ValueError(f"draw({m}) returned {batch.size} values"
                             + ("" if batch.size != m else " with NaN or Inf") + f"; it must return {m} finite numbers")
        samples.append(batch)
        total += m
        looks += 1
        x = np.concatenate(samples)
        mean, sd = float(x.mean()), float(x.std(ddof=1))
        half = half_width(sd, total, alpha, t_opt)
        scale = abs(prediction) if prediction is not None else abs(mean)
        res = resolution if resolution is not None else 1e-3 * scale
        excluded = prediction is not None and abs(prediction - mean) > half
        inside = (abs(prediction - mean) + half <= res) if prediction is not None else half <= res
        if excluded or inside or total >= budget:
            note = (f"{total} samples in {looks} looks; asymptotic confidence sequence at level {1 - alpha:g} "
                    f"(valid over all looks), half-width {half:.3g}")
            return Measurement(np.asarray(mean), np.asarray(half), method, size, eps, total, note=note,
                               sampled=True, level=1 - alpha, resolution=res)
