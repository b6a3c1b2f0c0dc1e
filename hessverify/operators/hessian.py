"""Hessian of the loss with respect to the flat parameters, ``d^2 L / d theta^2``, three ways (004 §1):

- ``"double_backward"``: ``H v = d/dtheta (grad L . v)``, reusing the gradient graph across products,
- ``"jvp"``: forward-over-reverse, ``H v = jvp(grad L, theta; v)`` (``torch.func``),
- ``"finite_difference"``: ``H v ~ (grad L(theta + h v) - grad L(theta - h v)) / (2h)``, error O(h^2).

With ``compile=True`` the ``"jvp"`` product of one batch is traced once by ``torch.compile`` into one fused
program (forward, backward and tangent together; idea: torch.func's composable transforms under
``torch.compile``). ``double_backward`` cannot be compiled: TorchDynamo/AOTAutograd refuse double backward.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.func import grad, jvp, vmap

from hessverify._validation import check_choice
from hessverify.operators._functional import DataSource, FlatModel
from hessverify.operators.base import CurvatureOperator
from hessverify.operators.losses import LossLike, check_targets, resolve_loss

Backend = Literal["double_backward", "jvp", "finite_difference"]
BACKENDS = ("double_backward", "jvp", "finite_difference")


class HessianOperator(CurvatureOperator):
    """``H = d^2 L / d theta^2`` at the parameters the model had when the operator was built."""

    def __init__(self, model: nn.Module, loss: LossLike, X, Y=None, *, backend: Backend = "double_backward",
                 batch_size: int | None = None, compile: bool | str = False):
        check_choice("backend", backend, BACKENDS)
        if not isinstance(compile, (bool, str)):
            raise TypeError(f"compile must be a bool or a torch.compile backend name, got {type(compile).__name__}")
        if compile and backend != "jvp":
            raise ValueError(f"compile={compile!r} needs backend='jvp' (got backend={backend!r}): torch.compile "
                             "cannot trace the double backward of the other backends")
        self.backend = backend
        self.fm = FlatModel(model)
        self.loss_name, self.loss_fn = loss, resolve_loss(loss)
        self.data = DataSource(X, Y, batch_size, self.fm.dtype, self.fm.device)
        p = self.fm.num_params
        self.shape, self.dtype, self.device = (p, p), self.fm.dtype, self.fm.device
        self.num_matvecs = 0
        xb, yb, _ = next(self.data.batches())
        check_targets(loss, self.fm.checked_forward(xb), yb)
        self._graph = None  # (theta, grad) kept for double_backward on a single batch
        self._compiled = None
        if compile:
            opts = {} if compile is True else {"backend": compile}
            self._compiled = torch.compile(self._batch_hvp, dynamic=False, **opts)

    def _batch_hvp(self, theta: torch.Tensor, v: torch.Tensor, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        """``H_b v`` of one batch's mean loss by forward-over-reverse (the function ``compile`` traces)."""
        return jvp(grad(lambda t: self.loss_fn(self.fm(t, xb), yb)), (theta,), (v,))[1]

    def _batch_loss(self, theta: torch.Tensor, xb: torch.Tensor, yb: torch.Tensor, w: float) -> torch.Tensor:
        return w * self.loss_fn(self.fm(theta, xb), yb)

    def _double_backward(self, V: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(V)
        for theta, g in self._gradient_graphs():
            if V.shape[1] == 1:  # one vector: a plain backward pass, no vmap over the graph
                out[:, 0] += torch.autograd.grad(g, theta, grad_outputs=V[:, 0], retain_graph=True)[0]
                continue
            hv = torch.autograd.grad(g, theta, grad_outputs=V.T.contiguous(), retain_graph=True,
                                     is_grads_batched=True)[0]
            out += hv.T
        return out

    def _gradient_graph(self, xb: torch.Tensor, yb: torch.Tensor, w: float) -> tuple[torch.Tensor, torch.Tensor]:
        """``(theta, grad L_b(theta))`` with the graph of the gradient kept for differentiation."""
        theta = self.fm.theta0.detach().requires_grad_(True)
        with torch.enable_grad():
            g = torch.autograd.grad(self._batch_loss(theta, xb, yb, w), theta, create_graph=True)[0]
        return theta, g

    def _gradient_graphs(self):
        """One gradient graph per batch; a single batch builds its graph once and keeps it."""
        if not self.data.single_batch:
            for xb, yb, w in self.data.batches():
                yield self._gradient_graph(xb, yb, w)
            return
        if self._graph is None:
            self._graph = self._gradient_graph(*next(self.data.batches()))
        yield self._graph

    def _jvp(self, V: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(V)
        if self._compiled is not None:  # one traced program per batch shape; columns one at a time (no vmap)
            for xb, yb, w in self.data.batches():
                for j in range(V.shape[1]):
                    out[:, j] += w * self._compiled(self.fm.theta0, V[:, j].contiguous(), xb, yb)
            return out
        for xb, yb, w in self.data.batches():
            g = grad(lambda t: self._batch_loss(t, xb, yb, w))
            out += vmap(lambda v: jvp(g, (self.fm.theta0,), (v,))[1], in_dims=1, out_dims=1)(V)
        return out

    def _finite_difference(self, V: torch.Tensor) -> torch.Tensor:
        eps = torch.finfo(self.dtype).eps
        theta = self.fm.theta0
        out = torch.zeros_like(V)
        for xb, yb, w in self.data.batches():
            g = grad(lambda t: self._batch_loss(t, xb, yb, w))
            for j in range(V.shape[1]):
                v = V[:, j]
                vnorm = torch.linalg.vector_norm(v)
                if vnorm == 0:
                    continue
                # central difference: truncation O(h^2), rounding O(eps/h) -> h ~ eps^(1/3) in units of theta
                h = eps ** (1 / 3) * max(1.0, float(torch.linalg.vector_norm(theta))) / float(vnorm)
                out[:, j] += (g(theta + h * v) - g(theta - h * v)) / (2 * h)
        return out

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        if self.backend == "double_backward":
            return self._double_backward(V).detach()
        if self.backend == "jvp":
            return self._jvp(V).detach()
        return self._finite_difference(V).detach()


def hessian(model: nn.Module, loss: LossLike, X, Y=None, backend: Backend = "double_backward", *,
            batch_size: int | None = None, compile: bool | str = False) -> HessianOperator:
    """The loss Hessian as a matrix-free operator.

    ``X, Y`` are tensors (optionally split into ``batch_size`` chunks and accumulated), or ``X`` is a
    re-iterable of ``(X_b, Y_b)`` batches (a list or DataLoader) and ``Y`` is None. Batches are weighted by
    ``n_b / n`` so the result equals the Hessian of the loss over all ``n`` samples.
    ``compile`` (``backend="jvp"`` only): ``True`` for ``torch.compile``'s default (inductor), or the name of a
    ``torch.compile`` backend; the first product pays the tracing time.
    """
    return HessianOperator(model, loss, X, Y, backend=backend, batch_size=batch_size, compile=compile)
