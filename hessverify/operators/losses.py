"""Losses over samples, their reduction (how batches are weighted) and their Hessians in the network output.

- ``"mse"`` is exactly ``1/(2n) ||f(X) - Y||_F^2`` (003 eq 2). PyTorch's ``nn.MSELoss()`` is the mean over all
  ``n d_L`` entries, ``1/(n d_L) ||f(X) - Y||_F^2 = (2 / d_L) * "mse"``; ``nn.MSELoss(reduction="sum")`` is
  ``2n * "mse"``. Their Hessians scale by the same factors.
- ``"cross_entropy"``: mean softmax cross-entropy over integer labels, output ``(n, C)``. For sequence outputs
  ``(n, C, T)`` pass ``nn.CrossEntropyLoss()`` (a callable).
- Any callable ``loss(output, Y) -> scalar``: its reduction is read from ``loss.reduction`` (``nn`` losses) or
  given as ``reduction="mean"|"sum"`` (default ``"mean"``). With several batches the reduction is checked by
  doubling a batch (a mean keeps its value, a sum doubles).

The whole-data objective of a mean is the mean over every target of the data, ``L = (1/D) sum_t l_t`` with ``D``
the number of targets that contribute, so batch ``b`` enters with weight ``D_b / D`` (and 1 for a sum), and a
batched operator equals the one-pass operator. ``D_b`` is what the loss divides by on that batch
(:meth:`Loss.num_targets`): the samples for ``"mse"``/``"cross_entropy"`` and unknown callables; the labels
that are not ``ignore_index`` for ``nn.CrossEntropyLoss``/``nn.NLLLoss`` (their class-weight sum with
``weight=``; positions for class-probability targets); the target entries for the elementwise ``nn`` losses;
``num_targets_fn(X_b, Y_b)`` when given (a padding mask of a custom loss). Weighting a token loss by samples
instead is the Hessian of the mean of per-batch token means, a different objective.

The output Hessian product of a callable is reverse-over-reverse (``vjp`` of ``grad``): forward-mode AD
through ``F.mse_loss`` fails inside PyTorch ("ZeroTensors are immutable", pytorch/pytorch#123996) and
``F.huber_loss`` has no forward-mode formula, while reverse-over-reverse works for every differentiable loss.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import grad, vjp, vmap

LossLike = str | Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LOSSES = ("mse", "cross_entropy")
REDUCTIONS = ("mean", "sum")
#: ``nn`` losses whose mean is over the entries of the target
ELEMENTWISE = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss, nn.BCELoss, nn.BCEWithLogitsLoss,
               nn.PoissonNLLLoss, nn.SoftMarginLoss, nn.MultiLabelSoftMarginLoss)


def mse(output: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """003 eq (2): ``1/(2n) ||f(X) - Y||_F^2``."""
    return 0.5 * (output - Y).pow(2).sum() / output.shape[0]


def cross_entropy(output: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Mean softmax cross-entropy, ``Y`` integer labels."""
    return F.cross_entropy(output, Y.long())


def _check_depends_on_output(fn, output: torch.Tensor, Y: torch.Tensor, where: str) -> None:
    """Refuse a loss with no gradient path to the model output (``out.detach()`` inside, a constant): every
    curvature operator of it would be silently zero."""
    probe = output.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        value = fn(probe, Y)
        if not isinstance(value, torch.Tensor) or not value.requires_grad:
            raise ValueError(f"{where}: the loss does not depend on the model output (no gradient path: a .detach() "
                             "or a constant inside the loss callable?); its Hessian and GGN would be zero. Compute the "
                             "loss from the output it is given")


