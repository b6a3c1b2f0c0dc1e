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
from torch.func import grad, jvp, vjp, vmap

from hessverify._validation import check_choice, check_positive_float
from hessverify.operators.base import ModelOperator
from hessverify.operators.losses import LossLike

Backend = Literal["double_backward", "jvp", "finite_difference"]
BACKENDS = ("double_backward", "jvp", "finite_difference")


class HessianOperator(ModelOperator):
    """``H = d^2 L / d theta^2`` at the parameters (and buffers) the model had when the operator was built.

    Parameters
    ----------
    model, loss, X, Y
        As for :class:`~hessverify.operators.ModelOperator`.
    backend : {"double_backward", "jvp", "finite_difference"}
        How a product is taken (module docstring).
    compile : bool or str
        ``backend="jvp"`` only: trace the product with ``torch.compile`` (True: its default backend, or a
        backend's name).
    fd_step : float, optional
        ``backend="finite_difference"`` only: the step in units of ``max(1, ||theta||)``; default ``eps^(1/3)``.
    **data_options
        ``params``, ``batch_size``, ``reduction``, ``input_key``, ``target_key``, ``batch_size_fn``,
        ``num_targets_fn``, ``check_deterministic``: as for :class:`~hessverify.operators.ModelOperator`.
    """

    def __init__(self, model: nn.Module, loss: LossLike, X, Y=None, *, backend: Backend = "double_backward",
                 compile: bool | str = False, fd_step: float | None = None, **data_options):
        check_choice("backend", backend, BACKENDS)
        if fd_step is not None:
            if backend != "finite_difference":
                raise ValueError(f"fd_step={fd_step!r} is for backend='finite_difference' (got backend={backend!r})")
            fd_step = check_positive_float("fd_step", fd_step)
        self.fd_step = fd_step
        if not isinstance(compile, (bool, str)):
            raise TypeError(f"compile must be a bool or a torch.compile backend name, got {type(compile).__name__}")
        if compile and backend != "jvp":
            raise ValueError(f"compile={compile!r} needs backend='jvp' (got backend={backend!r}): torch.compile "
                             "cannot trace the double backward of the other backends")
        self.backend = backend
        self._compiled = None  # the construction-time probe runs the eager product
        super().__init__(model, loss, X, Y, **data_options)
        if compile:
            opts = {} if compile is True else {"backend": compile}
            self._compiled = torch.compile(self._batch_hvp, dynamic=False, **opts)

    @property
    def product_name(self) -> str:
        return f"Hessian product (backend={self.backend!r})"

    @property
    def alternatives(self) -> str:
        others = " or ".join(repr(b) for b in BACKENDS if b != self.backend)
        how = {"double_backward": "reverse over reverse", "jvp": "forward over reverse",
               "finite_difference": "gradients only"}
        return (f"Try backend={others} ({', '.join(f'{b}: {how[b]}' for b in BACKENDS if b != self.backend)}), "
                "or replace the operation the message names")

    def _batch_hvp(self, theta: torch.Tensor, v: torch.Tensor, xb, yb) -> torch.Tensor:
        """``H_b v`` of one batch's loss by forward-mode differentiation of its gradient (the function ``compile``
        traces). Named losses go forward-over-reverse through the whole loss; a callable is split as
        ``H v = d/de [J(theta + e v)^T g0] + J^T (d^2 loss/d f^2) J v`` with ``g0 = d loss / d f`` held fixed, so
        forward mode runs through the network only and the loss is differentiated twice in reverse mode."""
        if self.loss.named:
            return jvp(grad(lambda t: self.loss.fn(self.fm(t, xb), yb)), (theta,), (v,))[1]
        f0, Jv = jvp(lambda t: self.fm(t, xb), (theta,), (v,))
        g0 = grad(lambda o: self.loss.fn(o, yb))(f0)
        residual = jvp(grad(lambda t: (self.fm(t, xb) * g0).sum()), (theta,), (v,))[1]
        _, pullback = vjp(lambda t: self.fm(t, xb), theta)
        return residual + pullback(self.loss.output_hessian_product(f0, yb, Jv))[0]

    def _batch_loss(self, theta: torch.Tensor, xb, yb, w: float) -> torch.Tensor:
        return w * self.loss.fn(self.fm(theta, xb), yb)

    def _gradient_graph(self, xb, yb, w: float) -> tuple[torch.Tensor, torch.Tensor]:
        """``(theta, grad L_b(theta))`` with the graph of the gradient kept for differentiation."""
        theta = self.fm.theta0.detach().requires_grad_(True)
        with torch.enable_grad():
            g = torch.autograd.grad(self._batch_loss(theta, xb, yb, w), theta, create_graph=True)[0]
        return theta, g

    def _prepare(self, xb, yb, w: float):
        if self.backend == "double_backward":  # the gradient graph, kept across products for one batch
            return self._gradient_graph(xb, yb, w)
        return xb, yb, w

    def _matmat_batch(self, V: torch.Tensor, state) -> torch.Tensor:
        if self.backend == "double_backward":
            theta, g = state
            if V.shape[1] == 1:  # one vector: a plain backward pass, no vmap over the graph
                return torch.autograd.grad(g, theta, grad_outputs=V[:, 0], retain_graph=True)[0][:, None]
            return torch.autograd.grad(g, theta, grad_outputs=V.T.contiguous(), retain_graph=True,
                                       is_grads_batched=True)[0].T
        xb, yb, w = state
        if self.backend == "jvp":
            if self._compiled is not None:  # one traced program per batch shape; columns one at a time (no vmap)
                return torch.stack([w * self._compiled(self.fm.theta0, V[:, j].contiguous(), xb, yb)
                                    for j in range(V.shape[1])], dim=1)
            return w * vmap(lambda v: self._batch_hvp(self.fm.theta0, v, xb, yb), in_dims=1, out_dims=1)(V)
        return self._finite_difference(V, xb, yb, w)

    def _finite_difference(self, V: torch.Tensor, xb, yb, w: float) -> torch.Tensor:
        eps = torch.finfo(self.dtype).eps
        theta = self.fm.theta0
        out = torch.zeros_like(V)
        g = grad(lambda t: self._batch_loss(t, xb, yb, w))
        for j in range(V.shape[1]):
            v = V[:, j]
            vnorm = torch.linalg.vector_norm(v)
            if vnorm == 0:
                continue
            # central difference: truncation O(h^2), rounding O(eps/h) -> h ~ eps^(1/3) in units of theta
            step = self.fd_step if self.fd_step is not None else eps ** (1 / 3)
            h = step * max(1.0, float(torch.linalg.vector_norm(theta))) / float(vnorm)
            out[:, j] = (g(theta + h * v) - g(theta - h * v)) / (2 * h)
        return out


