"""Power iteration with deflation (004 §2-3) and subspace iteration (002 Algorithm 5).

Power iteration converges to the eigenvalue of largest magnitude at rate ``|lambda_2 / lambda_1|^t``;
Hotelling deflation ``A - sum_j lambda_j v_j v_j^T`` then exposes the next one, and errors in earlier pairs
drift into later ones (004 §3). Both find eigenvalues by magnitude (``which="LM"``).
"""
from __future__ import annotations

from typing import Literal

import torch

from hessverify._validation import as_bool
from hessverify.estimators._operator import (Callback, SymmetricOperator, check_eigen_options, make_generator,
                                             with_progress)
from hessverify.estimators.result import STOP_FRACTION, SpectralResult, finish_spectral


def power_iteration(
    op,
    k: int = 1,
    *,
    which: Literal["LM"] = "LM",
    tol: float | None = None,
    max_iter: int | None = None,
    v0: torch.Tensor | None = None,
    seed: int | None = None,
    return_eigenvectors: bool = False,
    callback: Callback | None = None,
    progress: bool = False,
    generator: torch.Generator | None = None,
    check_symmetry: bool = True,
) -> SpectralResult:
    """The ``k`` eigenvalues of largest magnitude, one at a time, by power iteration with Hotelling deflation.

    Each pair stops when ``||A v - lambda v|| <= tol ||A||`` for the deflated operator (at half of it, as every
    estimator); the returned ``residuals`` are recomputed on the original operator. It never claims
    multiplicities.

    Parameters
    ----------
    op
        A symmetric operator (as :func:`~hessverify.estimators.lanczos`).
    k
        How many eigenvalues.
    which
        Only ``"LM"`` (largest magnitude): what power iteration converges to.
    tol
        Residual relative to ``||A||`` (default 1e-10 in float64, 1e-4 in float32).
    max_iter
        Iterations per eigenvalue (default 1000).
    v0
        Start vector of the first eigenvalue, as in ``scipy.sparse.linalg.eigsh``.
    seed, generator
        The random starts.
    return_eigenvectors
        Also return the unit vectors.
    callback, progress
        ``callback(info)`` at every iteration (``step``, ``num_matvecs``, ``ritz_values`` with the current Rayleigh
        quotient, ``eigenvalue_index``); ``progress=True`` shows a progress line.
    check_symmetry
        Probe the operator for symmetry first.

    Returns
    -------
    SpectralResult
        ``history["rayleigh"]`` holds, per eigenvalue, the Rayleigh quotient of every iteration (for the
        ``|lambda_2/lambda_1|^t`` rate of 004 §2).
    """
    return_eigenvectors = as_bool("return_eigenvectors", return_eigenvectors)
    A = SymmetricOperator(op, check_symmetry=check_symmetry, seed=seed)
    opts = check_eigen_options(A, k, which=which, tol=tol, max_iter=max_iter, v0=v0, callback=callback,
                               whiches=("LM",), default_max_iter=1000)
    k, tol, max_iter, v0 = opts.k, opts.tol, opts.max_iter, opts.v0
    callback = with_progress(opts.callback, progress, "power_iteration")
    g = make_generator(A.device, seed, generator)
    before = A.num_matvecs
    vals, vecs, iters, history = [], [], 0, {"rayleigh": []}
    for _ in range(k):
        V = torch.stack(vecs, 1) if vecs else None
        lam_t = torch.tensor(vals, dtype=A.dtype, device=A.device)

        def deflated(x: torch.Tensor) -> torch.Tensor:
            y = A.matvec(x)
            return y if V is None else y - V @ (lam_t * (V.T @ x))

        if v0 is not None and not vals:
            v = v0
        else:
            v = torch.randn(A.size, generator=g, dtype=A.dtype, device=A.device)
        v = v / torch.linalg.vector_norm(v)
        Av = deflated(v)
        trace = []
        for t in range(max_iter):
            lam = float(v @ Av)
            trace.append(lam)
            if callback is not None:
                callback({"step": iters + t + 1, "num_matvecs": A.num_matvecs - before, "ritz_values": [lam],
                          "eigenvalue_index": len(vals)})
            scale = max(abs(lam), *map(abs, vals), 1e-300)
            if float(torch.linalg.vector_norm(Av - lam * v)) <= STOP_FRACTION * tol * scale:
                break
            nrm = torch.linalg.vector_norm(Av)
            if float(nrm) == 0.0:
                break
            v = Av / nrm
            Av = deflated(v)
        iters += t + 1
        vals.append(lam)
        vecs.append(v)
        history["rayleigh"].append(trace)
    return finish_spectral(A, vals, vecs, which="LM", tol=tol, norm_est=0.0, method="power_iteration",
                           iterations=iters, history=history, notes=[], matvecs_before=before,
                           return_eigenvectors=return_eigenvectors, multiplicities_guaranteed=False,
                           advice="close magnitudes |lambda_2/lambda_1| ~ 1 or deflation drift: raise max_iter or "
                                  "use lanczos")


