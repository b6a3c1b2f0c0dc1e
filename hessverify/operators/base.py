"""The operator interface shared by Hessian, GGN and NTK: ``shape``, ``dtype``, ``device``, ``matvec``,
``matmat``, ``dense`` and ``to_scipy`` (a ``scipy.sparse.linalg.LinearOperator``, as in curvlinops), and the
template of the loss-curvature operators (:class:`ModelOperator`): it owns the parameter selection and
snapshot, the data source, the loss and its batch weighting, and the validation of every batch; an operator
implements only its product on one batch (the shape of curvlinops' ``_matmat_batch``)."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np
import scipy.sparse.linalg as sla
import torch
from torch import nn

from hessverify._validation import check_positive_int
from hessverify.operators._functional import FlatModel, FlatParameters, batch_statistics
from hessverify.operators.attention import (AttentionSpy, attention_kernels, differentiable_attention,
                                             explain_product_error)
from hessverify.operators.data import DataSource
from hessverify.operators.losses import Loss, LossLike


def progress_reporter(callback: Callable[[dict], None] | None, progress: bool, name: str):
    """``callback`` plus, with ``progress=True``, a line on stderr per call (columns done, products, seconds);
    ``None`` when there is nothing to report."""
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, got {progress!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a callable(info: dict) or None, got {type(callback).__name__}")
    if not progress:
        return callback
    start = time.perf_counter()

    def report(info: dict) -> None:
        if callback is not None:
            callback(info)
        print(f"[{name}] {info['step']}/{info['total']} columns, {info['num_matvecs']} products, "
              f"{time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)

    return report


class CurvatureOperator:
    """A symmetric ``d x d`` matrix available through products. Subclasses implement ``_matmat``."""

    shape: tuple[int, int]
    dtype: torch.dtype
    device: torch.device
    #: number of matrix-vector products (columns) applied so far
    num_matvecs: int = 0

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:  # (d, k) -> (d, k)
        raise NotImplementedError

    def _check_operand(self, V: torch.Tensor, name: str) -> None:
        if not isinstance(V, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(V).__name__}; use to_scipy() for numpy")
        if V.dtype != self.dtype:
            raise TypeError(f"{name} has dtype {V.dtype} but the operator has {self.dtype}; convert with .to({self.dtype})")
        if V.device != self.device:
            raise ValueError(f"{name} is on {V.device} but the operator is on {self.device}; move it with .to('{self.device}')")
        if V.shape[0] != self.shape[1]:
            raise ValueError(f"{name} has leading size {V.shape[0]} but the operator has size {self.shape[1]}")

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """``A v`` for a flat 1-D ``v``."""
        self._check_operand(v, "v")
        if v.ndim != 1:
            raise ValueError(f"v must be 1-D of length {self.shape[1]}, got shape {tuple(v.shape)}; use matmat for blocks")
        return self.matmat(v[:, None])[:, 0]

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        """``A V`` for ``V`` of shape ``(d, k)``, batched over columns."""
        self._check_operand(V, "V")
        if V.ndim != 2:
            raise ValueError(f"V must be 2-D of shape ({self.shape[1]}, k), got {tuple(V.shape)}")
        self.num_matvecs += V.shape[1]
        if V.shape[1] == 0:
            return V.clone()
        return self._matmat(V)

    def __matmul__(self, other: torch.Tensor) -> torch.Tensor:
        return self.matvec(other) if other.ndim == 1 else self.matmat(other)

    def dense(self, chunk: int = 256, *, callback: Callable[[dict], None] | None = None,
              progress: bool = False) -> torch.Tensor:
        """The full matrix, built from ``matmat`` on identity columns.

        Parameters
        ----------
        chunk : int
            Columns per ``matmat`` call (memory grows with it).
        callback : callable, optional
            Called after each chunk with ``{"step": columns done, "total": d, "num_matvecs": products so far}``.
        progress : bool
            Print a progress line on stderr after each chunk.

        Returns
        -------
        torch.Tensor
            The ``d x d`` matrix in the operator's dtype and device.
        """
        chunk = check_positive_int("chunk", chunk)
        report = progress_reporter(callback, progress, f"{type(self).__name__}.dense")
        d = self.shape[0]
        cols = []
        for start in range(0, d, chunk):
            eye = torch.zeros(d, min(chunk, d - start), dtype=self.dtype, device=self.device)
            eye[torch.arange(start, start + eye.shape[1]), torch.arange(eye.shape[1])] = 1
            cols.append(self.matmat(eye))
            if report is not None:
                report({"step": start + eye.shape[1], "total": d, "num_matvecs": self.num_matvecs})
        return torch.cat(cols, dim=1)

    def to_scipy(self, dtype=None) -> sla.LinearOperator:
        """A ``scipy.sparse.linalg.LinearOperator`` view in the operator's dtype (or ``dtype``), through the host."""
        op = self
        np_dtype = np.dtype(dtype) if dtype is not None else np.dtype(str(self.dtype).removeprefix("torch."))

        def mv(x: np.ndarray) -> np.ndarray:
            x = torch.as_tensor(np.asarray(x), device=op.device).to(op.dtype)
            y = op.matmat(x.reshape(op.shape[1], -1))
            return y.detach().cpu().numpy().astype(np_dtype, copy=False).reshape(np.shape(x))

        return sla.LinearOperator(self.shape, matvec=mv, rmatvec=mv, matmat=mv, dtype=np_dtype)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.shape}, dtype={self.dtype}, device={self.device})"