def hessian(model: nn.Module, loss: LossLike, X, Y=None, *, backend: Backend = "double_backward",
            params=None, batch_size: int | None = None, reduction: str | None = None, input_key=None, target_key=None,
            batch_size_fn=None, num_targets_fn=None, check_deterministic: bool = True,
            compile: bool | str = False, fd_step: float | None = None) -> HessianOperator:
    """The loss Hessian ``d^2 L / d theta^2`` in the selected parameters as a matrix-free operator (004 §1).

    Parameters
    ----------
    model : torch.nn.Module
        In eval mode if it has batch norm or dropout with ``p > 0``; snapshotted (parameters and buffers) now.
    loss : str or callable
        ``"mse"`` is exactly ``L = 1/(2n) ||f(X) - Y||_F^2`` (003 eq 2), which is ``d_L / 2`` times PyTorch's
        ``nn.MSELoss()`` (the mean over all ``n d_L`` entries: ``nn.MSELoss() = (2 / d_L) * "mse"``, and
        ``nn.MSELoss(reduction="sum") = 2n * "mse"``; Hessians scale alike). ``"cross_entropy"``: mean softmax
        cross-entropy of ``(n, C)`` logits and integer labels. Or any callable ``loss(output, Y) -> scalar``
        whose reduction (``.reduction`` or ``reduction=``) weights the batches.
    X, Y
        Tensors or numpy arrays (``X`` may be a mapping of tensors), optionally split into ``batch_size`` chunks;
        or ``X`` a re-iterable of batches (pairs, or mappings read with ``input_key``/``target_key``) and
        ``Y=None``.
    backend : {"double_backward", "jvp", "finite_difference"}
        Keyword-only. Reverse-over-reverse (the gradient graph of one batch kept across products),
        forward-over-reverse, or a central difference of gradients (error ``O(h^2)``).
    params : iterable of parameters or names, optional
        The parameters to differentiate, in the order given (the flat order, ``H.param_names``); each once.
        Default: every parameter with ``requires_grad``, a tied tensor once, in ``model.parameters()`` order.
    batch_size_fn : callable, optional
        ``batch_size_fn(X_b)``: the samples of a mapping input.
    num_targets_fn : callable, optional
        ``num_targets_fn(X_b, Y_b)``: what a custom mean divides by on a batch (its unmasked tokens). A mean is
        over every target of the data: batches are weighted by their numbers of targets (labels that are not
        ``ignore_index`` for ``nn.CrossEntropyLoss``, entries for elementwise ``nn`` losses, else samples).
    check_deterministic : bool
        A re-iterable that is not a list is checked to give the same loss and gradient on two passes.
    compile : bool or str
        ``backend="jvp"`` only: ``True`` for ``torch.compile``'s default (inductor), or a backend's name; the
        first product pays the tracing time.
    fd_step : float, optional
        ``backend="finite_difference"`` only: the step ``h`` along ``v / ||v||`` in units of
        ``max(1, ||theta||)``; default ``eps^(1/3)`` (truncation ``O(h^2)`` balanced against rounding ``O(eps/h)``).
    batch_size : int | None
        Split tensor data into chunks of this many samples (the operator sums their weighted products);
        None: one batch.
    reduction : str | None
        ``"mean"`` (default) or ``"sum"`` for a loss callable without ``.reduction``; must agree with a declared one.
    input_key
        With batches that are mappings: the key of the inputs.
    target_key
        With batches that are mappings: the key of the targets.


    Returns
    -------
    HessianOperator
        ``d x d`` with ``matvec``, ``matmat``, ``dense``, ``to_scipy``; attention runs with the math kernel."""
    return HessianOperator(model, loss, X, Y, backend=backend, compile=compile, fd_step=fd_step, params=params,
                           batch_size=batch_size,
                           reduction=reduction, input_key=input_key, target_key=target_key,
                           batch_size_fn=batch_size_fn, num_targets_fn=num_targets_fn,
                           check_deterministic=check_deterministic)
