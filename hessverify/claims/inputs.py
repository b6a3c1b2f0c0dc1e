"""Input recipes of settings: Gaussian inputs and the awkward cases reviewers reach for.

Each recipe is applied to raw Gaussian inputs (``X = G1 G2`` of inner dimension ``input_rank`` when given),
before any whitening (whitening by QR keeps the column space, so constant features, the all-ones vector in the
column space and duplicated samples survive it):

- ``"gaussian"``: i.i.d. N(0, 1) entries;
- ``"constant_feature"``: the first feature is 1 for every sample;
- ``"duplicated"``: sample ``i`` repeats sample ``i mod ceil(n/2)`` (every sample drawn twice, or once more);
- ``"ones_in_span"``: the all-ones sample vector lies in the column space of ``X`` without any constant column
  (``X = [1, G] M`` for a random mixing ``M``);
- ``"ill_conditioned"``: feature ``j`` scaled by ``2^(-27 j / (d0 - 1))``, a condition number near 1.3e8.

With ``exact=True`` every draw is dyadic (``hessverify.exact.construct.dyadic``) and the products are taken in
rational arithmetic, so the returned rationals are the inputs exactly and the floats are their roundings.
"""
from __future__ import annotations

from fractions import Fraction
import math

import flint
import numpy as np
import torch

from hessverify.exact.construct import dyadic, orthonormal_columns, to_float
from hessverify.exact.linear_models import rational_array

INPUTS = ("gaussian", "constant_feature", "duplicated", "ones_in_span", "ill_conditioned")
#: significant bits of the scale of exactly whitened inputs
SCALE_BITS = 10
#: ``"ill_conditioned"`` spreads the feature scales over this many binary orders of magnitude (2^27 ~ 1.3e8)
ILL_CONDITIONED_BITS = 27


def _gaussian(rows: int, cols: int, g: torch.Generator, exact: bool):
    G = torch.randn(rows, cols, generator=g, dtype=torch.float64)
    return rational_array(dyadic(G)) if exact else G


def _matmul(A, B, exact: bool):
    return A.dot(B) if exact else A @ B


def raw_inputs(recipe: str, n: int, d0: int, input_rank: int | None, g: torch.Generator, *, exact: bool):
    """``(n, d0)`` raw inputs of ``recipe`` (module docstring): a float64 tensor, or with ``exact`` an object
    array of rationals."""
    if input_rank is not None:
        X = _matmul(_gaussian(n, input_rank, g, exact), _gaussian(input_rank, d0, g, exact), exact)
        if not exact:
            X = X / input_rank**0.5
    else:
        X = _gaussian(n, d0, g, exact)
    one = flint.fmpq(1) if exact else 1.0
    if recipe == "constant_feature":
        X[:, 0] = one
    elif recipe == "duplicated":
        X = X[np.arange(n) % math.ceil(n / 2)]
    elif recipe == "ones_in_span":
        X[:, 0] = one
        X = _matmul(X, _gaussian(d0, d0, g, exact), exact)
    elif recipe == "ill_conditioned" and d0 > 1:
        for j in range(d0):
            X[:, j] = X[:, j] * (flint.fmpq(1, 2 ** round(ILL_CONDITIONED_BITS * j / (d0 - 1))) if exact
                                 else 2.0 ** -round(ILL_CONDITIONED_BITS * j / (d0 - 1)))
    return X


def exact_whitened_inputs(recipe: str, n: int, d0: int, sigma_x: float, g: torch.Generator):
    """Rational inputs with ``X^T X / n = sigma^2 I`` exactly and the float ``sigma`` they have.

    ``X = c Q`` with ``Q`` rational orthonormal columns (Cayley) and ``c`` the dyadic rational with 10 significant
    bits nearest ``sigma_x sqrt(n)``, so ``sigma = c / sqrt(n)`` is within 0.1% of ``sigma_x`` (exact whitening to a
    given irrational scale has no rational solution in general). ``"duplicated"`` stacks ``Q`` twice
    (even ``n``); other recipes have no exact whitened form.
    """
    if recipe not in ("gaussian", "duplicated"):
        raise ValueError(f"inputs={recipe!r} has no exactly whitened form; use sigma_x=None (raw inputs) with "
                         "exact=True, or exact=False")
    rows = n
    if recipe == "duplicated":
        if n % 2:
            raise ValueError(f"inputs='duplicated' with exact whitened inputs needs an even n, got n={n}")
        rows = n // 2
    if rows < d0:
        raise ValueError(f"exact whitened inputs need at least d0={d0} distinct samples, got {rows}")
    Q = orthonormal_columns(rows, d0, g)
    target = float(sigma_x) * math.sqrt(n)
    if not math.isfinite(target) or target <= 0:
        raise ValueError(f"sigma_x={sigma_x} must be finite and > 0")
    bits = SCALE_BITS - math.floor(math.log2(target))
    scaled = Fraction(round(target * 2.0**bits))
    c = scaled / Fraction(2) ** bits if bits >= 0 else scaled * 2 ** (-bits)
    X = Q[np.arange(n) % rows] * flint.fmpq(c.numerator, c.denominator)
    return X, float(c) / math.sqrt(n)


def float_inputs(X):
    """The float64 tensor of ``raw_inputs`` output (rationals rounded)."""
    return to_float(X) if isinstance(X, np.ndarray) and X.dtype == object else X
