"""002's hierarchy of G measured without forming any p x p matrix (002 eq 2, 4-5, 22, 32).

``G = A1 + A2 + B1 + B2`` (002 eq 32). A1, A2 and B1 are sums of outer products of class-mean gradients, so
their nonzero spectra are those of small Gram matrices built from ``C + C^2`` vectors (one batched
vector-Jacobian product per class):

- ``A1 = sum_c (p_c / N) g_c g_c^T``: the ``C x C`` Gram of the columns ``sqrt(p_c / N) g_c``;
- ``A1 + A2 + B1 = sum_{c,c'} (p_{c,c'} / N) g_{c,c'} g_{c,c'}^T`` (002 eq 22, first sum): the ``C^2 x C^2`` Gram;
- ``A2 = sum_c (p_{c,c} / N) g_{c,c} g_{c,c}^T`` and ``B1 = sum_c sum_{c' != c} (p_{c,c'} / N) (g_{c,c'} - g_c)
  (g_{c,c'} - g_c)^T`` (eq 25 centred at ``g_c``, as ``theory.hierarchy`` derives it).

G, the Hessian, ``H = Hess - G``, ``G - A1`` and ``B2 = G - (A1 + A2 + B1)`` are operators: Lanczos finds their
extreme eigenvalues from products, each within its residual of a true eigenvalue. Notation of
:mod:`theory.hierarchy`: ``g_{i,c'} = J_i^T (e_{c'} - p_i)``, ``p_{c,c'} = sum_{i in c} p_{i,c'}``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.func import functional_call, vjp, vmap

from hessverify.estimators import lanczos
from hessverify.operators import ggn, hessian

#: eigenvalues of G, G - A1, B2, Hess and H found by Lanczos at each measured state
TOP_K = 30
#: eigenvalues of the other operators (G - A1, B2, the top of Hess and H) and of the bottom of Hess and H
OTHER_K, BOTTOM_K = 12, 3
#: Lanczos tolerance (residual relative to the largest Ritz value) for G, and for the others (log-axis figures)
TOL, OTHER_TOL = 1e-6, 1e-3


@dataclass(frozen=True)
class ClassVectors:
    """Columns whose outer products sum to A1, A2, B1 and A1 + A2 + B1 (each ``(p, m)``); ``N`` samples."""

    A1: torch.Tensor  # sqrt(p_c / N) g_c, C columns
    A2: torch.Tensor  # sqrt(p_{c,c} / N) g_{c,c}, C columns
    B1: torch.Tensor  # sqrt(p_{c,c'} / N) (g_{c,c'} - g_c), C (C - 1) columns
    A1A2B1: torch.Tensor  # sqrt(p_{c,c'} / N) g_{c,c'}, C^2 columns


def class_vectors(model: torch.nn.Module, X: torch.Tensor, labels: torch.Tensor, num_classes: int) -> ClassVectors:
    """002 eq (15), (24): ``g_{c,c'}`` and ``g_c`` for every class from one batched vector-Jacobian product of the
    class's logits (cotangent ``p_{i,c'} (e_{c'} - p_i)`` for each ``c'``), flattened in ``model.parameters()`` order
    (the order of :mod:`hessverify.operators`).

    Parameters
    ----------
    model, X, labels
        A classifier with ``num_classes`` logits and its training set; classes without samples are skipped.
    num_classes
        C.

    Returns
    -------
    ClassVectors
        The columns of A1, A2, B1 and A1 + A2 + B1.
    """
    names = [name for name, _ in model.named_parameters()]
    params = tuple(p.detach() for p in model.parameters())
    N, C = X.shape[0], num_classes
    eye = torch.eye(C, dtype=X.dtype)
    a1, a2, b1, all_ = [], [], [], []
    for c in range(C):
        Xc = X[labels == c]
        if Xc.shape[0] == 0:
            continue
        logits, pullback = vjp(lambda *ps: functional_call(model, dict(zip(names, ps)), (Xc,)), *params)
        P = torch.softmax(logits.detach(), 1)  # (n_c, C)
        # cotangent for c': p_{i,c'} (e_{c'} - p_i), rows i of class c
        R = P.T[:, :, None] * (eye[:, None, :] - P[None, :, :])  # (C', n_c, C)
        sums = vmap(lambda r: torch.cat([t.reshape(-1) for t in pullback(r)]))(R)  # (C', p): p_{c,c'} g_{c,c'}
        mass = P.sum(0)  # p_{c,c'}
        g_cc = sums / mass[:, None]
        others = torch.arange(C) != c
        p_c = mass[others].sum()
        g_c = sums[others].sum(0) / p_c
        a1.append(torch.sqrt(p_c / N) * g_c)
        a2.append(torch.sqrt(mass[c] / N) * g_cc[c])
        b1.append(torch.sqrt(mass[others] / N)[:, None] * (g_cc[others] - g_c))
        all_.append(torch.sqrt(mass / N)[:, None] * g_cc)
    return ClassVectors(A1=torch.stack(a1, 1), A2=torch.stack(a2, 1), B1=torch.cat(b1).T, A1A2B1=torch.cat(all_).T)


def gram_eigenvalues(U: torch.Tensor) -> np.ndarray:
    """The nonzero spectrum of ``U U^T`` as the eigenvalues of the Gram ``U^T U``, descending (negative rounding
    clipped to 0)."""
    return np.clip(np.linalg.eigvalsh((U.T @ U).numpy())[::-1], 0.0, None)


def range_overlap(V: torch.Tensor, U: torch.Tensor) -> float:
    """Mean squared cosine between the orthonormal columns of ``V`` and the column space of ``U``: 1 when every
    column of ``V`` lies in it, ``rank(U) / p`` for random columns."""
    Q, _ = torch.linalg.qr(U)
    return float(((Q.T @ V) ** 2).sum() / V.shape[1])


class LowRankCorrected:
    """``A - U U^T`` (or ``A - B``) as an operator for the estimators: ``shape``, ``dtype`` and ``matmat``."""

    def __init__(self, A, U: torch.Tensor | None = None, B=None):
        self.A, self.U, self.B = A, U, B
        self.shape, self.dtype = A.shape, torch.float64

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        out = self.A.matmat(V)
        if self.U is not None:
            out = out - self.U @ (self.U.T @ V)
        if self.B is not None:
            out = out - self.B.matmat(V)
        return out

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self.matmat(v[:, None])[:, 0]


def _extreme(op, which: str, seed: int, k: int = OTHER_K, tol: float = OTHER_TOL, vectors: bool = False):
    """One Lanczos run (no multiplicity certification: the figures and gaps need values, not multiplicities)."""
    return lanczos(op, k=k, which=which, tol=tol, seed=seed, certify_multiplicities=False,
                   return_eigenvectors=vectors)


def gaps(values: np.ndarray, upto: int = TOP_K) -> dict:
    """Ratios of consecutive eigenvalues among the top ``upto``: the largest, the index it follows, and the ratios
    after the 9th and 10th."""
    v = np.asarray(values[:upto], float)
    pos = v[v > 0]
    r = pos[:-1] / pos[1:]
    at = int(np.argmax(r)) + 1
    return {"largest_gap": float(r[at - 1]), "gap_after": at, "ratios": r.tolist()}


def measure_state(model, X, labels, *, num_classes: int, seed: int, bulks: bool = False, full: bool = False) -> dict:
    """One trained (or initial) network: the top of G and of G - A1 (Lanczos), the exact spectra of A1, A2, B1 and
    A1 + A2 + B1, how much of G's top C - 1 and C lie in A1's range; with ``bulks`` also the top of B2; with ``full``
    also the top and bottom of the Hessian and of H = Hess - G.

    Parameters
    ----------
    model, X, labels
        The classifier and its training set.
    num_classes
        C.
    seed
        Seed of every Lanczos start vector.
    bulks
        Also measure the top of B2.
    full
        Also measure the Hessian and H (about three times the products).

    Returns
    -------
    dict
        Every number the report and its verdict use (lists of floats).
    """
    C = num_classes
    with torch.no_grad():
        out = model(X)
        loss = float(torch.nn.functional.cross_entropy(out, labels))
        err = float((out.argmax(1) != labels).double().mean())
        true = out.gather(1, labels[:, None])[:, 0]
        margin = float((true - out.scatter(1, labels[:, None], -torch.inf).max(1).values).median())
    cv = class_vectors(model, X, labels, C)
    G = ggn(model, "cross_entropy", X, labels)
    rg = _extreme(G, "LA", seed, k=TOP_K, tol=TOL, vectors=True)
    g_top = rg.eigenvalues.numpy()
    V = rg.eigenvectors
    deflated = _extreme(LowRankCorrected(G, cv.A1), "LA", seed)
    a1 = gram_eigenvalues(cv.A1)
    res = {"loss": loss, "error": err, "median_margin": margin,
           "G": g_top.tolist(), "G_residuals": rg.residuals.numpy().tolist(),
           "G_minus_A1": deflated.eigenvalues.numpy().tolist(),
           "A1": a1.tolist(), "A2": gram_eigenvalues(cv.A2).tolist(), "B1": gram_eigenvalues(cv.B1).tolist(),
           "A1A2B1": gram_eigenvalues(cv.A1A2B1).tolist(),
           "overlap_A1": {str(m): range_overlap(V[:, :m], cv.A1) for m in (C - 1, C)},
           "A1_share": {str(m): float(a1[:m].sum() / g_top[:m].sum()) for m in (C - 1, C)},
           **gaps(g_top), "matvecs": rg.num_matvecs + deflated.num_matvecs}
    if bulks or full:
        B2 = _extreme(LowRankCorrected(G, cv.A1A2B1), "LA", seed)
        res.update(B2=B2.eigenvalues.numpy().tolist(), matvecs=res["matvecs"] + B2.num_matvecs)
    if full:
        Hs = hessian(model, "cross_entropy", X, labels)
        H = LowRankCorrected(Hs, B=G)
        runs = {"Hess": _extreme(Hs, "LA", seed), "Hess_bottom": _extreme(Hs, "SA", seed, k=BOTTOM_K),
                "H": _extreme(H, "LA", seed), "H_bottom": _extreme(H, "SA", seed, k=BOTTOM_K)}
        res.update({k: r.eigenvalues.numpy().tolist() for k, r in runs.items()})
        res.update(Hess_gaps=gaps(runs["Hess"].eigenvalues.numpy(), OTHER_K),
                   matvecs=res["matvecs"] + sum(r.num_matvecs for r in runs.values()))
    return res
