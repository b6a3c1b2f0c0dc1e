"""What a converged top-k answer cannot show by itself: that no copy of an eigenvalue is *missing*.

Ritz residuals bound the distance from each returned value to *some* eigenvalue; they say nothing about an
eigenvector the Krylov space never saw (a second copy of a repeated eigenvalue, or a value the start vector was
nearly orthogonal to). :func:`certify_complete` answers that question for ``lanczos`` and ``block_lanczos``
alike: lock the top k, then run Lanczos from a fresh random start on the operator deflated against them; a
converged copy at or above the k-th value found on the way is locked and the test starts again; a run that
finds none ends with a failure probability.

The bound (an a-posteriori form of the argument of Kuczynski and Wozniakowski, SIAM J. Matrix Anal. Appl.
13(4), 1992; the Lanczos-polynomial bounds of van Dorsselaer, Hochstenbach and van der Vorst, SIAM J. Matrix
Anal. Appl. 22(3), 2000). Let ``B`` be the deflated operator on its ``N``-dimensional range and ``q_1`` uniform
on its unit sphere, independent of the locked vectors. Suppose ``B`` had an eigenvalue ``lambda >= x`` (``x``:
the k-th value plus the tolerance), unit eigenvector ``u``. The normalised Lanczos polynomials ``p_j``
(``beta_j p_j = (t - alpha_j) p_{j-1} - beta_{j-1} p_{j-2}``, ``p_0 = 1``) satisfy ``q_{j+1} = p_j(B) q_1``, so
``p_j(lambda) u^T q_1 = u^T q_{j+1}`` and, ``Q`` being orthonormal, ``|u^T q_1|^2 sum_j p_j(lambda)^2 <= 1``.
When every Ritz value of ``T_m`` lies below ``x`` each ``p_j`` grows on ``[x, inf)``, hence

    |u^T q_1| <= t := 1 / sqrt(sum_{j=0}^{m} p_j(x)^2) + ||F|| / (x - theta_max(T_m)),

where the second term carries the rounding: ``F = A Q - Q T - r e_m^T`` as computed, whose columns are what each
step's reorthogonalisation removed plus a rounding allowance (``z = Q^T u`` satisfies
``z^T (lambda I - T) = beta_m (u^T q_{m+1}) e_m^T + u^T F``). For ``q_1`` uniform on the sphere,
``P(|u^T q_1| <= t) = I_{t^2}(1/2, (N - 1)/2)`` (regularised incomplete beta; ``u^T q_1`` squared is
Beta(1/2, (N-1)/2)). The certificate is issued when that probability is at most ``failure_probability``; a
wrong certificate then needs ``|u^T q_1|`` below a fixed threshold, an event of at most that probability
whatever step the run stopped at (no union over steps is needed) and with no assumption on the lower end of
the spectrum. For ``which="LM"`` both ends are tested, each against half the probability.

The bound is stated in exact arithmetic for the operator's computed products: rounding inside each product is
outside it, as for every residual here; the rest of the rounding is in ``||F||``.

Runs share the probability. A run that finds a copy locks it and the test starts again; run ``i`` stops at its
share :func:`run_level` of ``failure_probability`` (90% for the first, then halving shares of the remaining
10%), so the chance that whichever run issues the certificate is wrong stays within the whole. The reported
``failure_probability`` is the issuing run's bound in units of the whole (its bound over its share, times the
whole), so "reported <= requested" is the test for every run.

Reusing the search. The search's last run also holds Ritz pairs next to the locked ones, ``W = Q X`` with
values ``Theta_W``, whose coupling to everything else the Lanczos relation bounds. ``X`` (``m x r``) are their
coefficients, orthogonalised against the locked vectors' and rotated so that ``X^T T X = Theta_W``; with ``B``
the operator deflated against every locked vector, ``r`` the run's residual and ``F`` its rounding,
``B W = W Theta_W + Q (T X - X Theta_W) + r e_m^T X + P F X``. In a basis ``[W, Z]`` of ``B``'s range,
``B = [[M, E^T], [E, C]]`` with ``||M - Theta_W|| <= ||F||`` and
``||E|| <= c := ||T X - X Theta_W|| + ||r|| ||e_m^T X|| + ||F||`` (the first term is rounding unless the
orthogonalisation moved ``X``).
If ``B v = lambda v`` with ``lambda > lambda_max(C)``, then the ``W`` part ``a`` of ``v`` is not zero and
``lambda = a^T M a + a^T E^T (lambda - C)^{-1} E a <= lambda_max(M) + c^2 / (lambda - lambda_max(C))`` (the
Schur complement, ``||a|| = 1``). So when ``g = x - max Theta_W - ||F|| > 0`` and ``C`` has nothing at or above
``x - eta``, ``eta = c^2 / g``, ``B`` has nothing at or above ``x``. The first certification run therefore
deflates ``W`` as well and tests ``C`` at ``x - eta``: ``C``'s top is the first value the search did not resolve,
further below ``x`` than ``B``'s, and the polynomials grow faster there. A run that finds a value of ``C`` at or
above its threshold proves nothing either way (it is not locked); the runs after it are plain.
:func:`neighbours_from_run` picks ``W`` (which pairs only changes the cost, never the validity).

The a-priori form of Kuczynski and Wozniakowski's Theorem (for a PSD ``n x n`` matrix and ``m`` Krylov
dimensions: ``P(theta_max < (1 - eps) lambda_max) <= 1.648 sqrt(n) exp(-sqrt(eps) (2m - 1))``, the
Rayleigh-Ritz space spanned by ``b, A b, ..., A^{m-1} b``) is :func:`kuczynski_wozniakowski`: it says what a
relative gap ``eps`` costs in steps before a run.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import torch
from scipy.special import betainc

from hessverify.estimators._operator import SymmetricOperator
from hessverify.estimators.lanczos_kernel import lanczos_tridiagonal, residual_estimates
from hessverify.estimators.result import STOP_FRACTION

#: the constant of the Kuczynski-Wozniakowski bound
KW_CONSTANT = 1.648
#: a multiplicity certificate is issued when the failure probability is at most this
DEFAULT_FAILURE_PROBABILITY = 1e-6
#: restarts (runs) allowed to find ``k`` values and certify them: every run locks at least one value or ends the
#: search, so ``2 k`` covers a copy found per value and the rest is slack for runs that end without one
RESTART_SLACK = 25
#: rounding allowance per step, in units of ``eps (|alpha_j| + beta_{j-1} + beta_j)`` (the recurrence's three
#: updates, the normalisation and the reorthogonalisation products), added to what reorthogonalisation removed
ROUNDING_FACTOR = 16


def step_rounding(correction: float, alpha: float, beta_previous: float, beta: float, eps: float) -> float:
    """One column of the rounding ``F`` of the Lanczos relation: what the step's reorthogonalisation removed plus
    ``ROUNDING_FACTOR eps (|alpha_j| + beta_{j-1} + beta_j)``."""
    return correction + ROUNDING_FACTOR * eps * (abs(alpha) + beta_previous + beta)


def relation_rounding(run, eps: float) -> float:
    """``||F||_F`` of a finished run ``A Q = Q T + r e_m^T + F``: every step's :func:`step_rounding`, and at each
    breakdown the residual dropped there (at most ``eps d (max|alpha| + max beta)``, the kernel's breakdown test;
    its size is not kept)."""
    alpha, beta = np.asarray(run.alpha, dtype=float), np.asarray(run.beta, dtype=float)
    cols = step_rounding(np.asarray(run.corrections, dtype=float), alpha, np.concatenate([[0.0], beta[:-1]]), beta,
                         eps)
    dropped = eps * run.basis_blocks[0].shape[1] * (np.abs(alpha).max() + beta.max()) if run.restarted_at else 0.0
    return float(math.sqrt(float(cols @ cols) + len(run.restarted_at) * dropped**2))


#: the share of the failure probability kept for the certification runs after the first (which rarely happen)
LATER_RUNS_SHARE = 0.1


def run_level(failure_probability: float, run_index: int) -> float:
    """The share of ``failure_probability`` certification run ``i`` may use: ``(1 - s)`` of it for the first
    run, ``s / 2^i`` for run ``i >= 1`` (``s = LATER_RUNS_SHARE``). The shares sum to at most the whole, and a
    run that is reached issues a wrong certificate with at most its share, so all runs together do too."""
    if run_index == 0:
        return failure_probability * (1.0 - LATER_RUNS_SHARE)
    return failure_probability * LATER_RUNS_SHARE / 2.0**run_index


def max_runs(k: int) -> int:
    """Runs allowed to find and certify ``k`` values: ``2 k + RESTART_SLACK``."""
    return 2 * k + RESTART_SLACK


def score(theta, which: str) -> np.ndarray:
    """Ritz values in the orientation where larger is better: ``theta`` (LA), ``-theta`` (SA), ``|theta|`` (LM)."""
    theta = np.asarray(theta, dtype=float)
    return {"LA": theta, "SA": -theta, "LM": np.abs(theta)}[which]


def ends(which: str) -> tuple[float, ...]:
    """The signs ``s`` such that a missing eigenvalue ``lambda`` shows as ``s lambda >= x``."""
    return {"LA": (1.0,), "SA": (-1.0,), "LM": (1.0, -1.0)}[which]


def kuczynski_wozniakowski(n: int, eps: float, m: int) -> float:
    """``min(1, 1.648 sqrt(n) exp(-sqrt(eps) (2m - 1)))``: the chance that ``m`` random-start Lanczos steps on a
    PSD ``n x n`` matrix give a top Ritz value below ``(1 - eps) lambda_max`` (a-priori; see the module)."""
    if eps <= 0 or m < 1:
        return 1.0
    return min(1.0, KW_CONSTANT * math.sqrt(max(n, 1)) * math.exp(-math.sqrt(min(eps, 1.0)) * (2 * m - 1)))


def start_component_probability(n: int, t: float) -> float:
    """``P(|u^T q| <= t)`` for a fixed unit ``u`` and ``q`` uniform on the unit sphere of ``R^n``:
    ``I_{t^2}(1/2, (n-1)/2)``."""
    if t >= 1:
        return 1.0
    if t <= 0:
        return 0.0
    if n <= 1:
        return 0.0  # q = +-u
    return float(betainc(0.5, (n - 1) / 2, t * t))


@dataclass
class LanczosPolynomial:
    """The normalised Lanczos polynomials ``p_0 .. p_m`` of a run at one point ``x``, in the orientation ``sign``
    (the run of ``sign * T``), updated one step at a time: O(1) per step, no eigensolve.

    ``sign_changes`` counts the sign changes of ``p_0(x), ..., p_m(x)``: by Sturm's theorem, the number of
    eigenvalues of ``sign * T_m`` above ``x``."""

    x: float
    sign: float = 1.0
    previous: float = 0.0
    current: float = 1.0
    sum_squares: float = 1.0
    sign_changes: int = 0
    exhausted: bool = False

    def update(self, alpha: float, beta_previous: float, beta: float) -> None:
        if self.exhausted:
            return
        if beta <= 0 or not math.isfinite(beta):
            self.exhausted = True  # an invariant subspace: q_1 has no component outside it (to rounding)
            self.sum_squares = math.inf
            return
        nxt = ((self.x - self.sign * alpha) * self.current - beta_previous * self.previous) / beta
        if not math.isfinite(nxt):
            self.exhausted, self.sum_squares = True, math.inf
            return
        if nxt == 0 or (nxt > 0) != (self.current > 0):
            self.sign_changes += 1
        self.previous, self.current = self.current, nxt
        self.sum_squares += nxt * nxt


@dataclass(frozen=True)
class Certificate:
    """The outcome of :func:`certify_complete`.

    ``failure_probability``: the bound of the run that found nothing at or above the k-th value, in units of the
    whole (module docstring: "Runs share the probability"; ``0.0`` when the locked vectors span the whole space;
    ``None`` when every run found a copy and the budget of runs is spent); a certificate holds when it is at
    most the requested probability. ``history``: one entry per run (steps, bound, whether it found a copy, how
    many neighbours it deflated, its share). ``values`` and
    ``vectors``: copies found and locked on the way. ``steps``: Lanczos steps of all certification runs.
    """

    failure_probability: float | None
    values: tuple = ()
    vectors: tuple = ()
    steps: int = 0
    runs: int = 0
    largest_magnitude: float = 0.0
    history: list = field(default_factory=list)


@dataclass(frozen=True)
class Neighbours:
    """Ritz pairs of the search's last run next to the locked ones, deflated in the first certification run
    (module docstring, "Reusing the search").

    ``vectors`` (``d x r``, orthonormal, orthogonal to the locked vectors) and ``values`` (their Ritz values);
    ``coupling`` bounds the block ``E`` of the deflated operator between them and the rest
    (``||T X - X Theta_W|| + ||r|| ||e_m^T X|| + ||F||``); ``rounding`` bounds ``||M - diag(values)||``,
    ``M = W^T B W`` (``||F||``)."""

    vectors: torch.Tensor
    values: np.ndarray
    coupling: float
    rounding: float

    def threshold_shift(self, which: str, x: float) -> float | None:
        """:func:`threshold_shift` of these neighbours."""
        return threshold_shift(self.values, self.coupling, self.rounding, which, x)


def threshold_shift(values, coupling: float, rounding: float, which: str, x: float) -> float | None:
    """``eta = coupling^2 / g`` with ``g = x - max_s (s theta) - rounding`` over the ``values`` and the ends ``s``
    of ``which`` (both rounded outwards), when ``g > 0`` (the rest is then tested at ``x - eta``); else None."""
    top = max(float(np.max(s * np.asarray(values))) for s in ends(which))
    eps = np.finfo(np.float64).eps
    g = x - top - rounding - 4 * eps * (abs(x) + abs(top))  # the subtraction's own rounding, outwards
    if not g > 0:
        return None
    eta = coupling**2 / g * (1 + 4 * eps)
    return eta if math.isfinite(eta) else None


#: at most this many neighbours are kept from the search (memory: one vector each)
MAX_NEIGHBOURS = 32
#: a Ritz pair counts as resolved (one eigenvector, not a mixture) when its residual is at most this fraction of
#: the distance to the nearest other Ritz value (Davis-Kahan: the angle to the eigenvector is below it)
RESOLVED_FRACTION = 0.1


def neighbours_from_run(run, locked_positions, locked_coefficients, which: str, x: float,
                        eps: float) -> Neighbours | None:
    """The neighbours of the locked values in the last search ``run``, for the first certification run.

    ``locked_positions``: ascending indices of the Ritz values locked from ``run``; ``locked_coefficients``
    (``m x l``): the eigenvectors of ``T`` their vectors were formed from. The pairs are chosen to leave the
    largest predicted gap in that run: ``x - eta`` against the best ``score(theta) + residual`` not taken (Ritz
    values not taken are Rayleigh quotients of what is left, so its top is at least the best of them; the
    residual stands in for what the search has not resolved). Only resolved pairs are taken, best first:
    residual at most ``RESOLVED_FRACTION`` of the distance to the nearest other Ritz value (a Ritz vector that
    mixes eigenvectors leaves the rest of them behind). None when no choice beats deflating nothing. The choice
    only sets the cost; the certificate is valid for any choice.

    The coefficients ``X`` of the chosen pairs are orthogonalised against ``locked_coefficients`` (inside a
    cluster two LAPACK calls may return different bases), and the values and coupling are those of ``X``:
    ``Lambda = X^T T X`` diagonalised, ``coupling = ||T X - X Lambda|| + beta_m ||e_m^T X|| + ||F||``.
    """
    theta, S = run.ritz()
    taken = set(int(i) for i in locked_positions)
    rest = [i for i in np.argsort(-score(theta, which), kind="stable") if int(i) not in taken]
    if len(rest) < 2:
        return None
    rounding = relation_rounding(run, eps)
    beta_m = float(run.beta[-1])
    last = np.abs(S[-1, rest])
    reach = score(theta[rest], which) + beta_m * last  # predicted top of what is left, from each value on
    reach = np.maximum.accumulate(reach[::-1])[::-1]
    ordered = np.sort(theta)
    spacing = np.minimum(np.diff(ordered, prepend=-np.inf), np.diff(ordered, append=np.inf))
    resolved = beta_m * last <= RESOLVED_FRACTION * spacing[np.searchsorted(ordered, theta[rest])]
    best_gap, best_r = x - float(reach[0]), 0
    for r in range(1, min(len(rest) - 1, MAX_NEIGHBOURS) + 1):
        if not resolved[r - 1]:
            break
        eta = threshold_shift(theta[rest[:r]], beta_m * float(np.linalg.norm(last[:r])) + rounding, rounding, which, x)
        if eta is None:
            break
        if x - eta - reach[r] > best_gap:
            best_gap, best_r = x - eta - reach[r], r
    if best_r == 0:
        return None
    values, X, coupling = _orthogonal_pairs(run, S[:, rest[:best_r]], np.asarray(locked_coefficients))
    coupling += beta_m * float(np.linalg.norm(X[-1])) + rounding
    if threshold_shift(values, coupling, rounding, which, x) is None:
        return None
    return Neighbours(run.vectors(X), values, coupling, rounding)


def _orthogonal_pairs(run, X: np.ndarray, locked: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``X`` orthogonalised (twice) against ``locked`` and orthonormalised, rotated so that ``X^T T X`` is
    diagonal: its diagonal, the rotated ``X`` and ``||T X - X Lambda||_2``."""
    for _ in range(2):
        if locked.size:
            X = X - locked @ (locked.T @ X)
        X = np.linalg.qr(X)[0]
    a, b = run.tridiagonal_coefficients()
    TX = a[:, None] * X
    TX[:-1] += b[:, None] * X[1:]
    TX[1:] += b[:, None] * X[:-1]
    M = X.T @ TX
    values, V = np.linalg.eigh((M + M.T) / 2)
    X, TX = X @ V, TX @ V
    return values, X, float(np.linalg.norm(TX - X * values, 2))