def subspace_iteration(
    op,
    k: int = 6,
    *,
    which: Literal["LM"] = "LM",
    tol: float | None = None,
    max_iter: int | None = None,
    v0: torch.Tensor | None = None,
    seed: int | None = None,
    return_eigenvectors: bool = False,
    callback: Callback | None = None,
    progress: bool = False,
    generator: torch.Generator | None = None,
    check_symmetry: bool = True,
) -> SpectralResult:
    """002 Algorithm 5: ``Q <- QR(A Q)`` on a block of ``k`` vectors, then Rayleigh-Ritz.

    As printed, Algorithm 5 returns ``lambda_c = ||v_c||`` (the column norms of ``A Q``), which loses the sign
    of negative eigenvalues and mixes directions before convergence; here the values are the Ritz values of
    ``Q^T A Q``, which equal ``+-||v_c||`` at convergence. Converges to the ``k`` eigenvalues of largest
    magnitude at rate ``|lambda_{k+1} / lambda_k|^t``.

    Parameters
    ----------
    op
        A symmetric operator (as :func:`~hessverify.estimators.lanczos`).
    k
        Block size and number of eigenvalues.
    which
        Only ``"LM"``.
    tol
        Residual relative to ``||A||`` (default 1e-10 in float64, 1e-4 in float32).
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
    check_symmetry
        Probe the operator for symmetry first.

    Returns
    -------
    SpectralResult
        ``multiplicities_guaranteed`` is False: a converged block (every residual within ``tol``) is close to
        *an* invariant subspace, not necessarily the dominant one; with eigenvalues 100 and 100 + 1e-7 above a
        bulk in [0, 1], ``k=1`` returned 100 as the top (residual 3.4e-9) in 7 of 40 seeds
        (``test_block_methods_claim_no_multiplicities``). Certified answers: :func:`~hessverify.estimators.lanczos`.
    """
    return_eigenvectors = as_bool("return_eigenvectors", return_eigenvectors)
    A = SymmetricOperator(op, check_symmetry=check_symmetry, seed=seed)
    opts = check_eigen_options(A, k, which=which, tol=tol, max_iter=max_iter, v0=v0, callback=callback,
                               whiches=("LM",), default_max_iter=500)
    k, tol, max_iter = opts.k, opts.tol, opts.max_iter
    callback = with_progress(opts.callback, progress, "subspace_iteration")
    g = make_generator(A.device, seed, generator)
    before = A.num_matvecs
    Q0 = torch.randn(A.size, k, generator=g, dtype=A.dtype, device=A.device)
    if opts.v0 is not None:
        Q0[:, 0] = opts.v0
    Q, _ = torch.linalg.qr(Q0)
    history = {"ritz_values": []}
    for t in range(1, max_iter + 1):
        AQ = A.matmat(Q)
        theta, C = torch.linalg.eigh(Q.T @ AQ)
        order = torch.argsort(theta.abs(), descending=True)
        theta, C = theta[order], C[:, order]
        Y, AY = Q @ C, AQ @ C
        history["ritz_values"].append(theta.cpu())
        res = torch.linalg.vector_norm(AY - Y * theta, dim=0)
        if callback is not None:
            callback({"step": t, "num_matvecs": A.num_matvecs - before, "ritz_values": theta.cpu().numpy(),
                      "residuals": res.cpu().numpy()})
        if bool((res <= STOP_FRACTION * tol * max(float(theta.abs().max()), 1e-300)).all()):
            break
        Q, _ = torch.linalg.qr(AQ)
    return finish_spectral(A, theta.tolist(), list(Y.T), which="LM", tol=tol, norm_est=float(theta.abs().max()),
                           method="subspace_iteration", iterations=t, history=history, notes=[],
                           matvecs_before=before, return_eigenvectors=return_eigenvectors,
                           multiplicities_guaranteed=False, advice="raise max_iter")
