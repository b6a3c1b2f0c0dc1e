"""Stochastic trace estimators with standard errors: Hutchinson (1989) and Hutch++ (Meyer et al. 2021).

Hutchinson: ``tr(A) ~ (1/m) sum_i z_i^T A z_i`` with Rademacher or Gaussian ``z``; the standard error is the
sample standard deviation over ``sqrt(m)``. Hutch++ spends a third of its matvecs on a sketch ``Q`` of the
range of ``A`` (exact part ``tr(Q^T A Q)``) and the rest on Hutchinson for the deflated remainder
``(I - QQ^T) A (I - QQ^T)``; its standard error is that of the remainder.
"""
from __future__ import annotations

from typing import Literal

import torch

from hessverify._validation import as_float, check_allocation, check_choice
from hessverify.estimators._operator import Callback, SymmetricOperator, check_count, make_generator, with_progress
from hessverify.estimators.result import TraceResult

Distribution = Literal["rademacher", "gaussian"]


def _probes(A, m: int, distribution: str, g: torch.Generator) -> torch.Tensor:
    if distribution == "rademacher":
        return torch.randint(0, 2, (A.size, m), generator=g, device=A.device).to(A.dtype) * 2 - 1
    if distribution == "gaussian":
        return torch.randn(A.size, m, generator=g, dtype=A.dtype, device=A.device)
    raise ValueError(f"distribution={distribution!r} is not supported; use 'rademacher' or 'gaussian'")


#: the most probability with which one Rademacher sample ``z^T B z = tr B + 2 sum_{i<j} B_ij z_i z_j`` of a
#: non-diagonal ``B`` takes any one value: a non-constant multilinear polynomial of degree 2 on the hypercube is
#: non-zero with probability at least ``2^-2``
RADEMACHER_ATOM = 0.75
#: samples that all agree are taken as an exact estimate (a diagonal operator) only when agreeing by chance would
#: have had at most this probability (``0.75^(m-1) <= 1e-6``: at least 50 probes)
AGREE_BY_CHANCE = 1e-6
#: rounding allowance of a sum of products, in units of ``eps`` times (terms) times the sum of the terms' sizes
ROUNDING_ULPS = 4


def _stderr(samples: torch.Tensor, distribution: str = "rademacher") -> float:
    """Sample standard deviation over ``sqrt(m)``; ``inf`` with fewer than two samples, and ``inf`` when
    Rademacher samples all agree while fewer than 50 of them (they may agree by chance: probability up to
    ``0.75^(m-1)`` for a non-diagonal operator, so a zero would be a zero-width interval that misses)."""
    m = samples.numel()
    if m < 2:
        return float("inf")
    sd = float(samples.std(unbiased=True))
    if sd == 0 and distribution == "rademacher" and RADEMACHER_ATOM ** (m - 1) > AGREE_BY_CHANCE:
        return float("inf")
    return sd / m**0.5


def _sum_rounding(A, count: int, magnitude: float) -> float:
    """A bound on the rounding of a sum of ``count`` dot products of length ``n`` whose terms have absolute sum
    ``magnitude``: ``ROUNDING_ULPS eps (n + count) magnitude`` (the products themselves are taken as exact, as
    for every residual here). Divide by ``count`` for their mean."""
    return ROUNDING_ULPS * A.eps * (A.size + count) * magnitude


def _check_rtol(rtol) -> float | None:
    """``rtol`` (target ``stderr / |trace|``) as a finite float > 0, or None."""
    if rtol is None:
        return None
    try:
        return as_float("rtol", rtol, minimum=0, min_inclusive=False)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{e}; pass a target stderr / |trace| such as 1e-2, or None") from None


def _check_distribution(distribution) -> str:
    return check_choice("distribution", distribution, ("rademacher", "gaussian"))


def _check_probes(A: SymmetricOperator, columns: int, samples: int) -> None:
    """Refuse, before the first product, a probe block or a sample vector that cannot be allocated."""
    check_allocation("the probe block for op", (A.size, columns), A.dtype, device=A.device,
                     hint="lower num_matvecs or block")
    check_allocation("the samples", (samples,), A.dtype, device=A.device, hint="lower num_matvecs")


