"""Spectral density by stochastic Lanczos quadrature with the normalisation of 002 (Algorithms 3-4, eq 7).

1. Normalization (002 Alg. 4): ``M0`` Lanczos steps give ``lambda_min/max`` widened by their Ritz residuals
   and a margin ``tau (lambda_max - lambda_min)``; ``A' = (A - c I) / h`` has spectrum in ``[-1, 1]``.
2. LanczosApproxSpec (002 Alg. 3): for each of ``num_vectors`` random unit starts, ``M`` Lanczos steps give
   nodes ``theta_m`` and weights ``y_m[1]^2``; the density is ``phi(t) = mean_l sum_m y_m[1]^2 g_sigma(t - theta_m)``
   with Gaussian ``g_sigma`` and ``sigma = 2 / ((M - 1) sqrt(8 log kappa))``.
3. The density is mapped back to the original axis (divided by ``h``), so it integrates to about one.

``log_scale=True`` follows 002 §5.6 / eq 7 in spirit: the nodes become ``log(|theta| + eps)`` and the same
Gaussian bumps (same weights, width ``sigma`` of the log range) are placed there, which gives the density of
``log|lambda|`` directly: it integrates to about one over the log axis and no ``1 / |theta|`` Jacobian factor is
applied (that factor converts a density of ``lambda`` into one of ``log|lambda|``, which is not needed when the
smoothing itself happens on the log axis).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from hessverify._validation import as_bool, as_float, as_int, check_allocation
from hessverify.estimators._operator import (Callback, SymmetricOperator, check_count, make_generator, real_tensor,
                                             with_progress)
from hessverify.estimators.lanczos_kernel import check_sync_every, lanczos_tridiagonal
from hessverify.estimators.result import DensityResult

#: the largest ``margin`` accepted: the range widened by ten times itself on each side is already 21 times as wide
MAX_MARGIN = 10.0
#: grid points when ``grid`` is not given
DEFAULT_GRID = 1024


def spectral_density(
    op,
    num_iter: int = 64,
    *,
    num_vectors: int = 1,
    grid: torch.Tensor | int | None = None,
    kappa: float = 3.0,
    seed: int | None = None,
    margin: float = 0.05,
    normalization_iter: int = 32,
    log_scale: bool = False,
    log_eps: float = 1e-12,
    generator: torch.Generator | None = None,
    check_symmetry: bool = True,
    callback: Callback | None = None,
    progress: bool = False,
) -> DensityResult:
    """Density of the spectrum of a symmetric operator by stochastic Lanczos quadrature (002 Alg. 3-4, eq 7).

    Parameters
    ----------
    op
        A symmetric operator (as :func:`~hessverify.estimators.lanczos`).
    num_iter
        Lanczos steps per probe (full reorthogonalisation).
    num_vectors
        Random probes; the density is their mean.
    grid
        Points to evaluate the density at, or their count (default 1024) on the estimated range.
    kappa
        ``> 1``: sets the kernel width ``sigma = 2 / ((M - 1) sqrt(8 log kappa))`` (002 uses 3).
    seed, generator
        The random probes.
    margin
        Fraction of the estimated range added on each side.
    normalization_iter
        Lanczos steps of the range estimate (002 Alg. 4).
    log_scale, log_eps
        The density of ``log(|lambda| + log_eps)`` instead (module docstring).
    check_symmetry
        Probe the operator for symmetry first.
    callback, progress
        ``callback(info)`` after each probe (``step``, ``probe``, ``num_matvecs``); ``progress=True`` shows a
        progress line.

    Returns
    -------
    DensityResult
        ``grid``, ``density`` (integrates to about one), the quadrature ``nodes`` and ``weights``, ``sigma``.
    """
    log_scale = as_bool("log_scale", log_scale)
    A = SymmetricOperator(op, check_symmetry=check_symmetry, seed=seed)
    num_iter = min(check_count(num_iter, "num_iter", 2), A.size)
    num_vectors = check_count(num_vectors, "num_vectors")
    normalization_iter = check_count(normalization_iter, "normalization_iter", 2)
    try:
        kappa = as_float("kappa", kappa, minimum=1, min_inclusive=False)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{e}; the kernel width uses log(kappa), 002 uses 3") from None
    try:
        margin = as_float("margin", margin, minimum=0, maximum=MAX_MARGIN)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{e}; it is the fraction of the spectral range added on each side, 0.05 by default") from None
    log_eps = as_float("log_eps", log_eps, minimum=0, min_inclusive=False)
    grid = _check_grid(grid)
    num_nodes = num_vectors * num_iter
    check_allocation("the quadrature nodes", (num_nodes,), torch.float64, hint="lower num_vectors or num_iter")
    num_points = DEFAULT_GRID if grid is None else grid if isinstance(grid, int) else grid.numel()
    check_allocation("the density kernel (grid x nodes)", (num_points, num_nodes), torch.float64,
                     hint="lower grid, num_vectors or num_iter")
    g = make_generator(A.device, seed, generator)
    before = A.num_matvecs
    options = {"generator": g, "sync_every": check_sync_every(None, A.device)}
    # 002 Algorithm 4: range estimate with Ritz-residual widening and margin
    run = lanczos_tridiagonal(A, min(normalization_iter, A.size), **options)
    theta, S = run.ritz()
    res = run.residual_estimates(S)
    lo, hi = float(theta[0] - res[0]), float(theta[-1] + res[-1])
    # the floor is relative to the spectrum's size (an absolute one widened a 1e-13-scale spectrum 20-fold);
    # only the zero operator falls back to 1
    delta = margin * (max(hi - lo, 1e-12 * max(abs(lo), abs(hi))) or 1.0)
    lo, hi = lo - delta, hi + delta
    h = (hi - lo) / 2  # the half-width of 002 Alg. 4's normalisation (A - c I) / h
    nodes, weights = [], []
    report = with_progress(callback, progress, "spectral_density")
    for probe in range(num_vectors):
        r = lanczos_tridiagonal(A, num_iter, **options)
        th, Sv = r.ritz()
        nodes.append(th)
        weights.append(Sv[0, :] ** 2 / num_vectors)
        if report is not None:
            report({"step": probe + 1, "probe": probe, "num_matvecs": A.num_matvecs - before})
    nodes_np, weights_np = np.concatenate(nodes), np.concatenate(weights)
    M = max(num_iter, 2)
    sigma = 2.0 / ((M - 1) * math.sqrt(8 * math.log(kappa)))
    if log_scale:
        x_nodes = np.log(np.abs(nodes_np) + log_eps)
        amax = max(abs(lo), abs(hi))
        x_lo = math.log(max(np.abs(nodes_np).min(), log_eps) + log_eps) - 1.0
        x_hi = math.log(amax + log_eps)
        width = sigma * (x_hi - x_lo) / 2
    else:
        x_nodes, x_lo, x_hi, width = nodes_np, lo, hi, sigma * h
    if grid is None or isinstance(grid, int):
        grid_np = np.linspace(x_lo, x_hi, DEFAULT_GRID if grid is None else grid)
    else:
        grid_np = grid.cpu().numpy().astype(np.float64)
    # Gaussian bumps of width sigma in normalised units, i.e. sigma*h on the original axis
    z = (grid_np[:, None] - x_nodes[None, :]) / width
    dens = (weights_np[None, :] * np.exp(-0.5 * z**2)).sum(1) / (width * math.sqrt(2 * math.pi))
    if not (np.isfinite(dens).all() and math.isfinite(width) and width > 0):
        raise ValueError(f"the density is not finite (range [{lo:.3g}, {hi:.3g}], kernel width {width:.3g}); lower "
                         "margin or rescale op")
    return DensityResult(
        grid=torch.as_tensor(grid_np), density=torch.as_tensor(dens), nodes=torch.as_tensor(nodes_np),
        weights=torch.as_tensor(weights_np), num_matvecs=A.num_matvecs - before, sigma=width,
        log_scale=log_scale, lambda_range=(lo, hi),
    )


def _check_grid(grid) -> int | torch.Tensor | None:
    """``grid`` as None, a point count (an int >= 2; numpy and 0-dim integer tensors pass) or a 1-D tensor of
    finite real points (a tensor, array, list or tuple)."""
    if grid is None:
        return None
    if isinstance(grid, (list, tuple)):
        try:
            grid = torch.as_tensor(grid, dtype=torch.float64)  # Python floats never pass through float32
        except (TypeError, ValueError, RuntimeError, OverflowError):
            raise TypeError("grid must be a point count (an int >= 2) or a 1-D sequence of real numbers") from None
    if isinstance(grid, (torch.Tensor, np.ndarray)) and np.ndim(grid) >= 1:
        points = real_tensor("grid", grid, "the points to evaluate the density at")
        if points.ndim != 1 or points.numel() == 0:
            raise ValueError(f"grid has shape {tuple(points.shape)}; pass a non-empty 1-D tensor of points or a count")
        return points
    return as_int("grid", grid, minimum=2)
