"""``lanczos`` (top-k with certified multiplicities) and ``lanczos_ritz`` (all Ritz values of one run), on the
kernel of :mod:`hessverify.estimators.lanczos_kernel` (none / full / double / selective reorthogonalisation,
000 Algorithms 2-4; 004 §4-5; 002 Alg. 1-2).

Multiplicities: one Krylov space holds one copy of each eigenvalue. With ``"full"``/``"double"`` the search
restarts with *locking*: converged Ritz pairs are locked, the operator is deflated against them, and the next run
(from a fresh random start, or from the unconverged Ritz vectors when a run converged nothing) finds the next
copy. Once k values are locked, :func:`hessverify.estimators.certificates.certify_complete` runs from a fresh
start on the deflated operator until it finds nothing at or above the k-th value with a failure probability
below the requested one; only then are multiplicities claimed. Its first run also deflates the search's resolved
Ritz pairs next to the k values and tests the rest at a threshold lowered by their coupling (a Schur-complement
bound; ``certificates``, "Reusing the search"), which widens the gap it has to see across. ``"none"`` and
``"selective"`` make a single run and set ``multiplicities_guaranteed=False``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from hessverify._validation import as_bool
from hessverify.estimators._operator import (Callback, SymmetricOperator, check_count, check_eigen_options,
                                             check_k, check_probability, default_tol, emit_warnings,
                                             make_generator, with_progress)
from hessverify.estimators.certificates import (DEFAULT_FAILURE_PROBABILITY, Neighbours, certify_complete,
                                                max_runs, neighbours_from_run, score)
from hessverify.estimators.lanczos_kernel import (Reorth, check_reorth, check_sync_every, lanczos_tridiagonal,
                                                  residual_estimates)
from hessverify.estimators.result import STOP_FRACTION, SpectralResult, finish_spectral

Which = Literal["LA", "SA", "LM", "BE"]
WHICH = ("LA", "SA", "LM", "BE")


def _candidate_vectors(run, which: str, idx: np.ndarray) -> np.ndarray:
    """Eigenvectors of ``T_m`` for the Ritz values ``idx`` (best first): only those at the needed end (LA, SA), all
    of them for LM. One LAPACK call per range, so a cluster of equal Ritz values gets the same basis wherever it
    is asked for (the stopping test and the locking agree)."""
    m, need = run.m, len(idx)
    if which == "LA":
        return run.eigenvectors(m - need, m - 1)[:, ::-1]
    if which == "SA":
        return run.eigenvectors(0, need - 1)
    return run.ritz()[1][:, idx]


def _best(run, which: str, need: int, beta_m: float, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The best ``need`` of the Ritz values ``theta`` of ``run`` (positions in ascending order, best first), their
    eigenvectors of ``T`` and their residual estimates ``|beta_m s_m|``."""
    idx = np.argsort(-score(theta, which), kind="stable")[: min(need, run.m)]
    S = _candidate_vectors(run, which, idx)
    return idx, S, residual_estimates(beta_m, S)