class _Looks:
    """The stopping rule ``stderr / |offset + mean| <= rtol`` on a schedule fixed in advance: a first look once
    there are ``min_samples`` samples, then a look each time they have doubled since the last one, so look ``j``
    comes at about ``min_samples 2^(j-1)`` probes and :meth:`TraceResult.ci`'s spending over the looks stays small
    (``(1 - level) / 20`` at the fourth look)."""

    def __init__(self, rtol: float | None, min_samples: int, distribution: str, offset: float = 0.0):
        self.rtol, self.next, self.distribution, self.offset = rtol, min_samples, distribution, offset
        self.count, self.last = 0, None  # looks so far, and the number of samples at the last one

    def stop(self, samples: torch.Tensor) -> bool:
        if self.rtol is None or samples.numel() < self.next:
            return False
        self.count, self.last, self.next = self.count + 1, samples.numel(), 2 * samples.numel()
        value = self.offset + float(samples.mean())
        return value != 0 and _stderr(samples, self.distribution) / abs(value) <= self.rtol

    def charged(self, samples: torch.Tensor) -> int:
        """The looks the reported interval is charged for: up to the last one, or one more when the samples ran
        out after it (the reported samples are then a look of their own); 0 without a stopping rule, or when it
        never looked (the budget ran out first: the samples are a fixed-size sample)."""
        if self.rtol is None or self.count == 0:
            return 0
        return self.count if self.last == samples.numel() else self.count + 1


def hutchinson(
    op,
    num_matvecs: int = 100,
    *,
    distribution: Distribution = "rademacher",
    seed: int | None = None,
    rtol: float | None = None,
    min_samples: int = 10,
    block: int = 16,
    callback: Callback | None = None,
    progress: bool = False,
    generator: torch.Generator | None = None,
    check_symmetry: bool = True,
) -> TraceResult:
    """Hutchinson's estimate ``tr(A) ~ (1/m) sum_i z_i^T A z_i`` from at most ``num_matvecs`` probes.

    Parameters
    ----------
    op
        A symmetric operator (as :func:`~hessverify.estimators.lanczos`).
    num_matvecs
        The most probes (one product each).
    distribution
        ``"rademacher"`` (default) or ``"gaussian"`` probes.
    seed, generator
        The random probes.
    rtol
        Stop once ``stderr / |value| <= rtol``, tested first after ``min_samples`` probes and then each time the
        probes have doubled (so the run may take up to twice the probes the target needs); None: use every probe.
        ``ci()`` accounts for the looks (see :meth:`TraceResult.ci`): its interval stays valid however the
        stopping fell, and is wider than a fixed-size one (Student-t at ``1 - (1 - level) / (J (J + 1))`` after
        ``J`` looks; 3.0 standard errors instead of 1.96 at the fourth look, for 95%).
    min_samples
        Probes before ``rtol`` is first tested (at least 2).
    block
        Probes multiplied together (one ``matmat``).
    callback, progress
        ``callback(info)`` after each block (``step``: probes so far, ``num_matvecs``, ``value``, ``stderr``);
        ``progress=True`` shows a progress line.
    check_symmetry
        Probe the operator for symmetry first.

    Returns
    -------
    TraceResult
        ``value``, ``stderr`` (sample standard deviation over ``sqrt(m)``), ``ci(level)``, the samples.

    Notes
    -----
    ``ci()`` is a Student-t interval, right when the mean of the samples is close to normal; when ``z^T A z`` is
    skewed it under-covers at small probe counts. When one eigenvalue dominates, ``z^T A z`` is close to a scaled
    ``chi^2_1`` (skewness 2.8): one outlier 10 above a bulk of size 0.1, 95% intervals at 20 probes missed 8.4%
    of the time (``test_confidence_interval_under_an_outlier``, an expected failure). A few dominant eigenvalues,
    or a form with few off-diagonal terms (``tr + 2 (z1 z2 + z1 z3 + z2 z3)``), do the same. Deflate the
    outliers first (:func:`hutchpp`) or use many probes.
    """
    A = SymmetricOperator(op, check_symmetry=check_symmetry, seed=seed)
    num_samples = check_count(num_matvecs, "num_matvecs")
    block = check_count(block, "block (probes per product batch)")
    min_samples = check_count(min_samples, "min_samples", 2)
    rtol = _check_rtol(rtol)
    distribution = _check_distribution(distribution)
    _check_probes(A, min(block, num_samples), num_samples)
    g = make_generator(A.device, seed, generator)
    before = A.num_matvecs
    samples = torch.empty(0, dtype=A.dtype, device=A.device)
    size = 0.0  # sum over probes of sum_i |z_i (A z)_i|: the scale of the dot products' rounding
    report = with_progress(callback, progress, "hutchinson")
    looks = _Looks(rtol, min_samples, distribution)
    while samples.numel() < num_samples:
        Z = _probes(A, min(block, num_samples - samples.numel()), distribution, g)
        terms = Z * A.matmat(Z)
        samples = torch.cat([samples, terms.sum(0)])
        size += float(terms.abs().sum())
        if report is not None:
            report({"step": samples.numel(), "num_matvecs": A.num_matvecs - before,
                    "value": float(samples.mean()), "stderr": _stderr(samples, distribution)})
        if looks.stop(samples):
            break
    m = samples.numel()
    rounding = _sum_rounding(A, m, size) / m
    return TraceResult(value=float(samples.mean()), stderr=_stderr(samples, distribution),
                       num_matvecs=A.num_matvecs - before, num_samples=m, method=f"hutchinson[{distribution}]",
                       samples=samples.cpu(), rounding=rounding, looks=looks.charged(samples))


