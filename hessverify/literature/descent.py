"""Training loops of the literature experiments: full-batch gradient descent and mini-batch SGD on a named loss
(``"mse"``: ``1/(2n) ||f(X) - Y||_F^2``; ``"cross_entropy"``: mean softmax cross-entropy), exactly the loss the
curvature operators of :mod:`hessverify.operators` differentiate, so that ``2/eta`` and the sharpness refer to the
same objective.

``on_step(step, model)`` is called at every step *before* the update (step 0 is the initialisation); it may
return ``True`` to stop. Deterministic given the model, the data and (for SGD) the generator.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from hessverify._validation import check_positive_float, check_positive_int
from hessverify.operators.losses import resolve_loss

OnStep = Callable[[int, nn.Module], "bool | None"]


def full_loss(model: nn.Module, loss: str, X: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """The training loss on the whole data (with a graph, for ``backward``)."""
    return resolve_loss(loss)(model(X), T)


def flat_gradient(model: nn.Module, loss: str, X: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """The full-batch gradient of the training loss, flattened in ``model.parameters()`` order."""
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(full_loss(model, loss, X, T), params)
    return torch.cat([g.reshape(-1) for g in grads]).detach()


def _step(model: nn.Module, lr: float) -> None:
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p.add_(p.grad, alpha=-lr)


def gradient_descent(model: nn.Module, loss: str, X: torch.Tensor, T: torch.Tensor, *, lr: float, steps: int,
                     on_step: OnStep | None = None) -> list[float]:
    """``steps`` updates ``theta <- theta - lr grad L(theta)`` on the whole data (in place).

    Parameters
    ----------
    model : nn.Module
        Trained in place.
    loss : str
        ``"mse"`` or ``"cross_entropy"``.
    X, T : torch.Tensor
        Inputs and targets (one-hot ``Y`` for ``"mse"``, integer labels for ``"cross_entropy"``).
    lr : float
        The step size ``eta``.
    steps : int
        The most updates.
    on_step : callable, optional
        ``on_step(step, model)`` before each update and once after the last (``step = steps``); ``True`` stops.

    Returns
    -------
    list of float
        The training loss before each update (the loss of every iterate visited).
    """
    lr = check_positive_float("lr", lr)
    steps = check_positive_int("steps", steps)
    losses = []
    for step in range(steps + 1):
        if on_step is not None and on_step(step, model):
            break
        if step == steps:
            break
        model.zero_grad(set_to_none=True)
        value = full_loss(model, loss, X, T)
        if not torch.isfinite(value):
            raise FloatingPointError(f"gradient descent diverged at step {step} (loss {float(value.detach())}); lower "
                                     f"lr={lr}")
        value.backward()
        losses.append(float(value.detach()))
        _step(model, lr)
    return losses


def sgd(model: nn.Module, loss: str, X: torch.Tensor, T: torch.Tensor, *, lr: float, batch_size: int, epochs: int,
        generator: torch.Generator, on_step: OnStep | None = None) -> int:
    """Plain mini-batch SGD: each epoch a fresh permutation (from ``generator``) split into batches of
    ``batch_size`` (the last may be smaller); ``on_step`` as for :func:`gradient_descent`, counting updates.

    Returns
    -------
    int
        The number of updates made.
    """
    lr = check_positive_float("lr", lr)
    batch_size = check_positive_int("batch_size", batch_size)
    epochs = check_positive_int("epochs", epochs)
    fn = resolve_loss(loss)
    n, step = X.shape[0], 0
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            if on_step is not None and on_step(step, model):
                return step
            idx = order[start:start + batch_size]
            model.zero_grad(set_to_none=True)
            value = fn(model(X[idx]), T[idx])
            if not torch.isfinite(value):
                raise FloatingPointError(f"SGD diverged at step {step} (loss {float(value.detach())}); lower lr={lr}")
            value.backward()
            _step(model, lr)
            step += 1
    if on_step is not None:
        on_step(step, model)
    return step


def snapshot(model: nn.Module) -> list[torch.Tensor]:
    """A copy of the parameters (``model.parameters()`` order)."""
    return [p.detach().clone() for p in model.parameters()]


def restore(model: nn.Module, params: list[torch.Tensor]) -> nn.Module:
    """Copy a :func:`snapshot` back into ``model``."""
    with torch.no_grad():
        for p, q in zip(model.parameters(), params):
            p.copy_(q)
    return model