@dataclass
class _Search:
    """The search for the top ``k`` of one end (LA, SA or LM): runs with locking and restarts (module docstring)."""

    A: SymmetricOperator
    k: int
    which: str
    reorth: str
    max_iter: int
    tol: float
    g: torch.Generator
    restart: bool
    options: dict
    callback: object = None
    matvecs_before: int = 0
    values: list = field(default_factory=list)
    vectors: list = field(default_factory=list)
    norm_est: float = 0.0
    steps: int = 0
    runs: int = 0
    history: dict = field(default_factory=lambda: {"ritz_values": [], "orthogonality": [], "search_steps": 0})
    last: tuple | None = None  # (run, candidate idx, their T-eigenvectors, positions locked from this run)

    @property
    def full(self) -> bool:
        return self.reorth in ("full", "double")

    @property
    def lock_tol(self) -> float:
        return STOP_FRACTION * self.tol * max(self.norm_est, 1e-300)

    def _stop(self, need: int):
        """Stop a run once its best ``need`` Ritz values have converged (residual estimate within the lock
        tolerance relative to the largest Ritz magnitude seen)."""
        def stop(run, beta: float) -> bool:
            theta = run.ritz_values()
            scale = max(self.norm_est, float(np.abs(theta).max()))
            if self.callback is not None:
                best = theta[np.argsort(-score(theta, self.which), kind="stable")[: self.k]]
                self.callback({"phase": "search", "step": self.steps + run.m, "restart": self.runs,
                               "num_matvecs": self.A.num_matvecs - self.matvecs_before, "ritz_values": best.copy(),
                               "locked": len(self.values)})
            if run.m < need:
                return False
            if run.breakdown and run.m < self.A.size - len(self.values):
                return False  # the start's invariant subspace, not the whole space: go on from a fresh direction
            est = _best(run, self.which, need, beta, theta)[2]
            return bool((est <= STOP_FRACTION * self.tol * max(scale, 1e-300)).all())
        return stop

    def run_once(self, start: torch.Tensor | None) -> list[int]:
        """One run on the operator deflated against the locked vectors; locks every converged value among its
        best ``k - locked`` and returns their positions in the candidate list."""
        need = self.k - len(self.values)
        L = torch.stack(self.vectors, dim=1) if self.vectors else None
        run = lanczos_tridiagonal(self.A, self.max_iter, v0=start, generator=self.g, reorth=self.reorth, locked=L,
                                  stop=self._stop(need), **self.options)
        self.steps += run.m
        self.runs += 1
        self.history["ritz_values"].extend(run.ritz_history)
        self.history["orthogonality"].extend(run.orthogonality)
        theta = run.ritz()[0]
        self.norm_est = max(self.norm_est, float(np.abs(theta).max()))
        idx, S, est = _best(run, self.which, need, float(run.beta[-1]), theta)
        took = [j for j in range(len(idx)) if est[j] <= self.lock_tol] if self.full else []
        for j in took:
            y = run.vectors(S[:, j])
            self.values.append(float(theta[idx[j]]))
            self.vectors.append(y / torch.linalg.vector_norm(y))
        self.last = (run, idx, S, took)
        return took

    def restart_vector(self) -> torch.Tensor:
        """Explicit restart after a run converged nothing: the sum of its best unconverged Ritz vectors."""
        run, idx, S, _ = self.last
        return run.vectors(S.sum(axis=1))

    def search(self, start: torch.Tensor | None) -> None:
        budget = max_runs(self.k) if (self.full and self.restart) else 1
        while True:
            took = self.run_once(start)
            if (not (self.full and self.restart) or len(self.values) >= min(self.k, self.A.size)
                    or self.runs >= budget):
                break
            start = None if took else self.restart_vector()
            self.last = None  # free the basis before the next run allocates its own
        self.history["search_steps"] = self.steps

    def neighbours(self, delta: float) -> Neighbours | None:
        """The last run's Ritz pairs next to the locked values, for the certificate's first run."""
        run, idx, S, took = self.last
        kth = float(np.sort(score(np.asarray(self.values), self.which))[::-1][self.k - 1])
        return neighbours_from_run(run, idx[took], S[:, took], self.which, kth + delta, self.A.eps)

    def fill_unconverged(self) -> None:
        """Not converged: complete the answer with the best values of the last run that were not locked from it
        (the answer is flagged unconverged by its explicit residuals)."""
        run, idx, S, took = self.last
        rest = [j for j in range(len(idx)) if j not in took]
        theta = run.ritz()[0]
        for j in rest[: self.k - len(self.values)]:
            y = run.vectors(S[:, j])
            self.values.append(float(theta[idx[j]]))
            self.vectors.append(y / torch.linalg.vector_norm(y))


