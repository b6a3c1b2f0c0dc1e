"""Generalised Gauss-Newton matrix ``G = J^T (d^2 loss / d f^2) J`` (003 eq 3; 002 eq 2, the G of Hess = G + H).

Products go forward-mode through the network (``J v``), through the output Hessian of the loss (closed form
for the named losses, reverse-over-reverse for a callable: :mod:`hessverify.operators.losses`), and back
(``J^T u``); for MSE the output Hessian is ``I / n`` so ``G = J^T J / n``.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.func import jvp, vjp, vmap

from hessverify.operators.base import ModelOperator
from hessverify.operators.losses import LossLike


class GGNOperator(ModelOperator):
    """``G = sum_b w_b J_b^T H_b J_b`` over the batches of the data (``w_b`` the loss's batch weight).

    Parameters
    ----------
    model, loss, X, Y, params, batch_size, reduction, input_key, target_key, batch_size_fn, num_targets_fn, \
check_deterministic
        As for :class:`~hessverify.operators.ModelOperator` (the constructor is ModelOperator's).
    """

    product_name = "GGN product (J v in forward mode, J^T u in reverse mode)"
    alternatives = ("The GGN needs forward-mode derivatives of the network; hessian(..., backend='double_backward') "
                    "needs reverse mode only")

    def _prepare(self, xb, yb, w: float):
        """``(X_b, Y_b, w_b, f(theta0), J_b^T .)``."""
        out, pullback = vjp(lambda t: self.fm(t, xb), self.fm.theta0)
        return xb, yb, w, out.detach(), pullback

    def _output_product(self, state, JV: torch.Tensor) -> torch.Tensor:
        """The batch's weighted output matrix times ``JV`` (``k`` tangents shaped like the output): here
        ``w_b d^2 loss / d f^2``; the Fisher operators put their matrices here."""
        _, yb, w, f0, _ = state[:5]
        return w * self.loss.output_hessian_product(f0, yb, JV)

    def _matmat_batch(self, V: torch.Tensor, state) -> torch.Tensor:
        xb, pullback = state[0], state[4]
        JV = vmap(lambda v: jvp(lambda t: self.fm(t, xb), (self.fm.theta0,), (v,))[1], in_dims=1)(V)
        return vmap(lambda u: pullback(u)[0], out_dims=1)(self._output_product(state, JV))


def ggn(model: nn.Module, loss: LossLike, X, Y=None, *, params=None, batch_size: int | None = None,
        reduction: str | None = None, input_key=None, target_key=None, batch_size_fn=None,
        num_targets_fn=None, check_deterministic: bool = True) -> GGNOperator:
    """The GGN ``G = J^T (d^2 L / d f^2) J`` of ``loss`` (003 eq 3) as a matrix-free operator.

    Parameters
    ----------
    model, loss, X, Y, params, batch_size, reduction, input_key, target_key, batch_size_fn, num_targets_fn, \
check_deterministic
        As for :func:`hessverify.operators.hessian` (``"mse"`` is ``1/(2n) ||f(X) - Y||_F^2``, so
        ``ggn(model, "mse", X, Y) = J^T J / n``).

    Returns
    -------
    GGNOperator
        ``d x d``, positive semi-definite for a convex loss.
    """
    return GGNOperator(model, loss, X, Y, params=params, batch_size=batch_size, reduction=reduction,
                       input_key=input_key, target_key=target_key, batch_size_fn=batch_size_fn,
                       num_targets_fn=num_targets_fn, check_deterministic=check_deterministic)
