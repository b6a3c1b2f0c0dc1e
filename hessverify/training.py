"""Full-batch gradient descent on MSE with the learning-rate rule of 003 Appendix C.

The rate starts at ``lr`` and is halved whenever the loss improved by less than ``min_improvement``
(0.1%) over the last ``window`` (100) epochs. Training stops at ``epochs``, when the loss falls below
``loss_tol``, or when the rate has been halved ``max_halvings`` times (converged). Deterministic: no
randomness beyond the model and data it is given.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from hessverify._validation import check_positive_float, check_positive_int


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10_000
    lr: float = 0.01
    window: int = 100
    min_improvement: float = 1e-3
    max_halvings: int = 12
    loss_tol: float = 1e-14
    checkpoint_every: int = 0  # 0: no checkpoints

    def __post_init__(self):
        check_positive_int("epochs", self.epochs)
        check_positive_float("lr", self.lr)
        check_positive_int("window", self.window)


@dataclass
class TrainResult:
    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    checkpoints: dict[int, list[torch.Tensor]] = field(default_factory=dict)
    stopped: str = "epochs"

    @property
    def epochs(self) -> int:
        return len(self.losses)


def load_checkpoint(model: nn.Module, params: list[torch.Tensor]) -> nn.Module:
    """Copy a checkpoint (``list(model.parameters())`` order, as stored by :func:`train_full_batch`) into ``model``."""
    params = list(params)
    own = list(model.parameters())
    if len(params) != len(own) or any(p.shape != q.shape for p, q in zip(own, params)):
        raise ValueError("params does not match the model's parameters; pass a checkpoint of this model")
    with torch.no_grad():
        for p, q in zip(own, params):
            p.copy_(q)
    return model


def mse_loss(model: nn.Module, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """003 eq (2): ``1/(2n) ||f(X) - Y||_F^2``."""
    return 0.5 * (model(X) - Y).pow(2).sum() / X.shape[0]


def train_full_batch(model: nn.Module, X: torch.Tensor, Y: torch.Tensor, config: TrainConfig = TrainConfig(),
                     callback: Callable[[int, float], None] | None = None) -> TrainResult:
    """Train ``model`` in place; ``callback(epoch, loss)`` is called at every checkpoint (for progress)."""
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    with torch.no_grad():
        out = model(X)
    if out.shape != Y.shape:
        raise ValueError(f"Y has shape {tuple(Y.shape)} but the model outputs {tuple(out.shape)}; they must match")
    result = TrainResult()
    lr = config.lr
    params = [p for p in model.parameters() if p.requires_grad]
    halvings = 0
    for epoch in range(config.epochs):
        model.zero_grad(set_to_none=True)
        loss = mse_loss(model, X, Y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training diverged at epoch {epoch} (loss {float(loss)}); lower lr={config.lr}")
        loss.backward()
        value = loss.item()
        result.losses.append(value)
        result.lrs.append(lr)
        if config.checkpoint_every and epoch % config.checkpoint_every == 0:
            result.checkpoints[epoch] = [p.detach().clone() for p in model.parameters()]
            if callback is not None:
                callback(epoch, value)
        if value <= config.loss_tol:
            result.stopped = "loss_tol"
            break
        with torch.no_grad():
            for p in params:
                p.add_(p.grad, alpha=-lr)
        if epoch >= config.window and epoch % config.window == 0:
            before = result.losses[epoch - config.window]
            if before - value < config.min_improvement * before:
                lr /= 2
                halvings += 1
                if halvings > config.max_halvings:
                    result.stopped = "converged"
                    break
    final = [p.detach().clone() for p in model.parameters()]
    result.checkpoints[result.epochs] = final
    return result
