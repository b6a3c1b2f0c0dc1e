"""Losses as means over samples, and their Hessians with respect to the network output.

``"mse"`` is exactly ``1/(2n) ||f(X) - Y||_F^2`` (003 eq 2); ``"cross_entropy"`` is the mean softmax
cross-entropy with integer labels. A callable ``loss(output, Y) -> scalar`` must also be a mean over samples.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

LossLike = str | Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LOSSES = ("mse", "cross_entropy")


def mse(output: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """003 eq (2): ``1/(2n) ||f(X) - Y||_F^2``."""
    return 0.5 * (output - Y).pow(2).sum() / output.shape[0]


def cross_entropy(output: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Mean softmax cross-entropy, ``Y`` integer labels."""
    return F.cross_entropy(output, Y)


def resolve_loss(loss: LossLike) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss function for a name or callable."""
    if callable(loss):
        return loss
    if loss == "mse":
        return mse
    if loss == "cross_entropy":
        return cross_entropy
    raise ValueError(f"loss={loss!r} is not a known loss; use 'mse', 'cross_entropy' or a callable(output, Y)")


def check_targets(loss: LossLike, output: torch.Tensor, Y: torch.Tensor) -> None:
    """Shape/dtype checks of ``Y`` against the model output for the named losses."""
    if not torch.isfinite(output).all():
        raise ValueError("the model output contains NaN or Inf; check the parameters and the scale of X")
    if loss == "mse":
        if not Y.is_floating_point():
            raise TypeError("Y for loss='mse' must be floating targets of shape (n, d_L); use one_hot(labels) for labels")
        if Y.shape != output.shape:
            raise ValueError(f"Y has shape {tuple(Y.shape)} but the model outputs {tuple(output.shape)}; they must match")
        if Y.dtype != output.dtype:
            raise TypeError(f"Y has dtype {Y.dtype} but the model outputs {output.dtype}; convert Y")
        if not torch.isfinite(Y).all():
            raise ValueError("Y contains NaN or Inf")
    elif loss == "cross_entropy":
        if Y.is_floating_point() or Y.ndim != 1:
            raise TypeError("Y for loss='cross_entropy' must be a 1-D integer tensor of class labels")
        if output.ndim != 2 or Y.shape[0] != output.shape[0]:
            raise ValueError(f"Y has {Y.shape[0]} labels but the model output has shape {tuple(output.shape)}")
        if Y.numel() and (int(Y.min()) < 0 or int(Y.max()) >= output.shape[1]):
            raise ValueError(f"labels must lie in [0, {output.shape[1]}) for a model with {output.shape[1]} outputs")


def output_hessian_product(loss: LossLike, output: torch.Tensor, Y: torch.Tensor, U: torch.Tensor) -> torch.Tensor:
    """``(d^2 loss / d output^2) U`` for ``U`` shaped like ``output`` (any leading batch dims allowed on U).

    MSE: ``U / n``. Cross-entropy: per sample ``(diag(p) - p p^T) u_i / n`` with ``p = softmax(f_i)``.
    """
    n = output.shape[0]
    if loss == "mse":
        return U / n
    if loss == "cross_entropy":
        p = torch.softmax(output, dim=-1)
        return (p * U - p * (p * U).sum(-1, keepdim=True)) / n
    fn = resolve_loss(loss)
    g = torch.func.grad(lambda o: fn(o, Y))
    flat = U.reshape(-1, *output.shape)
    out = torch.func.vmap(lambda u: torch.func.jvp(g, (output,), (u,))[1])(flat)
    return out.reshape(U.shape)
