"""Expected GGN trace of a deep linear network at random initialisation, derived here from 003 eq (7).

003 eq (7) (whitened inputs, any weights): ``Tr G = sigma_x^2 sum_l ||P_l||_F^2 ||S_l||_F^2`` with
``P_l = W_L ... W_{l+1}`` (``d_L x d_l``) and ``S_l = W_{l-1} ... W_1`` (``d_{l-1} x d_0``). For independent
layers with i.i.d. zero-mean entries of variance ``v_l``, ``E ||W x||^2 = d_out v ||x||^2`` gives

    E ||P_l||_F^2 = d_l prod_{j>l} d_j v_j,    E ||S_l||_F^2 = d_0 prod_{j<l} d_j v_j,

and independence of ``P_l`` and ``S_l`` (disjoint layers) gives ``E Tr G = sigma_x^2 sum_l E||P_l||^2 E||S_l||^2``.
PyTorch's default ``nn.Linear`` initialisation (``kaiming_uniform_(a=sqrt(5))``) is ``U(+-1/sqrt(fan_in))``, so
``v_l = 1 / (3 d_{l-1})``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from theory._checks import check_sigma_x, check_widths


def torch_default_variances(widths: Sequence[int]) -> list[float]:
    """``v_l = 1 / (3 d_{l-1})``: the variance of ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.

    Parameters
    ----------
    widths : Sequence[int]
        ``(d_0, d_1, ..., d_L)``: input width, hidden widths, output width.

    Returns
    -------
    list of float
        ``v_l`` for ``l = 1..L``.
    """
    widths = check_widths(widths)
    return [1.0 / (3 * a) for a in widths[:-1]]


def expected_ggn_trace(widths: Sequence[int], variances: Sequence[float], sigma_x: float) -> float:
    """``E Tr G`` over independent zero-mean layers with entry variances ``variances`` (see module docstring).

    Parameters
    ----------
    widths : Sequence[int]
        ``(d_0, d_1, ..., d_L)``: input width, hidden widths, output width.
    variances : Sequence[float]
        The entry variance ``v_l`` of each layer's weights.
    sigma_x : float
        The input scale ``sigma_x`` of whitened inputs, ``X^T X / n = sigma_x^2 I`` (003 Assumption 2).

    Returns
    -------
    float
        ``E Tr G``.
    """
    widths, sigma_x = check_widths(widths), check_sigma_x(sigma_x)
    v = np.asarray(variances, dtype=float)
    L = len(widths) - 1
    if v.shape != (L,) or not np.isfinite(v).all() or (v < 0).any():
        raise ValueError(f"variances must be {L} non-negative finite values, one per layer; got {variances!r}")
    gain = [widths[l + 1] * v[l] for l in range(L)]  # d_l v_l for layer l = 1..L (0-based here)
    total = 0.0
    for l in range(L):
        p = widths[l + 1] * float(np.prod(gain[l + 1:]))
        s = widths[0] * float(np.prod(gain[:l]))
        total += p * s
    return sigma_x**2 * total


def balanced_init_trace(widths: Sequence[int], scale: float, sigma_x: float) -> float:
    r"""Balanced initialisation with every singular value ``scale`` (``k = min(widths)`` of them, Haar singular
    vectors): ``||P_l||_F^2 = k s^(2(L-l))`` for ``l < L`` (``d_L`` at ``l = L``), ``||S_l||_F^2 = k s^(2(l-1))``
    for ``l > 1`` (``d_0`` at ``l = 1``), so by 003 eq (7) ``Tr G = sigma_x^2 k s^(2(L-1)) (d_0 + d_L + (L-2) k)``
    for ``L >= 2`` and ``sigma_x^2 d_0 d_1`` for ``L = 1``, the same for every draw.

    .. math::

        \operatorname{Tr} G = \sigma_x^2\, k\, s^{2(L-1)} \bigl(d_0 + d_L + (L-2)k\bigr)

    Parameters
    ----------
    widths : Sequence[int]
        ``(d_0, d_1, ..., d_L)``: input width, hidden widths, output width.
    scale : float
        The common singular value ``s``.
    sigma_x : float
        The input scale ``sigma_x`` of whitened inputs, ``X^T X / n = sigma_x^2 I`` (003 Assumption 2).

    Returns
    -------
    float
        ``Tr G``.
    """
    widths, sigma_x = check_widths(widths), check_sigma_x(sigma_x)
    if not np.isfinite(scale) or scale < 0:
        raise ValueError(f"scale={scale!r} must be a non-negative finite singular value")
    L, k = len(widths) - 1, min(widths)
    if L == 1:
        return sigma_x**2 * widths[0] * widths[1]
    return sigma_x**2 * k * scale ** (2 * (L - 1)) * (widths[0] + widths[-1] + (L - 2) * k)
