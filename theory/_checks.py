"""Argument checks for theory functions (numpy only)."""
from __future__ import annotations

import numbers

import numpy as np


def check_widths(widths) -> tuple[int, ...]:
    try:
        out = tuple(int(w) for w in widths)
    except (TypeError, ValueError):
        raise TypeError(f"widths must be a sequence of positive ints such as (4, 8, 2), got {widths!r}") from None
    if any(not isinstance(w, (numbers.Integral, np.integer)) or isinstance(w, bool) for w in widths):
        raise TypeError(f"widths must hold ints, got {widths!r}")
    if len(out) < 2:
        raise ValueError(f"widths={out} needs at least 2 entries (input width, then one per layer; depth >= 1)")
    if min(out) < 1:
        raise ValueError(f"widths={out} has a width < 1; every width must be positive")
    return out


def check_sigma_x(sigma_x) -> float:
    s = float(sigma_x)
    if not np.isfinite(s) or s <= 0:
        raise ValueError(f"sigma_x={sigma_x} must be finite and > 0 (the input scale of Assumption 2)")
    return s


def check_singular_values(values, k: int) -> np.ndarray:
    s = np.asarray(values, dtype=float).reshape(-1)
    if s.size != k:
        raise ValueError(f"singular_values has {s.size} entries but min(widths) = {k}; pass exactly {k}")
    if not np.all(np.isfinite(s)) or np.any(s < 0):
        raise ValueError("singular_values must be finite and non-negative")
    return s


def check_weights(weights) -> list[np.ndarray]:
    Ws = [np.asarray(W, dtype=float) for W in weights]
    if not Ws:
        raise ValueError("weights is empty; pass [W_1, ..., W_L] with W_l of shape (d_l, d_{l-1})")
    for l, W in enumerate(Ws, start=1):
        if W.ndim != 2:
            raise ValueError(f"W_{l} must be 2-D (d_{l}, d_{l - 1}), got shape {W.shape}")
        if not np.all(np.isfinite(W)):
            raise ValueError(f"W_{l} contains NaN or Inf")
    for l, (a, b) in enumerate(zip(Ws[:-1], Ws[1:]), start=1):
        if b.shape[1] != a.shape[0]:
            raise ValueError(f"W_{l + 1} has {b.shape[1]} columns but W_{l} has {a.shape[0]} rows; shapes must chain")
    return Ws


def check_depth(depth) -> int:
    if isinstance(depth, bool) or not isinstance(depth, (numbers.Integral, np.integer)):
        raise TypeError(f"depth must be an int (number of layers L), got {depth!r}")
    if int(depth) < 1:
        raise ValueError(f"depth={depth} must be at least 1 (number of layers L)")
    return int(depth)


def check_nonnegative(name: str, values) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise ValueError(f"{name} must be finite and non-negative (singular values)")
    return v


def check_samples(name: str, A, rows: int | None = None, cols: int | None = None) -> np.ndarray:
    A = np.asarray(A, dtype=float)
    if A.ndim != 2:
        raise ValueError(f"{name} must be 2-D (samples x features), got shape {A.shape}")
    if rows is not None and A.shape[0] != rows:
        raise ValueError(f"{name} has {A.shape[0]} rows but {rows} are needed (one per sample)")
    if cols is not None and A.shape[1] != cols:
        raise ValueError(f"{name} has {A.shape[1]} columns but the weights need {cols} (d0)")
    if not np.all(np.isfinite(A)):
        raise ValueError(f"{name} contains NaN or Inf")
    return A
