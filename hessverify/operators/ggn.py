"""Generalised Gauss-Newton matrix ``G = J^T (d^2 loss / d f^2) J`` (003 eq 3; 002 eq 2, the G of Hess = G + H).

Products go forward-mode through the network (``J v``), through the output Hessian of the loss, and back
(``J^T u``); for MSE the output Hessian is ``I / n`` so ``G = J^T J / n``.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.func import jvp, vjp, vmap

from hessverify.operators._functional import DataSource, FlatModel
from hessverify.operators.base import CurvatureOperator
from hessverify.operators.losses import LossLike, check_targets, output_hessian_product, resolve_loss


class GGNOperator(CurvatureOperator):
    """``G = sum_b (n_b/n) J_b^T H_b J_b`` over the batches of the data."""

    def __init__(self, model: nn.Module, loss: LossLike, X, Y=None, *, batch_size: int | None = None):
        self.fm = FlatModel(model)
        self.loss_name = loss
        resolve_loss(loss)
        self.data = DataSource(X, Y, batch_size, self.fm.dtype, self.fm.device)
        p = self.fm.num_params
        self.shape, self.dtype, self.device = (p, p), self.fm.dtype, self.fm.device
        self.num_matvecs = 0
        xb, yb, _ = next(self.data.batches())
        check_targets(loss, self.fm.checked_forward(xb), yb)
        self._linearised = None

    def _linearise(self, xb: torch.Tensor):
        """``(f(theta0), J^T .)`` for one batch."""
        out, pullback = vjp(lambda t: self.fm(t, xb), self.fm.theta0)
        return out.detach(), pullback

    def _pieces(self):
        if not self.data.single_batch:
            for xb, yb, w in self.data.batches():
                yield (xb, yb, w, *self._linearise(xb))
            return
        if self._linearised is None:
            xb, yb, w = next(self.data.batches())
            self._linearised = (xb, yb, w, *self._linearise(xb))
        yield self._linearised

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(V)
        for xb, yb, w, f0, pullback in self._pieces():
            JV = vmap(lambda v: jvp(lambda t: self.fm(t, xb), (self.fm.theta0,), (v,))[1], in_dims=1)(V)
            HJV = w * output_hessian_product(self.loss_name, f0, yb, JV)
            out += vmap(lambda u: pullback(u)[0], out_dims=1)(HJV)
        return out.detach()


def ggn(model: nn.Module, loss: LossLike, X, Y=None, *, batch_size: int | None = None) -> GGNOperator:
    """The GGN of ``loss`` as a matrix-free operator; data arguments as for :func:`hessian`."""
    return GGNOperator(model, loss, X, Y, batch_size=batch_size)