def _single_which(A, k, which, reorth, opts, g, run_options, callback, certify, failure_probability) -> dict:
    """Top-k for one of LA/SA/LM: the search, then (full/double with ``certify``) the certificate."""
    s = _Search(A, k, which, reorth, opts.max_iter, opts.tol, g, certify, run_options, callback, A.num_matvecs)
    s.search(opts.v0)
    certificate = None
    cert_steps, cert_runs = 0, []
    if s.full and certify and len(s.values) >= k:
        delta = opts.tol * max(s.norm_est, 1e-300)
        neighbours = s.neighbours(delta)
        s.last = None  # the search's basis is not needed any more: the certificate allocates its own
        cert = certify_complete(A, s.values, torch.stack(s.vectors, dim=1), k=k, which=which, delta=delta,
                                generator=g, failure_probability=failure_probability, max_steps=opts.max_iter,
                                runs=max(1, max_runs(k) - s.runs), sync_every=run_options["sync_every"],
                                report=callback, matvecs_before=s.matvecs_before, neighbours=neighbours)
        s.values += list(cert.values)
        s.vectors += list(cert.vectors)
        certificate, cert_steps, cert_runs = cert.failure_probability, cert.steps, list(cert.history)
        s.runs += cert.runs
        s.norm_est = max(s.norm_est, cert.largest_magnitude)
    if len(s.values) < k:
        s.fill_unconverged()
        certificate = None
    sel = np.argsort(-score(np.asarray(s.values), which), kind="stable")[:k]
    history = {**s.history, "certification_steps": cert_steps, "certification_runs": cert_runs,
               "restarts": s.runs - 1}
    return {"values": [s.values[i] for i in sel], "vectors": [s.vectors[i] for i in sel], "history": history,
            "steps": s.steps + cert_steps, "certificate": certificate, "norm_est": s.norm_est,
            "level": failure_probability}