class MissingEigenvalueTest:
    """The stop rule of one certification run (module docstring): stop at a converged copy at or above the
    k-th value, or once the bound is at most the failure probability."""

    def __init__(self, which: str, kth: float, delta: float, lock_tol: float, n_free: int, eps: float,
                 failure_probability: float):
        self.which, self.kth, self.delta, self.lock_tol = which, kth, delta, lock_tol
        self.n_free, self.eps, self.failure_probability = n_free, eps, failure_probability
        self.polys = [LanczosPolynomial(kth + delta, s) for s in ends(which)]
        self.rounding2 = 0.0  # ||F||_F^2 so far
        self.probability = 1.0
        self.copy: int | None = None  # ascending index of a converged copy in T_m
        self._last_beta, self._breakdowns = 0.0, 0

    def __call__(self, run, beta: float) -> bool:
        m = run.m
        alpha = run.alpha[-1]
        beta_prev = run.beta[m - 2] if m >= 2 else 0.0
        if len(run.restarted_at) > self._breakdowns:  # the residual dropped at a breakdown is part of F
            self._breakdowns = len(run.restarted_at)
            self.rounding2 += self._last_beta**2
        self._last_beta = beta
        self.rounding2 += step_rounding(run.corrections[-1], alpha, beta_prev, beta, self.eps) ** 2
        if not run.restarted_at:  # after a breakdown the steps belong to a new start: the polynomials stop there
            for poly in self.polys:
                poly.update(alpha, beta_prev, beta)
        if m >= self.n_free:  # the basis spans the deflated space: its Ritz values are its eigenvalues
            self.copy = self._converged_copy(run, beta, exact=True)
            self.probability = 1.0 if self.copy is not None else 0.0
            return True
        self.copy = self._converged_copy(run, beta)
        if self.copy is not None:
            return True
        self.probability = self._bound(run)
        return self.probability <= self.failure_probability

    def _extremes(self, run) -> list[tuple[int, float]]:
        """``(ascending index, value)`` of the best Ritz value at each end."""
        a, b = run.tridiagonal_coefficients()
        if run.m == 1:
            return [(0, float(a[0]))] * len(self.polys)
        out = []
        for poly in self.polys:
            i = run.m - 1 if poly.sign > 0 else 0
            out.append((i, float(scipy.linalg.eigvalsh_tridiagonal(a, b, select="i", select_range=(i, i))[0])))
        return out

    def _converged_copy(self, run, beta: float, exact: bool = False) -> int | None:
        for (i, theta), poly in zip(self._extremes(run), self.polys):
            if poly.sign * theta < self.kth - self.delta:
                continue
            if exact or residual_estimates(beta, run.eigenvectors(i, i))[0] <= self.lock_tol:
                return i
        return None

    def _bound(self, run) -> float:
        rounding = math.sqrt(self.rounding2)
        worst = 0.0
        for (_, theta), poly in zip(self._extremes(run), self.polys):
            margin = poly.x - poly.sign * theta
            if poly.sign_changes or margin <= 0:
                return 1.0  # a Ritz value at or above x: the polynomials need not grow there
            t = 1 / math.sqrt(poly.sum_squares) + rounding / margin
            worst = max(worst, start_component_probability(self.n_free, t))
        return min(1.0, len(self.polys) * worst)


