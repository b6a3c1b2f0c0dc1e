"""Papyan's decompositions of the cross-entropy Hessian (document 002).

Notation of 002 eq (2)-(5) and Appendix A: sample ``i`` of class ``c`` has Jacobian ``J_i`` (``C x p``),
softmax ``p_i``, and ``g_{i,c'} = J_i^T (e_{c'} - p_i)`` is its gradient *as if* its label were ``c'``
(the sign is irrelevant: only outer products enter). Then ``G = (1/N) sum_i J_i^T (diag p_i - p_i p_i^T) J_i
= (1/N) sum_{i,c'} p_{i,c'} g_{i,c'} g_{i,c'}^T`` and, with class-conditional weights and means

    p_{c,c'} = sum_{i in c} p_{i,c'},   g_{c,c'} = sum_{i in c} p_{i,c'} g_{i,c'} / p_{c,c'},
    Sigma_{c,c'} = sum_{i in c} p_{i,c'} (g_{i,c'} - g_{c,c'})(...)^T / p_{c,c'},
    p_c = sum_{c' != c} p_{c,c'},       g_c = sum_{c' != c} p_{c,c'} g_{c,c'} / p_c,
    Sigma_c = sum_{c' != c} p_{c,c'} (g_{c,c'} - g_c)(...)^T / p_c,

eq (5) / (32) reads ``G = A1 + A2 + B1 + B2`` with ``A1 = sum_c p_c g_c g_c^T / N``, ``A2 = sum_c p_{c,c}
g_{c,c} g_{c,c}^T / N``, ``B1 = sum_c p_c Sigma_c / N``, ``B2 = sum_{c,c'} p_{c,c'} Sigma_{c,c'} / N``.
002 divides by ``nC`` (``n`` samples in each of ``C`` classes); ``N`` (all samples) is the same for
balanced classes and keeps the identity for any class counts.

As printed (eq 4 and eq 25) ``Sigma_c`` is centred at ``g_{c'}`` instead of ``g_c``; ``as_printed=True``
builds ``B1`` that way (the claims registry shows the identity then fails).
"""
from __future__ import annotations

import numpy as np


def _check_jp(jacobians, probs):
    J = np.asarray(jacobians, float)
    P = np.asarray(probs, float)
    if J.ndim != 3:
        raise ValueError(f"jacobians must have shape (N, C, p), got {J.shape}")
    N, C, _ = J.shape
    if P.shape != (N, C):
        raise ValueError(f"probs must have shape (N, C) = {(N, C)}, got {P.shape}")
    if not np.allclose(P.sum(1), 1.0, atol=1e-8) or (P < 0).any():
        raise ValueError("probs rows must be probability vectors (softmax outputs): non-negative, summing to 1")
    return J, P


def _check(jacobians, probs, labels):
    J, P = _check_jp(jacobians, probs)
    N, C, _ = J.shape
    y = np.asarray(labels)
    if y.shape != (N,) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be N={N} integer class indices")
    if y.size and (y.min() < 0 or y.max() >= C):
        raise ValueError(f"labels must lie in [0, {C})")
    return J, P, y


def per_sample_gradients(jacobians, probs) -> np.ndarray:
    """002 eq (3): ``g_{i,c'} = J_i^T (e_{c'} - p_i)``, shape ``(N, C, p)``.

    Parameters
    ----------
    jacobians : array_like
        ``J_i``, shape ``(N, C, p)``: the logits' Jacobian per sample.
    probs : array_like
        ``p_i``, shape ``(N, C)``: the softmax probabilities.

    Returns
    -------
    numpy.ndarray
        ``g_{i,c'}``, shape ``(N, C, p)``.
    """
    J, P = _check_jp(jacobians, probs)
    C = J.shape[1]
    R = np.eye(C)[None, :, :] - P[:, None, :]  # (N, c', C)
    return np.einsum("nkc,ncp->nkp", R, J)


def gauss_newton(jacobians, probs) -> np.ndarray:
    r"""002 eq (2): ``G = (1/N) sum_i J_i^T (diag p_i - p_i p_i^T) J_i``.

    .. math::

        G = \frac{1}{N} \sum_i J_i^\top (\operatorname{diag} p_i - p_i p_i^\top) J_i

    Parameters
    ----------
    jacobians : array_like
        ``J_i``, shape ``(N, C, p)``.
    probs : array_like
        ``p_i``, shape ``(N, C)``.

    Returns
    -------
    numpy.ndarray
        ``G``, shape ``(p, p)``.
    """
    J, P = _check_jp(jacobians, probs)
    Hout = np.einsum("nc,cd->ncd", P, np.eye(P.shape[1])) - P[:, :, None] * P[:, None, :]
    HJ = np.einsum("ncd,ndq->ncq", Hout, J)  # two contractions: a single three-operand einsum loops over n c d p q
    N, C, p = J.shape
    return J.reshape(N * C, p).T @ HJ.reshape(N * C, p) / N


