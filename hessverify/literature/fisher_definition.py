"""The Fisher and the empirical Fisher by their definitions (Kunstner, Balles, Hennig 2019, arXiv 1905.12558, §1),
computed from per-sample parameter gradients, independently of the operators of :mod:`hessverify.operators`.

With the loss a mean ``L = (1/n) sum_i l_i(y_i)`` and ``l_i(y) = -log q(y | f(x_i))`` (up to a constant):

- the Fisher ``F = (1/n) sum_i E_{y ~ q(.|f_i)} [grad l_i(y) grad l_i(y)^T]`` (gradients in the parameters), and
- the empirical Fisher ``F~ = (1/n) sum_i grad l_i(y_i) grad l_i(y_i)^T`` at the observed targets ``y_i``.

The expectation is computed exactly: for softmax cross-entropy (``q`` categorical in ``softmax(f)``) by summing
over the ``C`` classes weighted by their probabilities; for ``"mse"`` (``l = |f - y|^2 / 2``, ``q = N(f, I)``) the
score ``grad l(y) = J^T (f - y)`` is linear in ``y``, so its outer product is quadratic and the ``2 d_L`` points
``y = f +- sqrt(d_L) e_k`` with weights ``1 / (2 d_L)`` (mean ``f``, covariance ``I``) give its expectation
exactly. Per-sample gradients come from ``torch.func.vmap(grad(...))`` of the loss term at fixed targets.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.func import functional_call, grad, vmap

from hessverify._validation import check_choice

LOSSES = ("mse", "cross_entropy")
#: ulps per summed term in the rounding bound of :func:`fisher_by_definition`
ROUNDING_ULPS = 8


def _term(loss: str):
    """``l(out, t)``; for ``"mse"`` ``t = (base, offset)`` stands for the target ``base + offset`` and the residual is
    formed as ``(out - base) - offset``: with ``base`` the output at the current weights this is exactly
    ``-offset`` (no cancellation when the outputs are large and the offset is not)."""
    if loss == "mse":
        return lambda out, t: 0.5 * (((out - t[0]) - t[1]) ** 2).sum()
    return lambda out, t: -torch.gather(torch.log_softmax(out, dim=-1), 0, t.long().reshape(1))[0]


def per_sample_gradients(model: torch.nn.Module, loss: str, X: torch.Tensor, targets: torch.Tensor, *,
                         offsets: torch.Tensor | None = None) -> torch.Tensor:
    """``grad_theta l_i(targets_i)`` for every sample, ``(n, d)`` in ``model.parameters()`` order.

    Parameters
    ----------
    model : nn.Module
        The network (its parameters are read, not changed).
    loss : {"mse", "cross_entropy"}
        ``l = |f - y|^2 / 2`` or ``-log softmax(f)_y``.
    X : torch.Tensor
        Inputs ``(n, d0)``.
    targets : torch.Tensor
        ``(n, d_L)`` targets or ``(n,)`` labels.
    offsets : torch.Tensor, optional
        ``"mse"`` only: the targets are ``targets + offsets``, the residual formed as ``(f - targets) - offsets``
        (pass the outputs as ``targets`` to draw around them without cancellation).
    """
    check_choice("loss", loss, LOSSES)
    names = [k for k, p in model.named_parameters() if p.requires_grad]
    params = {k: p.detach() for k, p in model.named_parameters() if p.requires_grad}
    term = _term(loss)

    def one(p, x, t):
        return term(functional_call(model, p, (x[None],))[0], t)

    if loss == "mse":
        targets = (targets, torch.zeros_like(targets) if offsets is None else offsets)
    elif offsets is not None:
        raise ValueError("offsets= is for loss='mse' (Gaussian targets around the outputs)")
    g = vmap(grad(one), in_dims=(None, 0, 0))(params, X, targets)
    return torch.cat([g[k].reshape(X.shape[0], -1) for k in names], dim=1)


def predictive_targets(model: torch.nn.Module, loss: str, X: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The targets and weights of the exact expectation over ``q(.|f_i)`` (module docstring): a list of ``K``
    target tensors (for ``"mse"``: offsets from the outputs) and weights ``(n, K)`` (each row sums to one)."""
    check_choice("loss", loss, LOSSES)
    with torch.no_grad():
        out = model(X)
    n, dL = out.shape
    if loss == "cross_entropy":
        return [torch.full((n,), c, dtype=torch.int64) for c in range(dL)], torch.softmax(out, dim=1)
    shift = dL ** 0.5
    points = [s * shift * torch.nn.functional.one_hot(torch.full((n,), k), dL).to(out.dtype)
              for k in range(dL) for s in (1.0, -1.0)]
    return points, torch.full((n, 2 * dL), 1.0 / (2 * dL), dtype=out.dtype)


def fisher_by_definition(model: torch.nn.Module, loss: str, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The Fisher ``(1/n) sum_i E_{y ~ q(.|f_i)} [g g^T]`` computed by its definition, with an elementwise bound on
    its rounding error (``ROUNDING_ULPS (nK) eps`` times the sum of the terms' magnitudes).

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        ``F`` (``d x d``, float64) and the rounding bound (same shape).
    """
    targets, weights = predictive_targets(model, loss, X)
    n = X.shape[0]
    F = None
    magnitude = None
    if loss == "mse":
        with torch.no_grad():
            out = model(X)
    for k, t in enumerate(targets):
        S = (per_sample_gradients(model, loss, X, out, offsets=t) if loss == "mse"
             else per_sample_gradients(model, loss, X, t)).double()
        W = weights[:, k].double()[:, None]
        term = (S * W).T @ S
        size = (S.abs() * W).T @ S.abs()
        F = term if F is None else F + term
        magnitude = size if magnitude is None else magnitude + size
    eps = float(torch.finfo(torch.float64).eps)
    return F / n, ROUNDING_ULPS * n * len(targets) * eps * magnitude / n


def empirical_fisher_by_definition(model: torch.nn.Module, loss: str, X: torch.Tensor,
                                   targets: torch.Tensor) -> torch.Tensor:
    """``(1/n) sum_i g_i g_i^T`` with ``g_i = grad l_i(targets_i)`` (float64, ``d x d``)."""
    S = per_sample_gradients(model, loss, X, targets).double()
    return S.T @ S / X.shape[0]


def relative_distance(A: torch.Tensor, B: torch.Tensor) -> float:
    """``||A - B||_F / ||B||_F``."""
    return float(torch.linalg.matrix_norm(A - B) / torch.linalg.matrix_norm(B))


def preconditioned_cosine(A: torch.Tensor, B: torch.Tensor, g: torch.Tensor, damping: float) -> float:
    """The cosine between ``(A + damping I)^{-1} g`` and ``(B + damping I)^{-1} g``: how far apart the two
    preconditioned (natural-gradient-like) directions point (1: the same direction)."""
    eye = torch.eye(A.shape[0], dtype=A.dtype)
    a = torch.linalg.solve(A + damping * eye, g)
    b = torch.linalg.solve(B + damping * eye, g)
    return float(a @ b / (torch.linalg.vector_norm(a) * torch.linalg.vector_norm(b)))


def spectrum(A: torch.Tensor) -> np.ndarray:
    """Eigenvalues of symmetric ``A``, descending (float64)."""
    return torch.linalg.eigvalsh((A + A.T).double() / 2).flip(0).numpy()