def lanczos(
    op,
    k: int = 6,
    *,
    which: Which = "LA",
    tol: float | None = None,
    max_iter: int | None = None,
    v0: torch.Tensor | None = None,
    seed: int | None = None,
    return_eigenvectors: bool = False,
    callback: Callback | None = None,
    progress: bool = False,
    reorth: Reorth = "full",
    certify_multiplicities: bool = True,
    failure_probability: float = DEFAULT_FAILURE_PROBABILITY,
    generator: torch.Generator | None = None,
    check_symmetry: bool = True,
    sync_every: int | None = None,
    track_orthogonality: bool | None = None,
    ritz_history: bool = False,
) -> SpectralResult:
    """``k`` eigenvalues of a symmetric operator by Lanczos, best first; arguments as ``scipy.sparse.linalg.eigsh``.

    Multiplicities (``reorth="full"|"double"``, ``certify_multiplicities=True``): converged pairs are locked and
    the operator deflated against them until ``k`` are locked; then a fresh random start on the deflated operator
    runs until it finds nothing at or above the k-th value (a converged copy found on the way is locked too) with
    failure probability at most ``failure_probability`` (:mod:`hessverify.estimators.certificates`). Only then
    ``multiplicities_guaranteed=True``; ``multiplicity_failure_probability`` records the bound either way (None
    when no certification run ended). ``"none"``/``"selective"`` and ``certify_multiplicities=False`` make a
    single run and never claim multiplicities.

    Parameters
    ----------
    op
        A symmetric operator: square tensor or array, scipy ``LinearOperator``, or anything with ``shape`` and
        ``matvec`` (``matmat`` is used when present).
    k
        How many eigenvalues.
    which
        ``"LA"`` largest, ``"SA"`` smallest, ``"LM"`` largest magnitude, ``"BE"`` both ends (k/2 from each).
    tol
        Residual relative to ``||A||`` (default 1e-10 in float64, 1e-4 in float32); ``converged[i]`` is
        ``residuals[i] <= tol * ||A||_est`` with ``||A||_est`` the largest Ritz magnitude seen, and the value not a
        ghost copy (``reorth="none"``: see :func:`hessverify.estimators.result.ghost_copies`).
    max_iter
        Steps of one run (default ``min(n, max(20 k, 200))``).
    v0
        Start vector of the first run (default random).
    seed, generator
        The random stream (start vectors, restarts, certification).
    return_eigenvectors
        Also return the unit Ritz vectors (``d x k``).
    callback, progress
        ``callback(info)`` at every step (phase, step, restart, products, best Ritz values, number locked);
        ``progress=True`` shows a progress line on stderr.
    reorth
        ``"full"`` (default), ``"double"``, ``"selective"`` or ``"none"`` (ghosts; no multiplicities).
    certify_multiplicities
        Lock, restart and certify (full/double only); False: one run.
    failure_probability
        The probability a multiplicity certificate may be wrong.
    check_symmetry
        Probe the operator for symmetry first (two products).
    sync_every
        Steps between host synchronisations (default 1 on the CPU, 10 on an accelerator).
    track_orthogonality
        Record ``||Q^T Q - I||_F`` per step (default: for ``"none"``/``"selective"`` only).
    ritz_history
        Record the Ritz values of every search step (O(m^2) each) in ``history["ritz_values"]``.

    Returns
    -------
    SpectralResult
        ``eigenvalues`` best first (descending for LA, LM by magnitude and BE; ascending for SA), explicit
        ``residuals`` ``||A y - theta y||`` (k extra products: each value lies within its residual of a true
        eigenvalue), ``converged``, ``multiplicities_guaranteed``, ``multiplicity_failure_probability``,
        ``history`` (``search_steps``, ``certification_steps``, ``restarts``, ``orthogonality``, ``ritz_values``,
        ``certification_runs``: per certification run its ``steps``, ``failure_probability`` (its own bound),
        ``copy`` (found one), ``neighbours`` (search pairs it deflated) and ``level`` (its share)).
    """
    return_eigenvectors = as_bool("return_eigenvectors", return_eigenvectors)
    certify_multiplicities = as_bool("certify_multiplicities", certify_multiplicities)
    ritz_history = as_bool("ritz_history", ritz_history)
    if track_orthogonality is not None:
        track_orthogonality = as_bool("track_orthogonality", track_orthogonality)
    A = SymmetricOperator(op, check_symmetry=check_symmetry, seed=seed)
    k = check_k(k, A.size)  # first: the default max_iter depends on it (k=np.int64(2) is 2, never one step)
    opts = check_eigen_options(A, k, which=which, tol=tol, max_iter=max_iter, v0=v0, callback=callback,
                               whiches=WHICH, default_max_iter=min(A.size, max(20 * k, 200)))
    reorth = check_reorth(reorth)
    failure_probability = check_probability(failure_probability, "failure_probability")
    k = opts.k
    g = make_generator(A.device, seed, generator)
    run_options = {"sync_every": check_sync_every(sync_every, A.device), "record_ritz": bool(ritz_history),
                   "track_orthogonality": reorth in ("none", "selective") if track_orthogonality is None
                   else bool(track_orthogonality)}
    report = with_progress(opts.callback, progress, "lanczos")
    before = A.num_matvecs
    if which == "BE":
        parts = [_single_which(A, (k + 1) // 2, "LA", reorth, opts, g, run_options, report, certify_multiplicities,
                               failure_probability / 2)]
        if k // 2:
            parts.append(_single_which(A, k // 2, "SA", reorth, _without_v0(opts), g, run_options, report,
                                       certify_multiplicities, failure_probability / 2))
    else:
        parts = [_single_which(A, k, which, reorth, opts, g, run_options, report, certify_multiplicities,
                               failure_probability)]
    values = [v for p in parts for v in p["values"]]
    vectors = [v for p in parts for v in p["vectors"]]
    history = {key: _merge(p["history"][key] for p in parts) for key in parts[0]["history"]}
    certificates = [p["certificate"] for p in parts]
    certificate = None if any(c is None for c in certificates) else sum(certificates)
    notes = []
    orth = history["orthogonality"]
    if reorth in ("none", "selective") and orth and max(orth) > A.eps**0.5:
        notes.append(
            f"Lanczos vectors lost orthogonality (||Q^T Q - I||_F reached {max(orth):.1e} > sqrt(eps)): ghost copies "
            "of converged eigenvalues are likely and multiplicities are not reliable; use reorth='full'"
        )
    # each end of BE is certified at its own half of the probability (the union bound), not at the sum's level
    certified = (reorth in ("full", "double") and certify_multiplicities
                 and all(p["certificate"] is not None and p["certificate"] <= p["level"] for p in parts))
    return finish_spectral(A, values, vectors, which=which, tol=opts.tol, norm_est=max(p["norm_est"] for p in parts),
                           method=f"lanczos[{reorth}]", iterations=sum(p["steps"] for p in parts), history=history,
                           notes=notes, matvecs_before=before, return_eigenvectors=return_eigenvectors,
                           multiplicities_guaranteed=certified, multiplicity_failure_probability=certificate,
                           advice="raise max_iter")