def resolve_loss(loss: LossLike) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss function for a name or callable."""
    if callable(loss):
        return loss
    if loss == "mse":
        return mse
    if loss == "cross_entropy":
        return cross_entropy
    raise ValueError(f"loss={loss!r} is not a known loss; use 'mse', 'cross_entropy' or a callable(output, Y)")


class Loss:
    """A loss with its reduction: ``fn(output, Y)``, ``num_targets``, ``weight(D_b, D)``, ``output_hessian_product``."""

    def __init__(self, loss: LossLike, reduction: str | None = None, num_targets_fn: Callable | None = None):
        self.spec, self.fn = loss, resolve_loss(loss)
        self.named = isinstance(loss, str)
        declared = getattr(loss, "reduction", None) if not self.named else "mean"
        if declared is not None and not isinstance(declared, str):
            declared = None
        if declared == "none":
            raise ValueError(f"the loss has reduction='none' (per-sample values); use reduction='mean' or 'sum' in "
                             f"{type(loss).__name__}(...)")
        if reduction is not None:
            if reduction not in REDUCTIONS:
                raise ValueError(f"reduction={reduction!r} is not supported; use 'mean' or 'sum'")
            if declared is not None and declared != reduction:
                raise ValueError(f"reduction={reduction!r} contradicts the loss's own reduction {declared!r}; "
                                 "leave reduction= out")
        self.reduction = reduction or declared or "mean"
        if num_targets_fn is not None:
            if not callable(num_targets_fn):
                raise TypeError("num_targets_fn must be a callable(X_b, Y_b) -> number of targets the loss averages "
                                f"over, got {type(num_targets_fn).__name__}")
            if self.reduction == "sum":
                raise ValueError("num_targets_fn weights the batches of a mean, but the loss is a sum (batches enter "
                                 "with weight 1); leave num_targets_fn out")
        self.num_targets_fn = num_targets_fn

    def __repr__(self) -> str:
        return f"Loss({self.spec!r}, reduction={self.reduction!r})"

    def num_targets(self, X, Y, size: int, where: str = "the data") -> int | float:
        """``D_b``, what a mean of this loss divides by on the batch ``(X, Y)`` of ``size`` samples (module
        docstring); a sum counts samples."""
        if self.num_targets_fn is not None:
            count = self.num_targets_fn(X, Y)
            if isinstance(count, torch.Tensor) and count.numel() == 1:
                count = count.item()
            if isinstance(count, (bool, np.bool_)) or not isinstance(count, numbers.Real) or not math.isfinite(count) \
                    or count < 0:
                raise ValueError(f"{where}: num_targets_fn returned {count!r}; it must return the number (or total "
                                 "weight) of the targets the loss averages over, a finite number >= 0")
            return count
        spec = self.spec
        if self.reduction == "sum" or not isinstance(Y, torch.Tensor):
            return size
        if isinstance(spec, (nn.CrossEntropyLoss, nn.NLLLoss)):
            if Y.is_floating_point():  # class probabilities (n, C, ...): a mean over positions
                return Y.numel() // Y.shape[1] if Y.ndim > 1 else size
            valid = Y != spec.ignore_index
            if spec.weight is not None:
                labels = Y[valid].long()
                if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= spec.weight.numel()):
                    return size  # out-of-range labels: the loss check names them
                return float(spec.weight.to(Y.device)[labels].sum())
            return int(valid.sum())
        if isinstance(spec, ELEMENTWISE):
            return Y.numel()
        return size

    def weight(self, count: int | float, total: int | float) -> float:
        """The batch's weight in the whole loss: ``D_b / D`` for a mean, 1 for a sum."""
        return count / total if self.reduction == "mean" else 1.0

    def check(self, output: torch.Tensor, Y: torch.Tensor, where: str, *, several_batches: bool,
              empty: bool = False) -> None:
        """Shapes, dtypes and label ranges for the named losses; a finite scalar of the declared reduction for
        a callable (not evaluated on an ``empty`` batch, one without targets). ``where`` names the batch."""
        if not torch.isfinite(output).all():
            raise ValueError(f"{where}: the model output contains NaN or Inf; check the parameters and the scale of X")
        if self.spec == "mse":
            _check_mse_targets(output, Y, where)
        elif self.spec == "cross_entropy":
            _check_labels(output, Y, where)
        elif not empty:
            self._check_callable(output, Y, where, several_batches)

    def check_pair(self, first: tuple, second: tuple) -> None:
        """Two batches ``(index, output, Y, D_b)`` of a mean: the loss of both together must equal their losses
        weighted by their counts, ``(D_0 L_0 + D_1 L_1) / (D_0 + D_1)``. Catches a callable that averages over
        something else than the counted targets (a padding mask without ``num_targets_fn``). Skipped where the
        two cannot be concatenated (other sequence lengths) or the losses are zero."""
        (i, o0, y0, d0), (j, o1, y1, d1) = first, second
        if o0.shape[1:] != o1.shape[1:] or y0.shape[1:] != y1.shape[1:] or y0.dtype != y1.dtype:
            return
        with torch.no_grad():
            try:
                both = float(self.fn(torch.cat([o0, o1]), torch.cat([y0, y1])))
            except (RuntimeError, ValueError, TypeError, IndexError):
                return
            l0, l1 = float(self.fn(o0, y0)), float(self.fn(o1, y1))
        weighted = (d0 * l0 + d1 * l1) / (d0 + d1)
        scale = max(abs(l0), abs(l1), abs(both))
        if scale > 0 and abs(both - weighted) > torch.finfo(o0.dtype).eps ** 0.5 * scale:
            raise ValueError(
                f"the loss of batches {i} and {j} together is {both:.10g}, but their losses weighted by their numbers "
                f"of targets ({d0:g} and {d1:g}) give {weighted:.10g}: the loss is a mean over something else than "
                "the targets counted. For a masked loss (padding), pass num_targets_fn=(lambda X, Y: number of "
                "targets the loss averages over in that batch); or pass the data in one batch")

    def _check_callable(self, output, Y, where: str, several_batches: bool) -> None:
        try:
            with torch.no_grad():
                value = self.fn(output, Y)
        except (RuntimeError, ValueError, TypeError, IndexError) as e:
            raise ValueError(f"{where}: the loss callable fails on the model output {tuple(output.shape)} and the "
                             f"targets {tuple(Y.shape)}: {e}") from None
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"{where}: the loss callable returned {shape}, not a scalar; per-sample values need a "
                             "reduction: reduction='mean' (or 'sum') in the loss")
        if value.is_complex() or not value.is_floating_point():
            raise ValueError(f"{where}: the loss callable returned a {value.dtype} scalar; it must be a real floating "
                             "value")
        if not torch.isfinite(value):
            raise ValueError(f"{where}: the loss is {float(value)}; check the targets")
        _check_depends_on_output(self.fn, output, Y, where)
        if several_batches and output.shape[0] > 0:
            with torch.no_grad():
                doubled = float(self.fn(torch.cat([output, output]), torch.cat([Y, Y])))
            single = float(value)
            if abs(single) > 1e-12:
                ratio = doubled / single
                seen = "mean" if abs(ratio - 1) < 1e-6 else "sum" if abs(ratio - 2) < 1e-6 else None
                if seen is None:
                    raise ValueError(f"the loss is neither a mean nor a sum over samples (doubling a batch scales it "
                                     f"{ratio:.4g}x), so batches cannot be weighted exactly; pass the data in one batch")
                if seen != self.reduction:
                    raise ValueError(f"the loss behaves as a {seen} over samples but batches would be weighted as a "
                                     f"{self.reduction}; pass reduction='{seen}'")

    def output_hessian_product(self, output: torch.Tensor, Y: torch.Tensor, U: torch.Tensor) -> torch.Tensor:
        """``(d^2 loss / d output^2) U`` for ``U`` shaped like ``output`` with any leading batch dims.

        MSE: ``U / n``. Cross-entropy: per sample ``(diag(p) - p p^T) u_i / n``, ``p = softmax(f_i)``.
        A callable: reverse-over-reverse, ``vjp(grad loss, output)(u)`` (the output Hessian is symmetric).
        """
        n = output.shape[0]
        if self.spec == "mse":
            return U / n
        if self.spec == "cross_entropy":
            p = torch.softmax(output, dim=-1)
            return (p * U - p * (p * U).sum(-1, keepdim=True)) / n
        _, pull = vjp(grad(lambda o: self.fn(o, Y)), output)
        flat = U.reshape(-1, *output.shape)
        return vmap(lambda u: pull(u)[0])(flat).reshape(U.shape)


