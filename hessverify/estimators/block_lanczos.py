"""Block Lanczos: a Krylov space grown ``b`` vectors at a time, ``span{X, A X, A^2 X, ...}`` for a random
``d x b`` start ``X`` (Golub and Underwood, "The block Lanczos method for computing eigenvalues", 1977), with
full reorthogonalisation, Rayleigh-Ritz on the whole basis, thick restart from the best Ritz vectors when the
basis is full (the restart of Stathopoulos and Saad's thick-restart / Krylov-Schur methods), and locking.

Why blocks: the ``b`` products of a step are one ``matmat`` call, which the curvature operators batch
(``vmap``), so a step costs far less than ``b`` single products (``reports/performance.md`` measures it); and a
block of size ``b`` sees up to ``b`` copies of a repeated eigenvalue in one space, where single-vector Lanczos
sees one per restart.

Multiplicities: once the top k are locked, :func:`hessverify.estimators.certificates.certify_complete` (the
certificate ``lanczos`` uses) runs single-vector Lanczos from a fresh random start on the deflated operator:
its bound credits Krylov steps, not block width, so single vectors certify with the fewest products. Copies
found on the way are locked too; multiplicities are claimed when the bound falls below ``failure_probability``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from hessverify._validation import as_bool
from hessverify.estimators._operator import (Callback, SymmetricOperator, check_count, check_eigen_options,
                                             check_probability, make_generator, with_progress)
from hessverify.estimators.certificates import DEFAULT_FAILURE_PROBABILITY, certify_complete, max_runs
from hessverify.estimators.result import STOP_FRACTION, SpectralResult, finish_spectral

#: block size when none is given. Measured on the reference MLP and the digits CNN (reports/performance.md, "Cost
#: of a block"): 4 products cost 1.0-1.7 single products through the jvp Hessian and the GGN (vmap batching);
#: 8 cost 1.3-4.3. The double_backward Hessian batches poorly (4 products: 2.6-4.2), so block methods should be
#: given backend="jvp" operators.
DEFAULT_BLOCK = 4
#: block steps of one search when ``max_iter`` is not given
DEFAULT_MAX_ITER = 100
#: steps of one certification run: at least this many (and at least the basis size)
CERTIFY_MIN_STEPS = 400
#: a column whose norm falls below this multiple of ``eps`` times the block's largest, in the QR of a new block, is
#: a dependent direction and is dropped
DEPENDENCE_FACTOR = 1e3


def default_basis(k: int, b: int) -> int:
    """Columns before a thick restart when ``max_basis`` is not given: ``max(4 (k + b), 20 b)``."""
    return max(4 * (k + b), 20 * b)


def _project_out(X: torch.Tensor, bases) -> torch.Tensor:
    for B in bases:
        if B is not None and B.shape[1]:
            X = X - B @ (B.T @ X)
    return X


def _orth(X: torch.Tensor, bases: list, eps: float) -> torch.Tensor:
    """Columns of ``X`` made orthonormal and orthogonal to every basis in ``bases`` (two passes); columns that
    vanish (dependent directions) are dropped."""
    X = _project_out(_project_out(X, bases), bases)
    if X.shape[1] == 0:
        return X
    Q, R = torch.linalg.qr(X)
    diag = torch.diagonal(R).abs()
    Q = Q[:, diag > eps * max(float(diag.max()), 1e-300) * DEPENDENCE_FACTOR]
    Q = _project_out(Q, bases)  # one more pass: QR of nearly dependent columns loses orthogonality to the bases
    return torch.linalg.qr(Q)[0] if Q.shape[1] else Q


class _Space:
    """A growing orthonormal basis ``Q`` with ``A Q`` (deflated) and the projected matrix ``T = Q^T A Q``."""

    def __init__(self, A: SymmetricOperator, locked: torch.Tensor | None):
        self.A, self.locked = A, locked
        self.Q = torch.zeros(A.size, 0, dtype=A.dtype, device=A.device)
        self.AQ = torch.zeros_like(self.Q)
        self.T = torch.zeros(0, 0, dtype=A.dtype, device=A.device)

    @property
    def dim(self) -> int:
        return self.Q.shape[1]

    def extend(self, X: torch.Tensor) -> torch.Tensor:
        """Add the new directions of ``X``; returns their product (the next block of a pure block Krylov step).
        ``T`` grows by its new rows and columns only (O(d m b) per step)."""
        X = _orth(X, [self.locked, self.Q], self.A.eps)
        if X.shape[1] == 0:
            return X
        AX = self.A.matmat(X)
        if self.locked is not None:
            AX = AX - self.locked @ (self.locked.T @ AX)
        off = self.Q.T @ AX
        corner = X.T @ AX
        self.T = torch.cat([torch.cat([self.T, off], 1), torch.cat([off.T, (corner + corner.T) / 2], 1)], 0)
        self.Q, self.AQ = torch.cat([self.Q, X], 1), torch.cat([self.AQ, AX], 1)
        return AX

    def ritz(self, sign: float, count: int):
        """Ritz values (best first for ``sign``), the Ritz vector coefficients, and the residual norms of the best
        ``count`` (computed for those only: O(d m count))."""
        T = self.T.double().cpu().numpy()  # small: LAPACK on the host beats a device call
        w, V = np.linalg.eigh((T + T.T) / 2)
        order = np.argsort(-sign * w, kind="stable")
        theta = torch.as_tensor(w[order], dtype=self.A.dtype, device=self.A.device)
        S = torch.as_tensor(V[:, order], dtype=self.A.dtype, device=self.A.device)
        c = min(count, S.shape[1])
        R = self.AQ @ S[:, :c] - (self.Q @ S[:, :c]) * theta[:c]
        return theta, S, torch.linalg.vector_norm(R, dim=0)

    def restart(self, S_keep: torch.Tensor) -> None:
        """Thick restart: keep the Ritz vectors ``Q S_keep`` (orthonormal, as ``Q`` and ``S_keep`` are) and their
        products ``(A Q) S_keep``: no new products."""
        self.Q, self.AQ = self.Q @ S_keep, self.AQ @ S_keep
        self.T = S_keep.T @ self.T @ S_keep


@dataclass
class _BlockSearch:
    """Search passes on the operator deflated against the values locked so far (module docstring)."""

    A: SymmetricOperator
    k: int
    sign: float
    b: int
    basis: int
    max_iter: int
    tol: float
    g: torch.Generator
    report: object
    before: int
    values: list = field(default_factory=list)
    vectors: torch.Tensor | None = None
    norm_est: float = 0.0
    steps: int = 0
    history: dict = field(default_factory=lambda: {"ritz_values": [], "residuals": [], "restarts": 0})
    last: tuple | None = None  # (space, theta, S, res) of the last pass

    @property
    def n_free(self) -> int:
        return self.A.size - (0 if self.vectors is None else self.vectors.shape[1])

    def random_block(self, first: torch.Tensor | None = None) -> torch.Tensor:
        X = torch.randn(self.A.size, self.b, generator=self.g, dtype=self.A.dtype, device=self.A.device)
        if first is not None:
            X[:, 0] = first
        return X

    def _note(self, theta, res) -> None:
        self.norm_est = max(self.norm_est, float(theta.abs().max()))
        self.history["ritz_values"].append(theta[: self.k].cpu().numpy())
        self.history["residuals"].append(res[: self.k].cpu().numpy())
        if self.report is not None:
            self.report({"phase": "search", "step": self.steps, "num_matvecs": self.A.num_matvecs - self.before,
                         "ritz_values": theta[: self.k].cpu().numpy(), "residuals": res[: self.k].cpu().numpy(),
                         "locked": len(self.values)})

    def _grow(self, space: _Space, X: torch.Tensor, need: int) -> torch.Tensor:
        """One block step: a thick restart first when the basis is full, then the new directions of ``X`` (as
        many as the deflated space still has). Returns the next block."""
        room = self.n_free - space.dim
        if space.dim + X.shape[1] > self.basis and room > X.shape[1]:
            _, S, _ = space.ritz(self.sign, 0)
            space.restart(S[:, : min(need + self.b, space.dim)])
            self.history["restarts"] += 1
            X = space.AQ[:, : self.b]  # continue from the residual directions of the best Ritz vectors
        return space.extend(X[:, :room])

    def search_pass(self, X: torch.Tensor) -> None:
        """Grow one space until its best ``need`` values converge, the deflated space is spanned, or ``max_iter``
        block steps; then lock every converged value among the best ``need``."""
        need = self.k - len(self.values)
        space = _Space(self.A, self.vectors)
        theta = S = res = None
        for _ in range(self.max_iter):
            if space.dim >= self.n_free:
                break
            X = self._grow(space, X, need)
            if X.shape[1] == 0:  # every new direction was dependent: a fresh random block
                X = self.random_block()
                continue
            self.steps += 1
            theta, S, res = space.ritz(self.sign, max(need, self.b))
            self._note(theta, res)
            if res.numel() >= need and bool((res[:need] <= self.lock_tol).all()):
                break
        if theta is None:  # every block of this pass was dependent: nothing to lock
            theta, S, res = space.ritz(self.sign, max(need, self.b))
        converged = [i for i in range(min(need, res.numel())) if float(res[i]) <= self.lock_tol]
        self.last = (space, theta, S, converged)
        self._lock(space, theta, S, converged)
        return converged

    @property
    def lock_tol(self) -> float:
        return STOP_FRACTION * self.tol * max(self.norm_est, 1e-300)

    def _lock(self, space: _Space, theta, S, columns) -> None:
        if not columns:
            return
        Y = torch.stack([space.Q @ S[:, i] for i in columns], 1)
        Y = Y / torch.linalg.vector_norm(Y, dim=0)
        self.vectors = Y if self.vectors is None else torch.cat([self.vectors, Y], 1)
        self.values += [float(theta[i]) for i in columns]

    def search(self, v0: torch.Tensor | None, passes: int) -> int:
        """Passes until ``k`` values are locked; a pass that converged nothing continues from its best Ritz
        vectors. Returns the passes made."""
        X = self.random_block(v0)
        for p in range(passes):
            converged = self.search_pass(X)
            if len(self.values) >= self.k or self.n_free <= 0:
                return p + 1
            space, _, S, _ = self.last
            # after locking, a random block (it sees further copies); after a pass that converged nothing, its
            # best Ritz vectors (an explicit restart that keeps the progress made)
            X = self.random_block() if converged or S.shape[1] == 0 else space.Q @ S[:, : self.b]
            if p < passes - 1:
                self.last = space = None  # free the basis before the next pass allocates its own
        return passes

    def fill_unconverged(self) -> None:
        """Complete the answer with the best values of the last pass that were not locked from it (flagged
        unconverged by their explicit residuals)."""
        space, theta, S, converged = self.last
        rest = [i for i in range(S.shape[1]) if i not in converged]
        self._lock(space, theta, S, rest[: self.k - len(self.values)])


def block_lanczos(
    op,
    k: int = 6,
    *,
    which: Literal["LA", "SA"] = "LA",
    tol: float | None = None,
    max_iter: int | None = None,
    v0: torch.Tensor | None = None,
    seed: int | None = None,
    return_eigenvectors: bool = False,
    callback: Callback | None = None,
    progress: bool = False,
    block_size: int | None = None,
    max_basis: int | None = None,
    certify_multiplicities: bool = True,
    failure_probability: float = DEFAULT_FAILURE_PROBABILITY,
    generator: torch.Generator | None = None,
    check_symmetry: bool = True,
) -> SpectralResult:
    """The ``k`` largest (``"LA"``) or smallest (``"SA"``) eigenvalues by block Lanczos, best first.

    Parameters
    ----------
    op
        A symmetric operator (as :func:`~hessverify.estimators.lanczos`); give a ``backend="jvp"`` Hessian or a
        GGN, whose ``matmat`` batches.
    k, which, tol, v0, seed, generator, return_eigenvectors, callback, progress, check_symmetry
        As :func:`~hessverify.estimators.lanczos` (``v0`` is the first column of the start block).
    max_iter
        Block steps of one search pass (default 100).
    block_size
        Vectors per step, one ``matmat`` each (default 4, from the measured cost of a block; at most ``n``).
    max_basis
        Columns before a thick restart (default ``max(4 (k + b), 20 b)``; at most the size of the operator).
    certify_multiplicities, failure_probability
        The multiplicity certificate of :mod:`hessverify.estimators.certificates`, as for ``lanczos``.

    Returns
    -------
    SpectralResult
        As :func:`~hessverify.estimators.lanczos`; ``history`` holds the best Ritz values and residuals of every
        search step, the thick restarts and the certification steps.
    """
    return_eigenvectors = as_bool("return_eigenvectors", return_eigenvectors)
    certify_multiplicities = as_bool("certify_multiplicities", certify_multiplicities)
    A = SymmetricOperator(op, check_symmetry=check_symmetry, seed=seed)
    opts = check_eigen_options(A, k, which=which, tol=tol, max_iter=max_iter, v0=v0, callback=callback,
                               whiches=("LA", "SA"), default_max_iter=DEFAULT_MAX_ITER)
    k = opts.k
    failure_probability = check_probability(failure_probability, "failure_probability")
    b = min(DEFAULT_BLOCK if block_size is None else check_count(block_size, "block_size"), A.size)
    basis = default_basis(k, b) if max_basis is None else check_count(max_basis, "max_basis")
    if basis < k + b and basis < A.size:
        raise ValueError(f"max_basis={basis} must be at least k + block_size = {k + b} (or the size of the operator)")
    report = with_progress(opts.callback, progress, "block_lanczos")
    g = make_generator(A.device, seed, generator)
    before = A.num_matvecs
    s = _BlockSearch(A, k, 1.0 if which == "LA" else -1.0, b, min(basis, A.size), opts.max_iter, opts.tol, g, report,
                     before)
    passes = s.search(opts.v0, max_runs(k))
    certificate, cert_steps = None, 0
    if certify_multiplicities and len(s.values) >= k:
        s.last = None  # the search's basis is not needed any more: the certificate allocates its own
        cert = certify_complete(A, s.values, s.vectors, k=k, which=which, delta=opts.tol * max(s.norm_est, 1e-300),
                                generator=g, failure_probability=failure_probability,
                                max_steps=max(s.basis, CERTIFY_MIN_STEPS), runs=max(1, max_runs(k) - passes),
                                report=report, matvecs_before=before)
        if cert.values:
            s.values += list(cert.values)
            s.vectors = torch.cat([s.vectors, torch.stack(cert.vectors, 1)], 1)
        certificate, cert_steps = cert.failure_probability, cert.steps
        s.norm_est = max(s.norm_est, cert.largest_magnitude)
    if len(s.values) < k:
        s.fill_unconverged()
        certificate = None
    order = np.argsort(-s.sign * np.asarray(s.values), kind="stable")[:k]
    certified = certify_multiplicities and certificate is not None and certificate <= failure_probability
    history = {**s.history, "certification_steps": cert_steps, "search_passes": passes}
    return finish_spectral(A, [s.values[i] for i in order], [s.vectors[:, i] for i in order], which=which,
                           tol=opts.tol, norm_est=s.norm_est, method=f"block_lanczos[b={b}]",
                           iterations=s.steps + cert_steps, history=history, notes=[], matvecs_before=before,
                           return_eigenvectors=return_eigenvectors, multiplicities_guaranteed=certified,
                           multiplicity_failure_probability=certificate, advice="raise max_iter or max_basis")
