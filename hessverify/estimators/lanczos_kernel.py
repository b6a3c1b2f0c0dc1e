"""The one Lanczos kernel of the package: ``lanczos``, ``lanczos_ritz``, ``spectral_density``, ``block_lanczos``'s
certificate and :mod:`hessverify.estimators.certificates` all run :func:`lanczos_tridiagonal` (000 Algorithms 2-4;
004 §4-5; 002 Alg. 1-2). It has the shape of hessian-eigenthings' public ``lanczos_tridiagonal`` and matfree's
``tridiag_sym``: an operator and a start vector (or a seed) in, a frozen :class:`LanczosRun` out.

One step: ``w = A q_j - alpha_j q_j - beta_{j-1} q_{j-1}``, then reorthogonalise ``w`` against the basis:
``"none"`` (three-term recurrence only: ghosts appear once a Ritz value converges), ``"full"`` (one classical
Gram-Schmidt pass), ``"double"`` (two passes, "twice is enough"), ``"selective"`` (one pass when
``||w|| < 0.717 ||A q_j||``, 004 §5). After ``m`` steps the Lanczos relation ``A Q = Q T + r e_m^T`` holds
(``Q`` orthonormal for full/double, ``T`` tridiagonal with ``alpha`` and ``beta``, ``r = beta_m q_{m+1}``).
A breakdown (``beta ~ 0``) continues from a fresh random direction orthogonal to the basis (``T`` becomes
block diagonal), so a run of ``n`` steps spans the whole space.

Memory grows with use: the basis is stored in blocks of rows allocated as steps are taken (a run that stops
at step 70 of 200 holds about 70 vectors, never 200).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.linalg
import torch

from hessverify._validation import as_bool, check_choice
from hessverify.estimators._operator import (Callback, SymmetricOperator, check_count, check_v0, make_generator,
                                             real_tensor, with_progress)

Reorth = Literal["full", "double", "selective", "none"]
REORTH = ("full", "double", "selective", "none")
#: 004 §5: ``"selective"`` reorthogonalises when the recurrence cancelled more than this fraction of ``||A q_j||``
SELECTIVE_RATIO = 0.717
#: rows of the first block of basis storage (runs up to this length compute as with one buffer); each later block
#: holds half as many rows as are stored so far
MIN_BASIS_BLOCK = 64


def check_reorth(reorth) -> str:
    """``reorth`` as one of :data:`REORTH`."""
    return check_choice("reorth", reorth, tuple(REORTH))


def check_sync_every(sync_every, device: torch.device) -> int:
    """Steps between host synchronisations: 1 on the CPU and 10 on an accelerator unless given."""
    if sync_every is None:
        return 1 if device.type == "cpu" else 10
    return check_count(sync_every, "sync_every")


class TridiagonalSpectrum:
    """Ritz values and vectors of ``T_m`` (``alpha`` on the diagonal, the first ``m - 1`` of ``beta`` beside it),
    each computed at most once per ``m``. Subclasses hold ``alpha``, ``beta`` and a dict ``_cache``."""

    alpha: list | np.ndarray
    beta: list | np.ndarray
    _cache: dict

    @property
    def m(self) -> int:
        return len(self.alpha)

    def tridiagonal_coefficients(self) -> tuple[np.ndarray, np.ndarray]:
        """``(diagonal, off-diagonal)`` of ``T_m`` as float64 arrays."""
        return np.asarray(self.alpha, dtype=np.float64), np.asarray(self.beta[: self.m - 1], dtype=np.float64)

    def _cached(self, key, compute):
        full_key = (self.m, key)
        if full_key not in self._cache:
            if len(self._cache) > 8:
                self._cache.clear()
            self._cache[full_key] = compute()
        return self._cache[full_key]

    def ritz(self) -> tuple[np.ndarray, np.ndarray]:
        """Eigen-decomposition ``(theta, S)`` of ``T_m``, ascending: O(m^3)."""
        def compute():
            a, b = self.tridiagonal_coefficients()
            return (a.copy(), np.ones((1, 1))) if self.m == 1 else scipy.linalg.eigh_tridiagonal(a, b)
        return self._cached("ritz", compute)

    def ritz_values(self) -> np.ndarray:
        """Eigenvalues of ``T_m``, ascending: O(m^2)."""
        if (self.m, "ritz") in self._cache:
            return self._cache[(self.m, "ritz")][0]

        def compute():
            a, b = self.tridiagonal_coefficients()
            return a.copy() if self.m == 1 else scipy.linalg.eigvalsh_tridiagonal(a, b)
        return self._cached("values", compute)

    def eigenvectors(self, lo: int, hi: int) -> np.ndarray:
        """Eigenvectors ``lo..hi`` (ascending order) of ``T_m``, computed alone (LAPACK ``stemr`` with an index
        range, O(m (hi - lo + 1))); the same call, so the same basis inside a cluster, for the same range."""
        def compute():
            if self.m == 1:
                return np.ones((1, 1))
            a, b = self.tridiagonal_coefficients()
            return scipy.linalg.eigh_tridiagonal(a, b, select="i", select_range=(lo, hi))[1]
        return self._cached(("vectors", lo, hi), compute)

    def last_components(self, lo: int, hi: int) -> np.ndarray:
        """Last entries of the eigenvectors ``lo..hi`` (ascending order) of ``T_m``."""
        return self.eigenvectors(lo, hi)[-1, :]


def residual_estimates(beta_m: float, S: np.ndarray) -> np.ndarray:
    """``|beta_m s_{m,i}|``: the Ritz residual norms ``||A y_i - theta_i y_i||`` the Lanczos relation implies
    (``A Q s_i - theta_i Q s_i = beta_m s_{m,i} q_{m+1}``) for the columns ``s_i`` of ``S``."""
    return np.abs(beta_m * np.asarray(S)[-1, :])


class _BasisStore:
    """Lanczos vectors as rows of blocks allocated as steps are taken. Every product with the basis is done
    block by block, so no ``d x max_steps`` buffer is ever allocated; a run whose length is known up front gets
    one block of exactly that size."""

    def __init__(self, d: int, dtype, device, limit: int, exact: bool):
        self.d, self.dtype, self.device, self.limit = d, dtype, device, limit
        self.blocks: list[torch.Tensor] = []
        self.count = 0
        self.exact = exact

    def _capacity(self) -> int:
        return sum(b.shape[0] for b in self.blocks)

    def append(self, q: torch.Tensor) -> None:
        if self.count == self._capacity():
            rows = self.limit - self.count if self.exact else max(MIN_BASIS_BLOCK, self.count // 2)
            rows = max(1, min(rows, self.limit - self.count))
            self.blocks.append(torch.zeros(rows, self.d, dtype=self.dtype, device=self.device))
        self._set(self.count, q)
        self.count += 1

    def _locate(self, i: int) -> tuple[int, int]:
        for b, block in enumerate(self.blocks):
            if i < block.shape[0]:
                return b, i
            i -= block.shape[0]
        raise IndexError(i)

    def _set(self, i: int, q: torch.Tensor) -> None:
        b, r = self._locate(i)
        self.blocks[b][r] = q

    def row(self, i: int) -> torch.Tensor:
        b, r = self._locate(i)
        return self.blocks[b][r]

    def filled(self, upto: int | None = None) -> list[torch.Tensor]:
        """The filled rows of each block (views), up to ``upto`` rows in all."""
        left = self.count if upto is None else upto
        out = []
        for block in self.blocks:
            if left <= 0:
                break
            out.append(block[: min(left, block.shape[0])])
            left -= block.shape[0]
        return out

    def coefficients(self, w: torch.Tensor, upto: int) -> list[torch.Tensor]:
        return [V @ w for V in self.filled(upto)]

    def subtract(self, w: torch.Tensor, coefficients: list[torch.Tensor], upto: int) -> torch.Tensor:
        for V, c in zip(self.filled(upto), coefficients):
            w = w - V.T @ c
        return w

    def truncate(self, m: int) -> None:
        self.count = min(self.count, m)

    def frozen_blocks(self) -> tuple[torch.Tensor, ...]:
        return tuple(self.filled())

    def matrix(self) -> torch.Tensor:
        """The stored vectors as columns of a ``d x count`` matrix (a view when they fill one block)."""
        views = self.filled()
        return views[0].T if len(views) == 1 else torch.cat([V.T for V in views], dim=1)


def _orthogonalise(w: torch.Tensor, B: torch.Tensor | None, passes: int) -> tuple[torch.Tensor, float]:
    """``w`` less its components along the orthonormal columns of ``B`` (``passes`` classical Gram-Schmidt
    passes); also the norm of what was removed."""
    if B is None or B.shape[1] == 0:
        return w, 0.0
    removed = 0.0
    for _ in range(passes):
        c = B.T @ w
        removed += float(torch.linalg.vector_norm(c))
        w = w - B @ c
    return w, removed


def _orthogonalise_store(w: torch.Tensor, store: _BasisStore, upto: int,
                         passes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """As :func:`_orthogonalise` against the first ``upto`` rows of ``store``; the removed norm stays a tensor
    on the device (read on the host once per synchronisation)."""
    removed = torch.zeros((), dtype=w.dtype, device=w.device)
    for _ in range(passes):
        cs = store.coefficients(w, upto)
        removed = removed + torch.linalg.vector_norm(torch.cat(cs)) if cs else removed
        w = store.subtract(w, cs, upto)
    return w, removed


def fresh_direction(A: SymmetricOperator, g: torch.Generator, bases: tuple) -> torch.Tensor:
    """A random unit vector orthogonal to the orthonormal columns of each matrix in ``bases`` (two passes)."""
    v = torch.randn(A.size, generator=g, dtype=A.dtype, device=A.device)
    for B in bases:
        v = _orthogonalise(v, B, 2)[0]
    return v / torch.linalg.vector_norm(v)


@dataclass(frozen=True)
class LanczosRun(TridiagonalSpectrum):
    """One Lanczos run: ``A Q = Q T + residual e_m^T`` (``A`` deflated against ``locked`` if one was given).

    ``alpha`` (m,) and ``beta`` (m,): ``T``'s diagonal and, in ``beta[:m-1]``, its off-diagonal; ``beta[m-1]``
    is ``||residual||`` (zeros inside ``beta`` mark breakdowns, listed in ``restarted_at``). ``corrections[j]``
    is the norm of what step ``j``'s reorthogonalisation removed (the part of the Lanczos relation the three-term
    recurrence alone did not satisfy). ``Q`` (property, allocated on each access) is the ``d x m`` basis;
    :meth:`vectors` forms ``Q S`` block by block without it.

    Attributes
    ----------
    basis_blocks : tuple of torch.Tensor
        The basis ``Q^T`` in row blocks (each ``rows x d``; their rows, in order, are ``q_1 .. q_m``).
    alpha : numpy.ndarray
        ``T``'s diagonal (m,).
    beta : numpy.ndarray
        ``T``'s off-diagonal in ``beta[:m-1]`` (zeros mark breakdowns), then ``beta[m-1] = ||residual||``.
    residual : torch.Tensor
        The residual vector ``r`` (d,) of ``A Q = Q T + r e_m^T``.
    corrections : numpy.ndarray
        Per step (m,): the norm of what reorthogonalisation removed (0 for steps without a pass).
    restarted_at : tuple of int
        The steps ``j`` whose ``q_{j+1}`` is a fresh random direction after a breakdown (``beta[j-1] = 0``).
    orthogonality : tuple of float
        ``||Q_j^T Q_j - I||_F`` after each step ``j``, when ``track_orthogonality`` was asked for (else empty).
    ritz_history : tuple of numpy.ndarray
        The Ritz values of ``T_j`` after each step ``j``, when ``record_ritz`` was asked for (else empty).
    num_matvecs : int
        Operator-vector products the run spent (those of a chunk cut back by ``sync_every`` included).
    """

    basis_blocks: tuple
    alpha: np.ndarray
    beta: np.ndarray
    residual: torch.Tensor
    corrections: np.ndarray
    restarted_at: tuple = ()
    orthogonality: tuple = ()
    ritz_history: tuple = ()
    num_matvecs: int = 0
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def Q(self) -> torch.Tensor:
        if len(self.basis_blocks) == 1:
            return self.basis_blocks[0].T
        return torch.cat([V.T for V in self.basis_blocks], dim=1)

    def vectors(self, S) -> torch.Tensor:
        """``Q S`` for a ``m x c`` coefficient matrix (or a length-``m`` vector): Ritz vectors from eigenvectors of
        ``T``."""
        ref = self.basis_blocks[0]
        S = torch.as_tensor(np.ascontiguousarray(S), dtype=ref.dtype, device=ref.device)
        out, row = None, 0
        for V in self.basis_blocks:
            part = V.T @ S[row : row + V.shape[0]]
            out = part if out is None else out + part
            row += V.shape[0]
        return out

    def tridiagonal(self) -> torch.Tensor:
        """``T`` as a dense ``m x m`` tensor."""
        a, b = self.tridiagonal_coefficients()
        return torch.as_tensor(np.diag(a) + np.diag(b, 1) + np.diag(b, -1), dtype=self.residual.dtype)

    def residual_estimates(self, S: np.ndarray | None = None) -> np.ndarray:
        """``|beta_m s_{m,i}|`` for the eigenvectors ``S`` of ``T`` (all of them by default)."""
        return residual_estimates(float(self.beta[-1]), self.ritz()[1] if S is None else S)


@dataclass
class _Progress(TridiagonalSpectrum):
    """The run so far, as a ``stop`` callback sees it: ``alpha`` has ``m`` entries, ``beta`` the ``m - 1`` before
    the current step (whose ``beta_m`` the callback receives), plus ``restarted_at`` and ``num_matvecs``.
    ``breakdown``: the current ``beta_m`` is a breakdown (``<= eps d (max|alpha| + max beta)``); unless the
    callback stops the run there, it goes on from a fresh direction."""

    alpha: list = field(default_factory=list)
    beta: list = field(default_factory=list)
    corrections: list = field(default_factory=list)
    restarted_at: list = field(default_factory=list)
    num_matvecs: int = 0
    breakdown: bool = False
    _cache: dict = field(default_factory=dict)


class _Recurrence:
    """The state of one run of :func:`lanczos_tridiagonal` (see there)."""

    def __init__(self, A: SymmetricOperator, g: torch.Generator, max_steps: int, reorth: str, locked, stop,
                 sync_every: int, track_orthogonality: bool, record_ritz: bool, report):
        self.A, self.g, self.reorth, self.locked, self.stop = A, g, reorth, locked, stop
        self.max_steps = max_steps
        self.sync_every = 1 if reorth == "selective" else sync_every  # its test decides on the host, every step
        self.track, self.record_ritz, self.report = track_orthogonality, record_ritz, report
        self.store = _BasisStore(A.size, A.dtype, A.device, max_steps, exact=stop is None)
        # alpha, beta, orthogonality increment, reorthogonalisation norm: on the device until a synchronisation
        self.coef = torch.zeros(4, max_steps, dtype=A.dtype, device=A.device)
        self.progress = _Progress()
        self.orthogonality: list[float] = []
        self.ritz_history: list[np.ndarray] = []
        self.orth_fro2 = 0.0
        self.max_abs_alpha = self.max_beta = 0.0
        self.matvecs_before = A.num_matvecs
        self.w = None

    def step(self, q: torch.Tensor, j: int) -> torch.Tensor:
        """Store ``q`` as ``q_j``; return the next (unnormalised) vector; alpha and beta go to ``coef``."""
        store, coef = self.store, self.coef
        store.append(q)
        if self.track:  # ||Q^T Q - I||_F^2 grows by 2 ||Q_j^T q||^2 + (q.q - 1)^2
            cs = store.coefficients(q, j)
            c = torch.cat(cs) if cs else q.new_zeros(0)
            coef[2, j] = 2 * (c @ c) + (q @ q - 1) ** 2
        w = self.A.matvec(q)
        if self.locked is not None:
            w = _orthogonalise(w, self.locked, 1)[0]
        a = q @ w
        coef[0, j] = a
        w_norm_before = torch.linalg.vector_norm(w) if self.reorth == "selective" else None
        w = w - a * q
        if j:
            w = w - coef[1, j - 1] * store.row(j - 1)
        passes = {"full": 1, "double": 2, "none": 0}.get(self.reorth)
        if passes is None:  # selective
            passes = int(float(torch.linalg.vector_norm(w)) < SELECTIVE_RATIO * float(w_norm_before))
        if passes:
            w, coef[3, j] = _orthogonalise_store(w, store, j + 1, passes)
        if self.locked is not None and self.reorth != "none":
            w, removed = _orthogonalise(w, self.locked, 1)
            coef[3, j] += removed
        coef[1, j] = torch.linalg.vector_norm(w)
        return w

    def host_steps(self, start: int, end: int):
        """Move the coefficients of steps ``start..end`` to the host and run the per-step tests in order.
        Returns ``("stop", i)``, ``("breakdown", i)`` or ``("continue", end)``."""
        alphas, betas, incs, corr = self.coef[:, start : end + 1].tolist()
        p = self.progress
        p.num_matvecs = self.A.num_matvecs - self.matvecs_before
        for i, (a_i, b_i, inc, c_i) in enumerate(zip(alphas, betas, incs, corr), start=start):
            p.alpha.append(a_i)
            p.corrections.append(c_i)
            self.orth_fro2 += inc
            if self.track:
                self.orthogonality.append(math.sqrt(self.orth_fro2))
            if self.record_ritz:
                self.ritz_history.append(p.ritz_values())
            if self.report is not None:
                self.report({"step": p.m, "num_matvecs": p.num_matvecs, "beta": b_i})
            self.max_abs_alpha = max(self.max_abs_alpha, abs(a_i))
            p.breakdown = b_i <= self.A.eps * self.A.size * max(self.max_abs_alpha + self.max_beta, 1e-300)
            if (self.stop is not None and self.stop(p, b_i)) or i == self.max_steps - 1:
                p.beta.append(b_i)
                return "stop", i
            if p.breakdown:
                # invariant subspace found: continue from a fresh direction (T becomes block diagonal); every
                # variant, since "none" and "selective" would otherwise divide by a zero beta
                p.beta.append(0.0)
                self.coef[1, i] = 0.0
                p.restarted_at.append(i + 1)
                return "breakdown", i
            p.beta.append(b_i)
            self.max_beta = max(self.max_beta, b_i)
        return "continue", end

    def run(self, q: torch.Tensor) -> LanczosRun:
        j = chunk_start = 0
        while j < self.max_steps:
            w = self.step(q, j)
            if j + 1 - chunk_start < self.sync_every and j < self.max_steps - 1:
                # the breakdown test runs on the host at the end of the chunk: until then a zero beta must not
                # divide (q = 0 keeps the steps finite; the host discards them from the breakdown on)
                beta = self.coef[1, j]
                q = w / torch.where(beta > 0, beta, torch.ones_like(beta))
                j += 1
                continue
            outcome, i = self.host_steps(chunk_start, j)
            if outcome == "stop":
                return self.finish(i, w if i == j else None)
            if outcome == "breakdown":
                self.store.truncate(i + 1)
                q = fresh_direction(self.A, self.g, (self.locked, self.store.matrix()))
            else:
                q = w / self.coef[1, j]
            j = chunk_start = self.progress.m
        return self.finish(self.progress.m - 1, None)

    def finish(self, i: int, w: torch.Tensor | None) -> LanczosRun:
        """Freeze the run at step ``i``; ``w`` is its residual when ``i`` was the last step taken (otherwise it is
        ``beta_i q_{i+1}``, already stored)."""
        p = self.progress
        m = i + 1
        if w is None:
            nxt = self.store.row(m) if m < self.store.count else None
            w = p.beta[m - 1] * nxt if nxt is not None else torch.zeros(self.A.size, dtype=self.A.dtype,
                                                                        device=self.A.device)
        self.store.truncate(m)
        return LanczosRun(basis_blocks=self.store.frozen_blocks(), alpha=np.asarray(p.alpha[:m]),
                          beta=np.asarray(p.beta[:m]), residual=w, corrections=np.asarray(p.corrections[:m]),
                          restarted_at=tuple(p.restarted_at), orthogonality=tuple(self.orthogonality[:m]),
                          ritz_history=tuple(self.ritz_history[:m]),
                          num_matvecs=self.A.num_matvecs - self.matvecs_before)


def lanczos_tridiagonal(
    op,
    num_steps: int | None = None,
    *,
    v0: torch.Tensor | None = None,
    seed: int | None = None,
    reorth: Reorth = "full",
    locked: torch.Tensor | None = None,
    stop: Callable | None = None,
    callback: Callback | None = None,
    progress: bool = False,
    generator: torch.Generator | None = None,
    sync_every: int | None = None,
    track_orthogonality: bool = False,
    record_ritz: bool = False,
    check_symmetry: bool = True,
) -> LanczosRun:
    """Up to ``num_steps`` Lanczos steps (default: the size of the operator) from ``v0`` or a random unit vector.

    Parameters
    ----------
    op
        A symmetric operator: a square tensor or array, a scipy ``LinearOperator``, or anything with ``shape``
        and ``matvec`` (see :mod:`hessverify.estimators`).
    num_steps
        The most steps (products); a run never takes more than the dimension left after ``locked``.
    v0
        Start vector (normalised here; projected off ``locked`` first). None: a random unit vector.
    seed, generator
        The random stream of the start vector and of the fresh directions after a breakdown.
    reorth
        ``"full"``, ``"double"``, ``"selective"`` or ``"none"`` (module docstring).
    locked
        ``d x L`` orthonormal columns to deflate: the run is on ``(I - L L^T) A (I - L L^T)``.
    stop
        ``stop(run_so_far, beta_m) -> bool`` after each step; True ends the run there. ``run_so_far`` has
        ``m``, ``alpha``, ``beta`` (the ``m - 1`` before), ``ritz_values()``, ``ritz()``, ``eigenvectors(lo, hi)``.
    callback, progress
        ``callback(info)`` after each step (``step``, ``num_matvecs``, ``beta``); ``progress=True`` shows a line.
    sync_every
        Steps between host synchronisations (default 1 on the CPU, 10 on an accelerator); a run that stops inside
        a chunk is cut back to that step (the extra products are counted, their vectors dropped).
    track_orthogonality, record_ritz
        Record ``||Q_j^T Q_j - I||_F`` and the Ritz values of every step (O(j^2) each).
    check_symmetry
        Probe the operator for symmetry first (two products).

    Returns
    -------
    LanczosRun
        Frozen: ``Q`` (``d x m``), ``alpha``, ``beta``, ``residual`` (``A Q - Q T = residual e_m^T``), Ritz pairs.
    """
    track_orthogonality = as_bool("track_orthogonality", track_orthogonality)
    record_ritz = as_bool("record_ritz", record_ritz)
    A = op if isinstance(op, SymmetricOperator) else SymmetricOperator(op, check_symmetry=check_symmetry, seed=seed)
    reorth = check_reorth(reorth)
    if locked is not None:
        locked = real_tensor("locked", locked, "orthonormal columns").to(dtype=A.dtype, device=A.device)
        if locked.dim() != 2 or locked.shape[0] != A.size:
            raise ValueError(f"locked must be a ({A.size}, L) matrix of orthonormal columns, got shape "
                             f"{tuple(locked.shape)}")
        locked = locked if locked.shape[1] else None
    n_free = A.size - (0 if locked is None else locked.shape[1])
    if n_free < 1:
        raise ValueError("locked spans the whole space: nothing is left to run Lanczos on")
    max_steps = n_free if num_steps is None else min(n_free, check_count(num_steps, "num_steps"))
    if stop is not None and not callable(stop):
        raise TypeError(f"stop must be a callable(run, beta) -> bool or None, got {type(stop).__name__}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a callable(info: dict) or None, got {type(callback).__name__}")
    start = check_v0(v0, A.size, A.dtype, A.device)
    g = make_generator(A.device, seed, generator)
    state = _Recurrence(A, g, max_steps, reorth, locked, stop, check_sync_every(sync_every, A.device),
                        bool(track_orthogonality), bool(record_ritz), with_progress(callback, progress, "lanczos"))
    if start is None:
        q = fresh_direction(A, g, (locked,))
    else:
        q = _orthogonalise(start, locked, 2)[0] if locked is not None else start
        norm = torch.linalg.vector_norm(q)
        if float(norm) == 0:
            raise ValueError("v0 lies in the span of locked; pass a start vector with a component outside it")
        q = q / norm
    return state.run(q)
