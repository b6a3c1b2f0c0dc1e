"""GGN spectrum of shallow linear networks on raw (non-whitened) inputs, derived here (extends 003 eq 10/15).

Setting: ``f(x) = W2 W1 x``, MSE, GGN ``J^T J / n``, input covariance ``Sigma = X^T X / n``.

Derivation. By 003 eq (5) the NTK of a two-layer network is ``A_1 kron I + A_2 kron (W2 W2^T)`` with
``A_1 = X W1^T W1 X^T / n`` and ``A_2 = X X^T / n`` (sample space). If ``Sigma`` commutes with ``M = W1^T W1``,
so do ``A_1`` and ``A_2`` (both are ``X (.) X^T`` with ``X = sqrt(n) Q Sigma^{1/2} V^T``-type factors), and the
three summands can be diagonalised together: with ``(c_b, s_b^2)`` the joint eigenvalues of ``(Sigma, M)`` and
``t_a`` the singular values of ``W2``, the non-zero GGN eigenvalues (those of the NTK) are

    lambda_ab = c_b (s_b^2 + t_a^2),   a = 1..d2, b = 1..d0,

with ``s`` and ``t`` padded with zeros; the other eigenvalues are zero (when ``d0 d2 > p`` the surplus pairs
are pairs of zero singular values). No balance is needed. At ``c_b =
sigma_x^2`` this is the corrected eq (15). ``theory.symbolic.raw_input_charpoly_residual`` proves the
characteristic polynomial with sympy in the aligned coordinates (``W1``, ``W2``, ``Sigma`` diagonal), where
the GGN splits into one rank-one ``2 x 2`` block per pair ``(a, b)``.

General ``Sigma`` (no commuting): the form is linear and monotone in ``Sigma``, so ``c_min G_I <= G_Sigma <=
c_max G_I`` in the Loewner order (``G_I``: the GGN on inputs with identity covariance), and by Weyl's
monotonicity every ordered eigenvalue obeys ``c_min lambda_k(G_I) <= lambda_k(G_Sigma) <= c_max lambda_k(G_I)``.
"""
from __future__ import annotations

import numpy as np


def _joint_eigenpairs(Sigma: np.ndarray, W1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(c_b, s_b^2)`` along common eigenvectors of the commuting ``Sigma`` and ``W1^T W1``."""
    M = W1.T @ W1
    if not np.allclose(Sigma @ M, M @ Sigma, atol=1e-10 * (np.abs(Sigma).max() * np.abs(M).max() + 1e-300)):
        raise ValueError("Sigma does not commute with W1^T W1; use covariance_bounds for the general case")
    _, V = np.linalg.eigh(Sigma + np.pi * M / max(np.abs(M).max(), 1e-300) * np.abs(Sigma).max())
    return np.einsum("ib,ij,jb->b", V, Sigma, V), np.einsum("ib,ij,jb->b", V, M, V).clip(min=0)


def shallow_spectrum_commuting(W1: np.ndarray, W2: np.ndarray, Sigma: np.ndarray) -> np.ndarray:
    """All ``p`` GGN eigenvalues (descending): ``c_b (t_a^2 + s_b^2)`` for every pair, then zeros.

    Parameters
    ----------
    W1 : np.ndarray
        The first layer's weights, shape ``(d_1, d_0)``.
    W2 : np.ndarray
        The second layer's weights, shape ``(d_2, d_1)``.
    Sigma : np.ndarray
        The input covariance ``X^T X / n`` (``d_0 x d_0``), commuting with ``W1^T W1``.

    Returns
    -------
    numpy.ndarray
        The ``p`` eigenvalues, descending.
    """
    W1, W2, Sigma = (np.asarray(m, dtype=float) for m in (W1, W2, Sigma))
    c, s2 = _joint_eigenpairs(Sigma, W1)
    t = np.zeros(W2.shape[0])
    sv = np.linalg.svd(W2, compute_uv=False)
    t[: min(t.size, sv.size)] = sv[: t.size]
    vals = np.sort((c[None, :] * (t[:, None] ** 2 + s2[None, :])).ravel())[::-1]
    p = W1.size + W2.size  # d0 d2 may exceed p: the pairs beyond p are pairs of zero singular values
    return np.concatenate([vals[:p], np.zeros(max(p - vals.size, 0))])


def covariance_bounds(whitened_spectrum: np.ndarray, Sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Loewner bounds for any ``Sigma``: ``(c_min, c_max) * lambda_k(G_I)`` elementwise (descending).

    Parameters
    ----------
    whitened_spectrum : np.ndarray
        ``lambda_k(G_I)``: the spectrum at identity covariance, descending.
    Sigma : np.ndarray
        The input covariance ``X^T X / n``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(lower, upper)`` elementwise bounds.
    """
    c = np.linalg.eigvalsh(np.asarray(Sigma, dtype=float))
    lam = np.sort(np.asarray(whitened_spectrum, dtype=float))[::-1]
    return c.min() * lam, c.max() * lam