def certify_complete(A: SymmetricOperator, locked_values: list, locked_vectors: torch.Tensor, *, k: int,
                     which: str, delta: float, generator: torch.Generator, failure_probability: float,
                     max_steps: int, runs: int, sync_every: int = 1, report=None,
                     matvecs_before: int | None = None, neighbours: Neighbours | None = None) -> Certificate:
    """Certify that the operator deflated against ``locked_vectors`` (``d x L``, orthonormal) has no eigenvalue
    better than the k-th of ``locked_values`` by more than ``delta`` (module docstring).

    Parameters
    ----------
    A
        The operator (products are counted on it).
    locked_values, locked_vectors
        At least ``k`` converged values and their orthonormal vectors.
    k, which
        The k-th best of ``locked_values`` in the orientation of ``which`` (LA, SA or LM) is the threshold.
    delta
        The tolerance ``tol * ||A||`` of the answer: an eigenvalue more than this above the k-th would change it.
    generator
        The random stream of the fresh starts.
    failure_probability
        The chance that a certificate is wrong, shared by the runs (:func:`run_level`).
    max_steps, runs
        The most steps of one certification run, and the most runs.
    sync_every
        Host synchronisations (as :func:`~hessverify.estimators.lanczos_kernel.lanczos_tridiagonal`).
    report
        ``report(info)`` after each step (``phase="certify"``, ``step``, ``run``, ``num_matvecs``,
        ``failure_probability``).
    matvecs_before
        ``info["num_matvecs"]`` counts the products since this count of ``A.num_matvecs`` (default: since the
        call).
    neighbours
        Ritz pairs of the search next to the locked ones (:func:`neighbours_from_run`): the first run deflates
        them too and tests the rest at the threshold less their coupling; a run that finds a value there
        proves nothing and the next runs are plain.

    Returns
    -------
    Certificate
    """
    values, vectors = [], []
    before = A.num_matvecs if matvecs_before is None else matvecs_before
    L = locked_vectors
    lock_tol = STOP_FRACTION * delta
    steps, largest = 0, 0.0
    history = []
    for run_index in range(runs):
        n_free = A.size - L.shape[1]
        if n_free <= 0:
            return Certificate(0.0, tuple(values), tuple(vectors), steps, run_index, largest, history)
        all_values = np.asarray(list(locked_values) + values)
        kth = float(np.sort(score(all_values, which))[::-1][k - 1])
        shift = neighbours.threshold_shift(which, kth + delta) if neighbours is not None else None
        if shift is None:
            neighbours = None
        else:
            n_free -= neighbours.vectors.shape[1]
            if n_free <= 0:  # nothing outside the neighbours: test the deflated operator itself
                neighbours, shift, n_free = None, None, n_free + neighbours.vectors.shape[1]
        run_L = L if neighbours is None else torch.cat([L, neighbours.vectors], dim=1)
        test = MissingEigenvalueTest(which, kth - (shift or 0.0), delta, lock_tol, n_free, A.eps,
                                     run_level(failure_probability, run_index))

        def stop(run, beta, test=test):
            done = test(run, beta)
            if report is not None:
                report({"phase": "certify", "step": steps + run.m, "run": run_index,
                        "num_matvecs": A.num_matvecs - before, "failure_probability": test.probability})
            return done

        run = lanczos_tridiagonal(A, max_steps, generator=generator, locked=run_L, stop=stop, sync_every=sync_every)
        steps += run.m
        largest = max(largest, float(np.abs(run.ritz_values()[[0, -1]]).max()))
        history.append({"steps": run.m, "failure_probability": test.probability, "copy": test.copy is not None,
                        "neighbours": 0 if neighbours is None else neighbours.vectors.shape[1],
                        "level": test.failure_probability})
        if test.copy is None:  # this run's bound in units of the whole (run_level), whether or not it is met
            reported = min(1.0, test.probability * failure_probability / test.failure_probability)
            return Certificate(reported, tuple(values), tuple(vectors), steps, run_index + 1, largest, history)
        if neighbours is not None:  # a value of C at or above x - e: not a copy of B's; the next runs are plain
            neighbours, run = None, None
            continue
        y = run.vectors(run.eigenvectors(test.copy, test.copy)[:, 0])
        y = y / torch.linalg.vector_norm(y)
        values.append(float(run.ritz_values()[test.copy]))
        vectors.append(y)
        L = torch.cat([L, y[:, None]], dim=1)
        run = None  # free the basis before the next run allocates its own
    return Certificate(None, tuple(values), tuple(vectors), steps, runs, largest, history)