def hutchpp(
    op,
    num_matvecs: int = 99,
    *,
    distribution: Distribution = "rademacher",
    seed: int | None = None,
    rtol: float | None = None,
    min_samples: int = 10,
    block: int = 16,
    callback: Callback | None = None,
    progress: bool = False,
    generator: torch.Generator | None = None,
    check_symmetry: bool = True,
) -> TraceResult:
    """Hutch++ (Meyer, Musco, Musco, Woodruff 2021, Algorithm 1) with at most ``num_matvecs`` products (>= 3).

    ``m/3`` products sketch ``Q = orth(A S)``, ``m/3`` give ``tr(Q^T A Q)`` exactly, the rest estimate
    ``tr((I - QQ^T) A (I - QQ^T))`` by Hutchinson. With fewer than two remainder probes the standard error is
    ``inf`` (no variance estimate), unless the sketch captured the whole space (then the remainder is zero and the
    value is exact).

    Parameters
    ----------
    op
        A symmetric operator (as :func:`~hessverify.estimators.lanczos`).
    num_matvecs
        The budget of products: a third each for the sketch, the exact part and the remainder.
    distribution
        ``"rademacher"`` (default) or ``"gaussian"`` probes.
    seed, generator
        The random sketch and probes.
    rtol
        Stop the remainder probes once ``stderr / |value| <= rtol``, tested on :func:`hutchinson`'s schedule
        (after ``min_samples`` of them, then each time they have doubled; ``ci()`` accounts for the looks); None:
        use the whole budget (one product for all remainder probes, as Algorithm 1).
    min_samples
        Remainder probes before ``rtol`` is first tested (at least 2).
    block
        Remainder probes multiplied together when ``rtol`` is given.
    callback, progress
        ``callback(info)`` after the sketch, the exact part and each block of remainder probes (``step``: products
        so far, ``num_matvecs``, ``value``, ``stderr``); ``progress=True`` shows a progress line.
    check_symmetry
        Probe the operator for symmetry first.

    Returns
    -------
    TraceResult
        ``value``, ``stderr`` (of the remainder), ``exact_part``, ``ci(level)``, the remainder samples.
    """
    A = SymmetricOperator(op, check_symmetry=check_symmetry, seed=seed)
    m = check_count(num_matvecs, "num_matvecs (a third each for sketch, exact part and remainder)", 3)
    rtol = _check_rtol(rtol)
    min_samples = check_count(min_samples, "min_samples", 2)
    block = check_count(block, "block (probes per product batch)")
    distribution = _check_distribution(distribution)
    _check_probes(A, m - 2 * min(m // 3, A.size), m)
    g = make_generator(A.device, seed, generator)
    before = A.num_matvecs
    report = with_progress(callback, progress, "hutchpp")

    def note(value: float, stderr: float) -> None:
        if report is not None:
            report({"step": A.num_matvecs - before, "num_matvecs": A.num_matvecs - before, "value": value,
                    "stderr": stderr})

    r = min(m // 3, A.size)
    Q, _ = torch.linalg.qr(A.matmat(_probes(A, r, distribution, g)))
    note(float("nan"), float("inf"))
    exact_terms = Q * A.matmat(Q)
    exact_part = float(exact_terms.sum())
    rounding = _sum_rounding(A, r, float(exact_terms.abs().sum()))
    note(exact_part, float("inf"))
    G = _probes(A, m - 2 * r, distribution, g)
    G = G - Q @ (Q.T @ G)
    step = G.shape[1] if rtol is None else block
    samples = torch.empty(0, dtype=A.dtype, device=A.device)
    size = 0.0
    looks = _Looks(rtol, min_samples, distribution, offset=exact_part)
    for start in range(0, G.shape[1], max(step, 1)):
        Gb = G[:, start : start + step]
        AG = A.matmat(Gb)
        AG = AG - Q @ (Q.T @ AG)
        terms = Gb * AG
        samples = torch.cat([samples, terms.sum(0)])
        size += float(terms.abs().sum())
        note(exact_part + float(samples.mean()), _stderr(samples, distribution))
        if looks.stop(samples):
            break
    rest = float(samples.mean()) if samples.numel() else 0.0
    if samples.numel():
        rounding += _sum_rounding(A, samples.numel(), size) / samples.numel()
    # fewer than two remainder probes give no variance estimate: the error is unknown, never zero; a sketch of the
    # whole space leaves no remainder (the value is exact up to ``rounding``)
    return TraceResult(value=exact_part + rest, stderr=0.0 if r >= A.size else _stderr(samples, distribution),
                       num_matvecs=A.num_matvecs - before, num_samples=samples.numel(), method="hutchpp",
                       samples=samples.cpu(), exact_part=exact_part, rounding=rounding, looks=looks.charged(samples))
