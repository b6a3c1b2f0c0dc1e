"""A fraction of a finite population judged from a sample drawn with replacement: Clopper-Pearson intervals.

Some literature claims are about a *fraction*: of the iterates of a training run whose sharpness lies in a band
(edge of stability), of the iterates whose gradient lies mostly in a subspace. The population is finite (the
``W`` iterates of a window) and measuring every member is costly, so ``m`` members are drawn uniformly *with
replacement*: the number ``K`` that have the property is then exactly ``Binomial(m, p)`` with ``p`` the
population's fraction, whatever the population, and the Clopper-Pearson interval (Clopper and Pearson,
Biometrika 26, 1934: the inversion of two one-sided binomial tests, ``Beta(alpha/2; K, m - K + 1)`` and
``Beta(1 - alpha/2; K + 1, m - K)``) covers ``p`` with probability at least ``1 - alpha`` exactly (not
asymptotically). The sample size ``m`` is fixed before sampling and the interval is computed once, so no
correction for repeated looks is needed (contrast :mod:`hessverify.claims.sequential`).

Each member's property is itself measured with a certificate (a Ritz value within its residual of the sharpness),
so a member may be *certainly* in, *certainly* out, or unresolved. The interval's lower end is taken at the
count of certain members, its upper end at the count of possible ones: both ends stay valid. A certificate that
can fail with a stated probability (Kuczynski-Wozniakowski's bound that no eigenvalue was missed) adds that
probability, summed over the members, to ``alpha`` (a union bound).
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from hessverify._validation import as_int
from hessverify.claims.sequential import ALPHA
from hessverify.claims.verdict import Measurement


def clopper_pearson(k: int, m: int, alpha: float = ALPHA) -> tuple[float, float]:
    """The two-sided ``1 - alpha`` Clopper-Pearson interval for a binomial proportion from ``k`` of ``m``.

    Parameters
    ----------
    k : int
        Successes, ``0 <= k <= m``.
    m : int
        Trials, ``m >= 1``.
    alpha : float
        Total error rate, ``alpha / 2`` in each tail.

    Returns
    -------
    (float, float)
        ``(lower, upper)`` with ``lower = 0`` at ``k = 0`` and ``upper = 1`` at ``k = m``.
    """
    m = as_int("m", m, minimum=1)
    k = as_int("k", k, minimum=0, maximum=m)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha} must lie in (0, 1)")
    lower = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, m - k + 1))
    upper = 1.0 if k == m else float(stats.beta.ppf(1 - alpha / 2, k + 1, m - k))
    return lower, upper


def sampled_fraction(certain: int, possible: int, m: int, *, alpha: float = ALPHA, certificate_failure: float = 0.0,
                     method: str = "sampled fraction", size: int = 1, note: str = "") -> Measurement:
    """The population fraction as a :class:`Measurement` whose interval ``value +- error`` is the Clopper-Pearson
    interval of ``certain`` (lower end) and ``possible`` (upper end) members of ``m`` drawn with replacement.

    Parameters
    ----------
    certain, possible : int
        Members that certainly have the property, and that may have it (``certain <= possible <= m``).
    m : int
        Members drawn (with replacement, uniformly; fixed in advance).
    alpha : float
        Error rate of the interval itself.
    certificate_failure : float
        Summed probability that some member's certificate failed; the level is ``1 - alpha - certificate_failure``.

    Returns
    -------
    Measurement
        ``sampled=True``, ``scale=1`` (a fraction is already relative), ``level`` as above.
    """
    m = as_int("m", m, minimum=1)
    certain = as_int("certain", certain, minimum=0, maximum=m)
    possible = as_int("possible", possible, minimum=certain, maximum=m)
    if not 0 <= certificate_failure < 1 - alpha:
        raise ValueError(f"certificate_failure={certificate_failure} must lie in [0, 1 - alpha)")
    lower, _ = clopper_pearson(certain, m, alpha)
    _, upper = clopper_pearson(possible, m, alpha)
    level = 1 - alpha - certificate_failure
    text = (f"{certain}" + (f"..{possible}" if possible > certain else "") + f" of {m} members drawn with "
            f"replacement; Clopper-Pearson interval [{lower:.3f}, {upper:.3f}] at level {level:.6g}")
    return Measurement(np.asarray((lower + upper) / 2), np.asarray((upper - lower) / 2), method, size,
                       float(np.finfo(float).eps), scale=1.0, note=f"{text}; {note}" if note else text, sampled=True,
                       level=level)
