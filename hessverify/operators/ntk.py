"""Empirical neural tangent kernel ``K = J J^T / n`` (003 eq 5), ``J = d f(X).reshape(-1) / d theta``.

Rows of ``J`` are sample-major (row ``i * d_L + c`` is output ``c`` of sample ``i``), so ``K`` is
``(n d_L) x (n d_L)`` and its non-zero eigenvalues equal those of ``ggn(model, "mse", X, Y) = J^T J / n``.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.func import jacrev, jvp, vjp, vmap

from hessverify._validation import check_finite, check_positive_int
from hessverify.operators._functional import FlatModel, FlatParameters
from hessverify.operators.attention import (AttentionSpy, attention_kernels, differentiable_attention,
                                             explain_product_error)
from hessverify.operators.base import CurvatureOperator, progress_reporter


class NTKOperator(FlatParameters, CurvatureOperator):
    """``K = J J^T / n`` on all ``n`` samples of ``X`` at once.

    Parameters
    ----------
    model
        The network.
    X
        All ``n`` inputs.
    params
        The parameters of the Jacobian, as for :func:`hessverify.operators.hessian`.
    """

    def __init__(self, model: nn.Module, X: torch.Tensor, *, params=None):
        self.fm = FlatModel(model, params)
        if isinstance(X, np.ndarray):
            X = torch.as_tensor(X)
        if not isinstance(X, torch.Tensor):
            raise TypeError(f"X must be a torch.Tensor of shape (n, d0), got {type(X).__name__}")
        if X.is_complex():
            raise TypeError(f"X is complex ({X.dtype}); hessverify works with real tensors")
        if X.dtype != self.fm.dtype:
            raise TypeError(f"X has dtype {X.dtype} but the model has {self.fm.dtype}; convert one to match")
        if X.ndim < 1 or X.shape[0] == 0 or X.numel() == 0:
            raise ValueError(f"X has shape {tuple(X.shape)}: the NTK needs at least one sample (a leading batch "
                             "dimension of size >= 1)")
        if X.is_meta:
            raise ValueError("X is on the meta device (no values); pass a tensor with data")
        check_finite("X", X)
        self.X = X.to(self.fm.device)
        spy = AttentionSpy()
        with differentiable_attention(), spy:
            out = self.fm.checked_forward(self.X)
        #: whether the model calls attention: then its forward passes run with the math kernel
        self.uses_attention = spy.seen
        check_finite("model output", out)
        self.out_shape = tuple(out.shape)
        self.n = out.shape[0]
        d = out.numel()
        self.shape, self.dtype, self.device = (d, d), self.fm.dtype, self.fm.device
        self.num_matvecs = 0
        self._pullback = None
        # one product now, so that a model the NTK cannot differentiate fails here with an explanation
        self._matmat(torch.full((d, 1), d ** -0.5, dtype=self.dtype, device=self.device))

    def _explain(self, e: Exception) -> Exception:
        err = explain_product_error(e, "NTK product (J^T u in reverse mode, J v in forward mode)",
                                    "The NTK needs forward- and reverse-mode derivatives of the network")
        return e if err is None else err

    def _f(self, theta: torch.Tensor) -> torch.Tensor:
        return self.fm(theta, self.X).reshape(-1)

    def _matmat(self, U: torch.Tensor) -> torch.Tensor:
        try:
            with attention_kernels(self.uses_attention):
                if self._pullback is None:
                    self._pullback = vjp(self._f, self.fm.theta0)[1]
                JtU = vmap(lambda u: self._pullback(u)[0], in_dims=1)(U)  # (k, p)
                JJtU = vmap(lambda v: jvp(self._f, (self.fm.theta0,), (v,))[1], out_dims=1)(JtU)
        except (RuntimeError, NotImplementedError) as e:
            raise self._explain(e) from None
        return (JJtU / self.n).detach()

    def jacobian(self, chunk: int = 64) -> torch.Tensor:
        """The dense Jacobian ``J`` of shape ``(n d_L, p)``, ``chunk`` rows at a time: each row is a backward pass
        through all n samples, so all rows at once hold ``n d_L`` copies of the activations (32 GB for a
        49-64-10 MLP at n = 2,500)."""
        chunk = check_positive_int("chunk", chunk)
        try:
            with attention_kernels(self.uses_attention):
                return jacrev(self._f, chunk_size=chunk)(self.fm.theta0).detach()
        except (RuntimeError, NotImplementedError) as e:
            raise self._explain(e) from None

    def dense(self, chunk: int = 64, *, callback=None, progress: bool = False) -> torch.Tensor:
        """``J J^T / n`` from the explicit Jacobian (:meth:`jacobian`, ``chunk`` rows at a time); ``callback`` and
        ``progress`` report once, when ``J`` is built (``{"step": rows, "total": rows, "num_matvecs": 0}``)."""
        report = progress_reporter(callback, progress, "NTKOperator.dense")
        J = self.jacobian(chunk)
        if report is not None:
            report({"step": J.shape[0], "total": J.shape[0], "num_matvecs": self.num_matvecs})
        return J @ J.T / self.n


def ntk(model: nn.Module, X: torch.Tensor, *, params=None) -> NTKOperator:
    """The empirical NTK ``K = J J^T / n`` of ``model`` on inputs ``X`` (003 eq 5).

    Parameters
    ----------
    model : torch.nn.Module
        As for :func:`hessverify.operators.hessian`.
    X : torch.Tensor
        Inputs ``(n, ...)``, all in one pass.
    params : iterable of parameters or names, optional
        As for :func:`hessverify.operators.hessian`.

    Returns
    -------
    NTKOperator
        ``(n d_L) x (n d_L)``, rows sample-major; its non-zero eigenvalues are those of ``ggn(model, "mse", X, Y)``.
    """
    return NTKOperator(model, X, params=params)
