"""Locally optimal block preconditioned conjugate gradient (Knyazev 2001), no preconditioner; 003 used it for
its top-10 (Fig 4).

Each iteration does Rayleigh-Ritz on ``span[X, R, P]`` (block ``X``, residuals ``R = A X - X Theta``,
previous directions ``P``), orthonormalised by SVQB with a cut-off so a rank-deficient basis is trimmed,
never inverted. A block of ``b >= k + 1`` vectors usually holds every copy of a repeated eigenvalue among the
top ``k``, but a converged block proves it no more than one Lanczos run does: ``multiplicities_guaranteed`` is
always False (certified answers: :func:`~hessverify.estimators.lanczos`, :func:`~hessverify.estimators.block_lanczos`).
"""
from __future__ import annotations

from typing import Literal

import torch

from hessverify._validation import as_bool
from hessverify.estimators._operator import (Callback, SymmetricOperator, check_count, check_eigen_options,
                                             make_generator, with_progress)
from hessverify.estimators.result import STOP_FRACTION, SpectralResult, finish_spectral


def _svqb(Z: torch.Tensor, AZ: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Orthonormalise the columns of ``Z`` (and map ``AZ`` alike) by SVQB (Stathopoulos and Wu 2002): the Gram
    matrix of the unit-scaled columns, its directions below ``sqrt(eps)`` of the largest dropped. Without the
    scaling a block mixing unit columns with tiny residuals kept directions at ``eps`` and amplified their
    rounding by ``1/sqrt(eps)``: spurious Ritz values far outside the spectrum (an outside review's case)."""
    norms = torch.linalg.vector_norm(Z, dim=0)
    live = norms > 0
    Z, AZ = Z[:, live] / norms[live], AZ[:, live] / norms[live]
    G = Z.T @ Z
    s, U = torch.linalg.eigh((G + G.T) / 2)
    keep = s > eps**0.5 * s.max().clamp_min(torch.finfo(Z.dtype).tiny)
    M = U[:, keep] / s[keep].sqrt()
    return Z @ M, AZ @ M


def _orthonormal(X: torch.Tensor, eps: float) -> bool:
    """``max |X^T X - I| <= sqrt(eps)``: the block's Ritz values are then Rayleigh quotients (lower bounds on
    ``||A||`` to that accuracy)."""
    G = X.T @ X
    return bool((G - torch.eye(G.shape[0], dtype=G.dtype, device=G.device)).abs().max() <= eps**0.5)


def lobpcg(
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
    generator: torch.Generator | None = None,
    check_symmetry: bool = True,
) -> SpectralResult:
    """The ``k`` largest (``which="LA"``) or smallest (``"SA"``) eigenvalues by block LOBPCG, best first.

    Parameters
    ----------
    op
        A symmetric operator (as :func:`~hessverify.estimators.lanczos`).
    k
        How many eigenvalues.
    which
        ``"LA"`` or ``"SA"``.
    tol
        Residual relative to ``||A||`` (default 1e-10 in float64, 1e-4 in float32); ``converged[i]`` is
        ``residuals[i] <= tol * ||A||_est``.
    max_iter
        Iterations (default 500).
    v0
        The first column of the start block.
    seed, generator
        The random start block.
    return_eigenvectors
        Also return the Ritz vectors.
    callback, progress
        ``callback(info)`` at every iteration (``step``, ``num_matvecs``, ``ritz_values``, ``residuals``);
        ``progress=True`` shows a progress line.
    block_size
        Vectors in the block (default ``k + max(2, k // 2)``; ``3 * block_size <= n``).
    check_symmetry
        Probe the operator for symmetry first.

    Returns
    -------
    SpectralResult
        ``residuals`` are ``||A x_i - theta_i x_i||``; ``history["residuals"]`` holds the top-k residual norms of
        every iteration. ``multiplicities_guaranteed`` is False: a converged block (every top-k residual within
        ``tol``) is close to *an* invariant subspace, not necessarily the top one. With four eigenvalues 3e-8
        apart at 100 above a bulk in [0, 1] (block 3, k=1) it returned 100 + 6e-8 for the top 100 + 9e-8 in 2
        of 40 seeds, residual 3.5e-9 (``test_block_methods_claim_no_multiplicities``).
    """
    return_eigenvectors = as_bool("return_eigenvectors", return_eigenvectors)
    A = SymmetricOperator(op, check_symmetry=check_symmetry, seed=seed)
    opts = check_eigen_options(A, k, which=which, tol=tol, max_iter=max_iter, v0=v0, callback=callback,
                               whiches=("LA", "SA"), default_max_iter=500)
    k, tol, max_iter = opts.k, opts.tol, opts.max_iter
    callback = with_progress(opts.callback, progress, "lobpcg")
    b = k + max(2, k // 2) if block_size is None else check_count(block_size, "block_size")
    if b < k:
        raise ValueError(f"block_size={b} must be at least k={k}")
    if 3 * b > A.size:
        raise ValueError(
            f"LOBPCG's block of {b} vectors needs an operator of size >= {3 * b}, got {A.size}; lower k or "
            "block_size, or use exact(op) / lanczos(op, k)"
        )
    g = make_generator(A.device, seed, generator)
    sign = 1.0 if which == "LA" else -1.0
    before = A.num_matvecs
    X0 = torch.randn(A.size, b, generator=g, dtype=A.dtype, device=A.device)
    if opts.v0 is not None:
        X0[:, 0] = opts.v0
    X, AX = _svqb(X0, torch.zeros(A.size, b, dtype=A.dtype, device=A.device), A.eps)
    AX = A.matmat(X)
    P = AP = None
    history = {"residuals": [], "ritz_values": []}
    norm_est = 0.0
    theta = None
    for it in range(1, max_iter + 1):
        # Rayleigh-Ritz on the current block
        Tm = X.T @ AX
        theta, C = torch.linalg.eigh((Tm + Tm.T) / 2)
        order = torch.argsort(sign * theta, descending=True)
        theta, C = theta[order], C[:, order]
        X, AX = X @ C, AX @ C
        R = AX - X * theta
        rnorm = torch.linalg.vector_norm(R, dim=0)
        if _orthonormal(X, A.eps):  # a norm estimate only from a basis whose Ritz values are Rayleigh quotients
            norm_est = max(norm_est, float(theta.abs().max()) * (1 - A.eps**0.5))
        history["residuals"].append(rnorm[:k].cpu())
        history["ritz_values"].append(theta[:k].cpu())
        if callback is not None:
            callback({"step": it, "num_matvecs": A.num_matvecs - before, "ritz_values": theta[:k].cpu().numpy(),
                      "residuals": rnorm[:k].cpu().numpy()})
        done = rnorm <= STOP_FRACTION * tol * max(norm_est, 1e-300)
        if bool(done[:k].all()):
            break
        active = ~done
        W = R[:, active]
        W = W - X @ (X.T @ W)
        W = W - X @ (X.T @ W)
        W = W / torch.linalg.vector_norm(W, dim=0).clamp_min(torch.finfo(W.dtype).tiny)  # unit, like X and P
        AW = A.matmat(W)
        Z, AZ = (W, AW) if P is None else (torch.cat([W, P], 1), torch.cat([AW, AP], 1))
        # orthonormalise [W, P] against X, then among themselves (twice for stability)
        for _ in range(2):
            coef = X.T @ Z
            Z, AZ = Z - X @ coef, AZ - AX @ coef
            Z, AZ = _svqb(Z, AZ, A.eps)
        S, AS = torch.cat([X, Z], 1), torch.cat([AX, AZ], 1)
        G = S.T @ AS
        mu, V = torch.linalg.eigh((G + G.T) / 2)
        sel = torch.argsort(sign * mu, descending=True)[:b]
        V = V[:, sel]
        X_new, AX_new = S @ V, AS @ V
        P, AP = Z @ V[b:], AZ @ V[b:]
        X, AX = X_new, AX_new
        if it % 10 == 0:  # refresh A X to stop drift in the implicitly updated products
            X, AX = _svqb(X, AX, A.eps)
            AX = A.matmat(X)
    return finish_spectral(A, theta[:k].tolist(), list(X[:, :k].T), which=which, tol=tol, norm_est=norm_est,
                           method="lobpcg", iterations=it, history=history, notes=[], matvecs_before=before,
                           return_eigenvectors=return_eigenvectors, multiplicities_guaranteed=False,
                           advice=f"raise max_iter (ran {max_iter} iterations)")
