"""Symmetric test matrices with spectra known by construction (matfree's ``hermitian_matrix_from_eigenvalues``).

The four families of 000 §3.3 and the synthetic matrices of 002 Figure 8.
"""
from __future__ import annotations

import numpy as np
import torch


def symmetric_from_eigenvalues(eigenvalues, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    """``Q diag(eigenvalues) Q^T`` with a Haar-random orthogonal ``Q``."""
    lam = torch.as_tensor(np.ascontiguousarray(eigenvalues, dtype=np.float64), dtype=dtype)
    g = torch.Generator().manual_seed(seed)
    Q, R = torch.linalg.qr(torch.randn(lam.numel(), lam.numel(), generator=g, dtype=dtype))
    Q = Q * torch.sign(torch.diagonal(R))
    A = Q @ torch.diag(lam) @ Q.T
    return (A + A.T) / 2


def family(name: str, n: int, seed: int = 0) -> np.ndarray:
    """Eigenvalues of the 000 §3.3 families: gaussian, uniform on [-50, 50], banded clusters, custom."""
    rng = np.random.default_rng(seed)
    if name == "gaussian":
        lam = rng.standard_normal(n) * 10
    elif name == "uniform":
        lam = rng.uniform(-50, 50, n)
    elif name == "banded":  # tight clusters (bands) at a few centres
        centres = np.array([-40.0, -10.0, 0.0, 15.0, 45.0])
        lam = centres[rng.integers(0, len(centres), n)] + rng.uniform(-0.5, 0.5, n)
    elif name == "custom":  # bulk around 0 plus 10 extreme outliers on each side
        lam = np.concatenate([rng.normal(0, 1, n - 20), rng.uniform(20, 60, 10), -rng.uniform(20, 60, 10)])
    else:
        raise ValueError(name)
    return np.sort(lam)[::-1]


FAMILIES = ("gaussian", "uniform", "banded", "custom")


def spiked_wishart(n: int = 400, seed: int = 0) -> torch.Tensor:
    """002 Fig 8a: ``diag(5, 4, 3, 0, ...) + Z Z^T / n`` with standard normal ``Z``."""
    g = torch.Generator().manual_seed(seed)
    Z = torch.randn(n, n, generator=g, dtype=torch.float64)
    X = torch.zeros(n, n, dtype=torch.float64)
    X[0, 0], X[1, 1], X[2, 2] = 5.0, 4.0, 3.0
    A = X + Z @ Z.T / n
    return (A + A.T) / 2


def pareto_wishart(n: int = 400, seed: int = 0) -> torch.Tensor:
    """002 Fig 8b: ``Z Z^T / (2n)`` with ``Z`` (n x 2n) i.i.d. Pareto(alpha=1): a power-law spectrum."""
    rng = np.random.default_rng(seed)
    Z = torch.as_tensor(rng.pareto(1.0, (n, 2 * n)) + 1.0)
    A = Z @ Z.T / (2 * n)
    return (A + A.T) / 2
