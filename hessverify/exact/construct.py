"""Rational building blocks for settings whose numbers are exact by construction.

- :func:`dyadic`: a float tensor rounded to ``bits`` binary places; its floats *are* the rationals
  ``k / 2^bits`` (``|k| < 2^53``), so the exact route reads them back without loss.
- :func:`cayley_orthogonal`: ``Q = (I - S)(I + S)^{-1}`` for a random integer skew-symmetric ``S`` is orthogonal
  with rational entries (Cayley transform; ``I + S`` is invertible because ``S``'s eigenvalues are imaginary).
  Balanced weights (003 Assumption 3) and whitened inputs (Assumption 2) built from such ``Q`` meet their
  identities exactly in rational arithmetic; their floats are roundings.

Random integer entries of 20 bits make an accidental non-generic point (a minor that vanishes by chance) a
Schwartz-Zippel event of probability at most ``degree / 2^20`` per polynomial.
"""
from __future__ import annotations

import flint
import numpy as np
import torch

#: binary places of dyadic draws
DYADIC_BITS = 20
#: entries of the skew-symmetric matrix of a Cayley transform are integers in [-CAYLEY_RANGE, CAYLEY_RANGE]
CAYLEY_RANGE = 2**10


def dyadic(x: torch.Tensor, bits: int = DYADIC_BITS) -> torch.Tensor:
    """``x`` rounded to ``bits`` binary places (float64): every entry is exactly ``k / 2^bits``."""
    scale = float(2**bits)
    return torch.round(x.double() * scale) / scale


def to_fmpq_mat(a: np.ndarray) -> flint.fmpq_mat:
    """An object array of rationals as an ``fmpq_mat``."""
    a = np.asarray(a, dtype=object)
    return flint.fmpq_mat(a.tolist()) if a.size else flint.fmpq_mat(*a.shape)


def to_object(M: flint.fmpq_mat) -> np.ndarray:
    """An ``fmpq_mat`` as an object array of ``fmpq`` (shape kept for empty matrices)."""
    out = np.empty((M.nrows(), M.ncols()), dtype=object)
    for i, row in enumerate(M.tolist()):
        out[i, :] = row
    return out


def to_float(a: np.ndarray) -> torch.Tensor:
    """The float64 rounding of an object array of rationals."""
    arr = np.asarray(a, dtype=object)
    flat = [int(x.p) / int(x.q) for x in arr.reshape(-1)]
    return torch.tensor(flat, dtype=torch.float64).reshape(arr.shape)


def cayley_orthogonal(d: int, generator: torch.Generator) -> np.ndarray:
    """A ``d x d`` orthogonal matrix with rational entries (object array of ``fmpq``), random (Cayley)."""
    raw = torch.randint(-CAYLEY_RANGE, CAYLEY_RANGE + 1, (d, d), generator=generator)
    upper = torch.triu(raw, diagonal=1)
    S = flint.fmpq_mat((upper - upper.T).tolist())
    eye = flint.fmpq_mat([[int(i == j) for j in range(d)] for i in range(d)])
    return to_object((eye - S) * (eye + S).inv())


def orthonormal_columns(rows: int, cols: int, generator: torch.Generator) -> np.ndarray:
    """The first ``cols`` columns of :func:`cayley_orthogonal` ``(rows)``: rational orthonormal columns."""
    return cayley_orthogonal(rows, generator)[:, :cols]


def diagonal(values) -> np.ndarray:
    """``diag(values)`` as an object array of ``fmpq`` (floats taken exactly)."""
    from hessverify.exact.linear_models import rational

    vals = [rational(v) for v in values]
    out = np.empty((len(vals), len(vals)), dtype=object)
    out.fill(flint.fmpq(0))
    for i, v in enumerate(vals):
        out[i, i] = v
    return out