def _check_mse_targets(output: torch.Tensor, Y: torch.Tensor, where: str) -> None:
    if not Y.is_floating_point():
        raise TypeError(f"{where}: Y for loss='mse' must be floating targets of shape (n, d_L); use one_hot(labels) "
                        "for labels")
    if Y.shape != output.shape:
        raise ValueError(f"{where}: Y has shape {tuple(Y.shape)} but the model outputs {tuple(output.shape)}; they "
                         "must match")
    if Y.dtype != output.dtype:
        raise TypeError(f"{where}: Y has dtype {Y.dtype} but the model outputs {output.dtype}; convert Y")


def _check_labels(output: torch.Tensor, Y: torch.Tensor, where: str) -> None:
    if Y.is_floating_point() or Y.is_complex() or Y.dtype == torch.bool or Y.ndim != 1:
        raise TypeError(f"{where}: Y for loss='cross_entropy' must be a 1-D integer tensor of class labels")
    if output.ndim != 2:
        raise ValueError(f"{where}: loss='cross_entropy' needs outputs (n, C), the model gives {tuple(output.shape)}; "
                         "for sequence outputs (n, C, T) pass loss=torch.nn.CrossEntropyLoss() (a callable)")
    if Y.shape[0] != output.shape[0]:
        raise ValueError(f"{where}: Y has {Y.shape[0]} labels but the model output has shape {tuple(output.shape)}")
    if Y.numel() and (int(Y.min()) < 0 or int(Y.max()) >= output.shape[1]):
        raise ValueError(f"{where}: labels must lie in [0, {output.shape[1]}) for a model with {output.shape[1]} "
                         f"outputs; found {int(Y.min())}..{int(Y.max())}")