def _without_v0(opts):
    from dataclasses import replace

    return replace(opts, v0=None)


def _merge(items):
    items = list(items)
    return sum(items) if isinstance(items[0], (int, float)) else [x for item in items for x in item]


def lanczos_ritz(
    op,
    num_iter: int | None = None,
    *,
    reorth: Reorth = "full",
    seed: int | None = None,
    callback: Callback | None = None,
    progress: bool = False,
    generator: torch.Generator | None = None,
    check_symmetry: bool = True,
    sync_every: int | None = None,
    track_orthogonality: bool = True,
    ritz_history: bool = True,
) -> SpectralResult:
    """All Ritz values of one Lanczos run of ``num_iter`` steps (default ``n``): 000's experiment (Fig 3.1-3.6).

    With ``reorth="full"``/``"double"`` and ``num_iter = n`` these are the whole spectrum, multiplicities
    included (breakdowns restart from a fresh orthogonal direction): only then ``multiplicities_guaranteed``.
    ``residuals`` are the Lanczos-relation estimates ``|beta_m s_{m,i}|``, which bound the distance to a true
    eigenvalue while the basis is orthonormal (full/double); with ``"none"`` they are not a certificate and
    ghosts appear.

    Parameters
    ----------
    op
        A symmetric operator (as :func:`lanczos`).
    num_iter
        Steps of the run (default: the size of the operator).
    reorth
        ``"full"`` (default), ``"double"``, ``"selective"`` or ``"none"``.
    seed, generator
        The random start.
    callback, progress
        ``callback(info)`` after each step; ``progress=True`` shows a progress line.
    check_symmetry
        Probe the operator for symmetry first.
    sync_every
        Steps between host synchronisations.
    track_orthogonality
        Record ``history["orthogonality"]`` (costs a product with the basis per step, a third of the
        reorthogonalisation traffic with ``"full"``).
    ritz_history
        Record ``history["ritz_values"]``, the eigenvalues of ``T_j`` at every step (O(j^2) each).

    Returns
    -------
    SpectralResult
        ``which="all"``, eigenvalues descending, ``tol`` the default tolerance of the dtype.
    """
    track_orthogonality = as_bool("track_orthogonality", track_orthogonality)
    ritz_history = as_bool("ritz_history", ritz_history)
    A = SymmetricOperator(op, check_symmetry=check_symmetry, seed=seed)
    reorth = check_reorth(reorth)
    m = A.size if num_iter is None else min(A.size, check_count(num_iter, "num_iter"))
    before = A.num_matvecs
    run = lanczos_tridiagonal(A, m, generator=make_generator(A.device, seed, generator), reorth=reorth,
                              callback=callback, progress=progress, sync_every=check_sync_every(sync_every, A.device),
                              track_orthogonality=bool(track_orthogonality), record_ritz=bool(ritz_history))
    theta, S = run.ritz()
    est = run.residual_estimates(S)
    order = np.argsort(-theta, kind="stable")
    notes = []
    if reorth in ("none", "selective") and run.orthogonality and max(run.orthogonality) > A.eps**0.5:
        notes.append(f"Lanczos vectors lost orthogonality (||Q^T Q - I||_F = {max(run.orthogonality):.1e}): "
                     "ghost copies are likely and the residual estimates are not certificates")
    notes = emit_warnings(notes)
    res = torch.as_tensor(est[order], dtype=A.dtype)
    tol = default_tol(A.dtype)
    converged = res <= tol * max(float(np.abs(theta).max()), 1e-300)
    whole = reorth in ("full", "double") and run.m == A.size
    return SpectralResult(
        eigenvalues=torch.as_tensor(theta[order], dtype=A.dtype), residuals=res, num_matvecs=A.num_matvecs - before,
        converged=converged, method=f"lanczos_ritz[{reorth}]", iterations=run.m, which="all", tol=tol,
        multiplicities_guaranteed=bool(whole and converged.all()),
        history={"ritz_values": list(run.ritz_history), "orthogonality": list(run.orthogonality), "restarts": 0},
        warnings=tuple(notes),
    )