def a1_factor(jacobians, probs, labels) -> np.ndarray:
    """``F`` (``C x p``) with ``A1 = F^T F``: rows ``sqrt(p_c / N) g_c`` (002 eq 5), so ``rank A1 = rank F <= C``.

    Parameters
    ----------
    jacobians : array_like
        ``J_i``, shape ``(N, C, p)``.
    probs : array_like
        ``p_i``, shape ``(N, C)``.
    labels : array_like
        The integer class ``c`` of each sample, shape ``(N,)``.

    Returns
    -------
    numpy.ndarray
        ``F``, shape ``(C, p)``.
    """
    parts = _decomposition_parts(jacobians, probs, labels)
    return np.sqrt(parts["p_c"] / parts["N"])[:, None] * parts["g_c"]


def _decomposition_parts(jacobians, probs, labels) -> dict:
    """The class statistics of 002 Appendix A: ``p_{c,c'}``, ``g_{c,c'}``, ``B2``, ``p_c``, ``g_c``."""
    J, P, y = _check(jacobians, probs, labels)
    N, C, p = J.shape
    g = per_sample_gradients(J, P)  # (N, C', p)
    p_cc = np.zeros((C, C))
    g_cc = np.zeros((C, C, p))
    B2 = np.zeros((p, p))
    for c in range(C):
        idx = y == c
        if not idx.any():
            continue
        w = P[idx]  # (n_c, C')
        p_cc[c] = w.sum(0)
        for k in range(C):
            if p_cc[c, k] <= 0:
                continue
            g_cc[c, k] = w[:, k] @ g[idx, k] / p_cc[c, k]
            D = g[idx, k] - g_cc[c, k]
            B2 += (w[:, k, None] * D).T @ D  # p_{c,c'} Sigma_{c,c'}
    off = p_cc * (1 - np.eye(C))  # p_{c,c'} for c' != c
    p_c = off.sum(1)
    g_c = np.einsum("ck,ckp->cp", off, g_cc) / np.where(p_c > 0, p_c, 1.0)[:, None]
    return {"N": N, "C": C, "p": p, "p_cc": p_cc, "g_cc": g_cc, "B2": B2, "off": off, "p_c": p_c, "g_c": g_c}


def ggn_decomposition(jacobians, probs, labels, *, as_printed: bool = False) -> dict[str, np.ndarray]:
    """002 eq (4)-(5), Appendix A eq (32): ``{"A1", "A2", "B1", "B2"}`` (each ``p x p``) for cross-entropy.

    Parameters
    ----------
    jacobians : array_like
        ``J_i``, shape ``(N, C, p)``.
    probs : array_like
        ``p_i``, shape ``(N, C)``.
    labels : array_like
        The integer class of each sample, shape ``(N,)``.
    as_printed : bool
        Centre ``Sigma_c`` at ``g_{c'}`` as eq (4) and (25) print it; False: at ``g_c`` (Appendix A eq 32).

    Returns
    -------
    dict of str to numpy.ndarray
        ``A1``, ``A2``, ``B1``, ``B2``, each ``(p, p)``.
    """
    parts = _decomposition_parts(jacobians, probs, labels)
    N, C, p = parts["N"], parts["C"], parts["p"]
    p_cc, g_cc, B2, off, p_c, g_c = (parts[k] for k in ("p_cc", "g_cc", "B2", "off", "p_c", "g_c"))
    A1, A2, B1 = np.zeros((p, p)), np.zeros((p, p)), np.zeros((p, p))
    for c in range(C):
        A2 += p_cc[c, c] * np.outer(g_cc[c, c], g_cc[c, c])
        A1 += p_c[c] * np.outer(g_c[c], g_c[c])
        for k in range(C):
            if k == c or off[c, k] <= 0:
                continue
            centre = g_c[k] if as_printed else g_c[c]  # printed eq (4)/(25): (g_{c,c'} - g_{c'})
            D = g_cc[c, k] - centre
            B1 += off[c, k] * np.outer(D, D)
    return {"A1": A1 / N, "A2": A2 / N, "B1": B1 / N, "B2": B2 / N}
