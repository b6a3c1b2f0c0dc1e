"""Symmetric matrices with spectra known by construction (the ground truth of the estimator tests and reports).

``Q diag(lambda) Q^T`` with Haar-random ``Q`` (matfree's ``hermitian_matrix_from_eigenvalues``); the four
families of 000 §3.3; the synthetic matrices of 002 Figure 8.
"""
from __future__ import annotations

import numpy as np
import torch

from hessverify._validation import as_float, as_int, as_seed, check_allocation, check_dtype

FAMILIES = ("gaussian", "uniform", "banded", "custom")


def symmetric_from_eigenvalues(eigenvalues, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``Q diag(eigenvalues) Q^T`` with a Haar-random orthogonal ``Q`` (QR of a Gaussian matrix, signs fixed)."""
    seed = as_seed("seed", seed)
    dtype = check_dtype("dtype", dtype)
    if isinstance(eigenvalues, (str, bytes, dict)) or _is_scalar(eigenvalues):
        raise TypeError(f"eigenvalues must be a 1-D sequence of numbers, got {type(eigenvalues).__name__}")
    try:
        lam = np.asarray(eigenvalues.detach().cpu() if isinstance(eigenvalues, torch.Tensor) else eigenvalues)
        if lam.dtype == object or lam.dtype.kind not in "iuf":
            raise TypeError(f"dtype {lam.dtype}")
        lam = torch.as_tensor(np.ascontiguousarray(lam, dtype=np.float64), dtype=dtype).reshape(-1)
    except (TypeError, ValueError, OverflowError) as e:
        raise TypeError(f"eigenvalues must be a 1-D sequence of real numbers ({e})") from None
    if np.ndim(eigenvalues) > 1:
        raise ValueError(f"eigenvalues must be 1-D, got shape {np.shape(eigenvalues)}")
    if lam.numel() == 0 or not bool(torch.isfinite(lam).all()):
        raise ValueError("eigenvalues must be a non-empty list of finite numbers")
    check_allocation("the symmetric matrix", (lam.numel(), lam.numel()), dtype, hint="pass fewer eigenvalues")
    g = torch.Generator().manual_seed(seed)
    Q, R = torch.linalg.qr(torch.randn(lam.numel(), lam.numel(), generator=g, dtype=dtype))
    Q = Q * torch.sign(torch.diagonal(R))
    A = Q @ torch.diag(lam) @ Q.T
    return (A + A.T) / 2


def _is_scalar(x) -> bool:
    return isinstance(x, (int, float, complex, np.generic)) or (isinstance(x, (np.ndarray, torch.Tensor)) and x.ndim == 0)


def family_spectrum(name: str, n: int, seed: int = 0, *, gaussian_sd: float = 10.0) -> np.ndarray:
    """000 §3.3 (descending): gaussian (standard deviation ``gaussian_sd``; 000 uses 1), uniform on [-50, 50],
    banded (tight clusters at five centres), custom (a bulk around 0 plus 10 extreme outliers on each side)."""
    if not isinstance(name, str) or name not in FAMILIES:
        raise ValueError(f"name={name!r} is not a family; choose one of {FAMILIES}")
    n = as_int("n", n, minimum=1)
    check_allocation("the spectrum", (n,), np.float64, hint="lower n")
    rng = np.random.default_rng(as_seed("seed", seed))
    gaussian_sd = as_float("gaussian_sd", gaussian_sd, minimum=0, min_inclusive=False)
    if name == "gaussian":
        with np.errstate(over="ignore"):
            lam = rng.standard_normal(n) * gaussian_sd
    elif name == "uniform":
        lam = rng.uniform(-50, 50, n)
    elif name == "banded":
        centres = np.array([-40.0, -10.0, 0.0, 15.0, 45.0])
        lam = centres[rng.integers(0, len(centres), n)] + rng.uniform(-0.5, 0.5, n)
    elif name == "custom":
        if n < 21:
            raise ValueError(f"n={n}: the custom family needs n >= 21 (a bulk plus 20 outliers)")
        lam = np.concatenate([rng.normal(0, 1, n - 20), rng.uniform(20, 60, 10), -rng.uniform(20, 60, 10)])
    else:
        raise ValueError(f"name={name!r} is not a family; choose one of {FAMILIES}")
    if not np.isfinite(lam).all():
        raise ValueError(f"gaussian_sd={gaussian_sd} overflows: the spectrum holds Inf; use a smaller gaussian_sd")
    return np.sort(lam)[::-1]


def spiked_wishart(n: int = 400, seed: int = 0) -> torch.Tensor:
    """002 Fig 8a: ``diag(5, 4, 3, 0, ...) + Z Z^T / n`` with standard normal ``Z`` (n x n)."""
    n = as_int("n", n)
    if n < 3:
        raise ValueError(f"n={n} must be at least 3 (three spikes)")
    check_allocation("the matrix", (3, n, n), torch.float64, hint="lower n")
    g = torch.Generator().manual_seed(as_seed("seed", seed))
    Z = torch.randn(n, n, generator=g, dtype=torch.float64)
    X = torch.zeros(n, n, dtype=torch.float64)
    X[0, 0], X[1, 1], X[2, 2] = 5.0, 4.0, 3.0
    A = X + Z @ Z.T / n
    return (A + A.T) / 2


def pareto_wishart(n: int = 400, seed: int = 0) -> torch.Tensor:
    """002 Fig 8b: ``Z Z^T / (2n)`` with ``Z`` (n x 2n) i.i.d. Pareto(alpha = 1): a power-law spectrum. (The
    caption's "Z in R^{500 x 1000}" read as giving a full-rank n x n matrix.)"""
    n = as_int("n", n)
    if n < 1:
        raise ValueError(f"n={n} must be at least 1")
    check_allocation("the matrix", (3, n, 2 * n), torch.float64, hint="lower n")
    rng = np.random.default_rng(as_seed("seed", seed))
    Z = torch.as_tensor(rng.pareto(1.0, (n, 2 * n)) + 1.0)
    A = Z @ Z.T / (2 * n)
    return (A + A.T) / 2
