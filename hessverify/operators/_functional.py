"""A model seen as a function of one flat parameter vector (order of ``parameters_to_vector``)."""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch
from torch import nn
from torch.func import functional_call

from hessverify._validation import check_finite


def check_deterministic(model: nn.Module) -> None:
    """Refuse modules whose output depends on training mode (dropout, batch norm) while ``model.training``."""
    for name, m in model.named_modules():
        if m.training and isinstance(m, (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm)):
            raise ValueError(
                f"model contains {type(m).__name__} ({name or 'root'}) in training mode, so its curvature is not "
                "deterministic; call model.eval() before building the operator"
            )


class FlatModel:
    """``f(theta, X)`` for a flat ``theta``; ``theta0`` is a detached snapshot of the model's parameters."""

    def __init__(self, model: nn.Module):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        check_deterministic(model)
        self.model = model
        named = [(n, p) for n, p in model.named_parameters()]
        if not named:
            raise ValueError("model has no parameters; the curvature of a parameter-free model is empty")
        self.names = [n for n, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.numels = [p.numel() for _, p in named]
        dtypes = {p.dtype for _, p in named}
        devices = {p.device for _, p in named}
        if len(dtypes) > 1 or len(devices) > 1:
            raise ValueError(
                f"model parameters mix dtypes {dtypes} or devices {devices}; call model.to(dtype, device) first"
            )
        self.dtype, self.device = dtypes.pop(), devices.pop()
        if not self.dtype.is_floating_point:
            raise TypeError(f"model parameters have dtype {self.dtype}; curvature needs a floating dtype")
        self.theta0 = torch.nn.utils.parameters_to_vector([p.detach() for _, p in named]).clone()
        check_finite("model parameters", self.theta0)
        self.buffers = {n: b for n, b in model.named_buffers()}
        self.num_params = self.theta0.numel()

    def unflatten(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of ``theta`` shaped like the parameters, keyed by name."""
        parts = torch.split(theta, self.numels)
        return {n: t.view(s) for n, t, s in zip(self.names, parts, self.shapes)}

    def __call__(self, theta: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        return functional_call(self.model, {**self.unflatten(theta), **self.buffers}, (X,))

    def checked_forward(self, X: torch.Tensor) -> torch.Tensor:
        """``f(theta0, X)`` without gradients, turning shape errors into a message that names ``X``."""
        if X.ndim < 2:
            raise ValueError(f"X must have a leading sample dimension, shape (n, d0); got shape {tuple(X.shape)}. "
                             "For one sample use X[None]")
        check_finite("X", X)
        try:
            with torch.no_grad():
                return self(self.theta0, X)
        except RuntimeError as e:
            raise ValueError(f"the model cannot take X of shape {tuple(X.shape)}: {e}. Check that X has the "
                             "model's input width") from None


class DataSource:
    """The data of an operator: one ``(X, Y)`` pair, or batches of it, with the total sample count ``n``.

    Losses are means over samples, so batch ``b`` enters the full loss with weight ``n_b / n``.
    """

    def __init__(self, X, Y, batch_size: int | None, dtype: torch.dtype, device: torch.device):
        self.dtype, self.device = dtype, device
        if isinstance(X, torch.Tensor):
            if Y is None:
                raise TypeError("Y is missing: pass targets (or labels) Y, or pass an iterable of (X, Y) batches as X")
            self._tensors = (X, Y)
            self._iterable = None
            self.n = X.shape[0] if X.ndim >= 1 else 0
            if batch_size is not None:
                if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
                    raise ValueError(f"batch_size={batch_size!r} must be a positive int or None (one pass)")
            self.batch_size = batch_size
        elif isinstance(X, Iterable) and not isinstance(X, (str, bytes)):
            if Y is not None:
                raise TypeError("pass either tensors X and Y, or an iterable of (X, Y) batches as X with Y=None")
            if iter(X) is X:
                raise TypeError(
                    "X is a one-shot iterator; operators traverse the data once per product. Pass a re-iterable "
                    "source such as a list of (X, Y) pairs or a torch DataLoader"
                )
            self._tensors = None
            self._iterable = X
            self.batch_size = None
            self.n = sum(int(xb.shape[0]) for xb, _ in self._pairs_unchecked())
        else:
            raise TypeError(f"X must be a torch.Tensor or an iterable of (X, Y) batches, got {type(X).__name__}")
        if self.n < 1:
            raise ValueError("the data hold no samples; pass at least one (X, Y) pair")

    def _pairs_unchecked(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self._tensors is not None:
            X, Y = self._tensors
            step = self.batch_size or X.shape[0]
            for i in range(0, X.shape[0], step):
                yield X[i : i + step], Y[i : i + step]
        else:
            for item in self._iterable:
                try:
                    xb, yb = item
                except (TypeError, ValueError):
                    raise TypeError("each batch of the data iterable must be a pair (X, Y)") from None
                yield xb, yb

    @property
    def single_batch(self) -> bool:
        """One pass over one batch: tensors without ``batch_size``, or a list/tuple holding one ``(X, Y)`` pair."""
        if self._tensors is None:
            return isinstance(self._iterable, (list, tuple)) and len(self._iterable) == 1
        return self.batch_size is None or self.batch_size >= self.n

    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, float]]:
        """``(X_b, Y_b, n_b / n)`` on the operator's device."""
        for xb, yb in self._pairs_unchecked():
            xb = torch.as_tensor(xb)
            if xb.is_floating_point() and xb.dtype != self.dtype:  # integer inputs (token ids) pass as they are
                raise TypeError(
                    f"X has dtype {xb.dtype} but the model has {self.dtype}; convert one to match "
                    f"(X.to({self.dtype}) or model.to({xb.dtype}))"
                )
            yield xb.to(self.device), torch.as_tensor(yb).to(self.device), xb.shape[0] / self.n