class ModelOperator(FlatParameters, CurvatureOperator):
    """Template of the curvature of ``loss(model(X), Y)`` in the selected parameters.

    Subclasses implement ``_prepare(xb, yb, w)`` (per-batch state, kept when the data are one batch) and
    ``_matmat_batch(V, state)`` (that batch's weighted product). Batch ``b`` enters with the loss's weight
    (``D_b / D`` for a mean, ``D_b`` its number of contributing targets: :mod:`hessverify.operators.losses`;
    1 for a sum), so the batched operator equals the one-pass operator of the mean over all targets. A batch
    without targets (every label ``ignore_index``) is skipped.

    Parameters
    ----------
    model : torch.nn.Module
        The network; its parameters and buffers are snapshotted at construction.
    loss : str or callable
        ``"mse"`` (``1/(2n) ||f(X) - Y||_F^2``, 003 eq 2), ``"cross_entropy"``, or a callable
        ``loss(output, Y) -> scalar`` (see :func:`hessverify.operators.hessian`).
    X, Y
        Tensors or numpy arrays (``X`` may be a mapping of tensors); or ``X`` a re-iterable of batches and
        ``Y=None``.
    params : iterable of parameters or names, optional
        The parameters to differentiate, in that order; default every parameter with ``requires_grad``.
    batch_size : int, optional
        Split tensor data into chunks of this many samples; None: one batch.
    reduction : str, optional
        ``"mean"`` or ``"sum"`` for a loss callable without ``.reduction``.
    input_key, target_key : optional
        With batches that are mappings: the keys of the inputs and of the targets.
    batch_size_fn : callable, optional
        ``batch_size_fn(X_b)``: the samples of a mapping input.
    num_targets_fn : callable, optional
        ``num_targets_fn(X_b, Y_b)``: what a custom mean divides by on a batch.
    check_deterministic : bool
        Check that a re-iterable data source that is not a list gives the same loss and gradient on two passes.
    """

    def __init__(self, model: nn.Module, loss: LossLike, X, Y=None, *, params=None, batch_size: int | None = None,
                 reduction: str | None = None, input_key=None, target_key=None, batch_size_fn=None,
                 num_targets_fn=None, check_deterministic: bool = True):
        self.fm = FlatModel(model, params)
        self.loss = Loss(loss, reduction, num_targets_fn)
        self.loss_name = loss
        self.data = DataSource(X, Y, batch_size=batch_size, dtype=self.fm.dtype, device=self.fm.device,
                               input_key=input_key, target_key=target_key, batch_size_fn=batch_size_fn)
        if len(self.data.sizes) > 1 and batch_statistics(model):
            raise ValueError(f"{batch_statistics(model)[0]} normalises with each batch's own statistics "
                             "(track_running_stats=False), so splitting the data into batches changes the model; pass "
                             "the data in one batch, or use a BatchNorm that tracks running statistics")
        p = self.fm.num_params
        self.shape, self.dtype, self.device = (p, p), self.fm.dtype, self.fm.device
        self.num_matvecs = 0
        self._state = None
        with differentiable_attention():
            spy = AttentionSpy()
            with spy:
                self._validate_batches()
            #: whether the model calls attention: then its forward passes run with the math kernel
            self.uses_attention = spy.seen
            if check_deterministic and not self.data.fixed_order:
                self._check_deterministic()
            self._probe()

    def batches(self):
        """``(X_b, Y_b, weight_b)`` over the batches that have targets."""
        for b in self.data.batches():
            if self.data.fixed_order:
                count = self._counts[b.index]
            else:  # a DataLoader may regroup the samples on every pass: count again
                count = self.loss.num_targets(b.X, b.Y, b.size, f"batch {b.index}")
            if count:
                yield b.X, b.Y, self.loss.weight(count, self.num_targets)

    def _validate_batches(self) -> None:
        """Every batch once: its inputs through the model, its targets and the loss on them, its number of targets
        ``D_b``; sets ``num_targets`` (``D``) and checks the count weighting on two batches of a callable mean."""
        several = len(self.data.sizes) > 1
        self._counts, pair = [], []
        for b in self.data.batches():
            where = f"batch {b.index}" if several else "the data"
            out = self.fm.checked_forward(b.X, f"batch {b.index} inputs" if several else "X")
            count = self.loss.num_targets(b.X, b.Y, b.size, where)
            self._counts.append(count)
            self.loss.check(out, b.Y, where, several_batches=several, empty=count == 0)
            if count and len(pair) < 2 and not self.loss.named and self.loss.reduction == "mean":
                pair.append((b.index, out, b.Y, count))
        #: ``D``, the number of targets the whole-data mean divides by (samples for a sample mean)
        self.num_targets = sum(self._counts)
        if self.num_targets == 0:
            raise ValueError("no target of the data contributes to the loss (every label is ignore_index, or "
                             "num_targets_fn returned 0 on every batch); the curvature of an empty mean is undefined")
        if len(pair) == 2:
            self.loss.check_pair(*pair)

    def _loss_and_gradient(self) -> tuple[float, torch.Tensor]:
        theta = self.fm.theta0.detach().requires_grad_(True)
        total, g = 0.0, torch.zeros_like(self.fm.theta0)
        for xb, yb, w in self.batches():
            with torch.enable_grad():
                value = w * self.loss.fn(self.fm(theta, xb), yb)
                g += torch.autograd.grad(value, theta)[0]
            total += float(value.detach())
        return total, g

    def _check_deterministic(self) -> None:
        """Two passes must give the same loss and gradient (curvlinops' ``check_deterministic``)."""
        (l1, g1), (l2, g2) = self._loss_and_gradient(), self._loss_and_gradient()
        rtol = torch.finfo(self.dtype).eps ** 0.5
        if abs(l1 - l2) > rtol * max(abs(l1), 1e-300) or float((g1 - g2).norm()) > rtol * float(g1.norm()):
            raise ValueError(f"two passes over the data give different losses ({l1:.10g} vs {l2:.10g}) or gradients: "
                             "the data source is not deterministic (a shuffling DataLoader, random augmentation?). "
                             "Use shuffle=False, or pass check_deterministic=False if that is intended")

    #: what a failing product is called in its error message, and what to try instead
    product_name = "curvature product"
    alternatives = "Check that the model is twice differentiable."

    @contextmanager
    def _explained(self):
        """Errors torch raises inside a product become one ``ValueError`` that says what failed and what to try."""
        try:
            yield
        except (RuntimeError, NotImplementedError) as e:
            err = explain_product_error(e, self.product_name, self.alternatives)
            if err is None:
                raise
            raise err from None

    def _probe(self) -> None:
        """One product on the first batch, so that a model this operator cannot differentiate fails here, at
        construction, with an explanation (not at the first product of an estimator). Not counted in
        ``num_matvecs``; with one batch the prepared state is kept for the products."""
        v = torch.full((self.shape[0], 1), self.shape[0] ** -0.5, dtype=self.dtype, device=self.device)
        with self._explained():
            if self.data.single_batch:
                self._state = self._prepare(*next(self.batches()))
                state = self._state
            else:
                batches = self.batches()
                state = self._prepare(*next(batches))
                batches.close()
            self._matmat_batch(v, state)

    def _prepare(self, xb, yb, w: float):
        raise NotImplementedError

    def _matmat_batch(self, V: torch.Tensor, state) -> torch.Tensor:
        raise NotImplementedError

    def _states(self):
        if not self.data.single_batch:
            for xb, yb, w in self.batches():
                yield self._prepare(xb, yb, w)
            return
        if self._state is None:
            self._state = self._prepare(*next(self.batches()))
        yield self._state

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(V)
        with attention_kernels(self.uses_attention), self._explained():
            for state in self._states():
                out += self._matmat_batch(V, state)
        return out.detach()
