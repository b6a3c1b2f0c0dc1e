"""The training loops of the reports: full-batch gradient descent on MSE (003 App. C), mini-batch SGD on
cross-entropy (000 §4, 002 App. C, 004 ex 6.1) and full-batch Adam on cross-entropy.

Full-batch gradient descent on MSE with the learning-rate rule of 003 Appendix C (:func:`train_full_batch`):

The rate starts at ``lr`` and is halved whenever the loss improved by less than ``min_improvement``
(0.1%) over the last ``window`` (100) epochs. Training stops at ``epochs`` (003 App. C runs all of them),
when the loss falls below ``loss_tol``, when it is within ``stop_gap`` of a known ``floor`` (see
:func:`convergence`), or, only if ``max_halvings`` is set, after that many halvings. Halvings are not
convergence: a saddle plateau halves the rate too. Deterministic: no randomness beyond the model and data.

Convergence rule (:func:`convergence`), stated once for every report:

- with a known best attainable loss ``L*`` (a linear network: the least-squares floor,
  ``theory.linear.least_squares_floor``): converged iff ``L_T - L* <= CONVERGED_GAP (L_0 - L*)``, i.e. at
  least 99.9% of the reducible loss is gone;
- without one (a tanh network): converged iff the gradient norm fell to ``CONVERGED_GRAD`` of its initial
  value and the last window improved the loss by less than ``STALL`` (relative): stationary, which is all
  that can be said without ``L*``.
"""
from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from hessverify._validation import (as_float, as_int, as_labels, check_positive_float, check_positive_int,
                                    check_tensor)


#: fraction of the reducible loss ``L_0 - L*`` that may remain at convergence (floor known)
CONVERGED_GAP = 1e-3
#: gradient norm relative to the initial one at convergence (floor unknown)
CONVERGED_GRAD = 1e-3
#: relative loss improvement over the last window below which a run without a floor counts as stalled
STALL = 1e-4


@dataclass(frozen=True)
class TrainConfig:
    """The settings of :func:`train_full_batch` (003 App. C; the rule is in the module docstring).

    Attributes
    ----------
    epochs : int
        The most epochs (full-batch steps), at least 1.
    lr : float
        The initial learning rate (> 0).
    window : int
        Epochs between two halving tests: at every epoch ``e >= window`` divisible by ``window``, the rate is
        halved if the loss fell by less than ``min_improvement`` (relative) since epoch ``e - window``.
    min_improvement : float
        The relative improvement over a window below which the rate is halved, in [0, 1] (0.1% by default).
    max_halvings : int or None
        None: halvings never stop training (003 App. C); an integer ``h >= 0``: training stops at the
        ``(h + 1)``-th halving.
    loss_tol : float
        Training stops once the loss is at most this (>= 0).
    checkpoint_every : int
        Store the parameters (and call ``callback``) every this many epochs; 0: only the final parameters.
    stop_gap : float or None
        With a known ``floor``: stop once ``L - floor <= stop_gap (L_0 - floor)`` (the convergence rule,
        ``CONVERGED_GAP`` by default), in [0, 1]; None: never stop at the floor.
    """

    epochs: int = 10_000
    lr: float = 0.01
    window: int = 100
    min_improvement: float = 1e-3
    max_halvings: int | None = None  # None: halvings never stop training (003 App. C)
    loss_tol: float = 1e-14
    checkpoint_every: int = 0  # 0: no checkpoints
    stop_gap: float | None = CONVERGED_GAP  # with a floor: stop once converged by the rule above

    def __post_init__(self):
        def put(name, value):  # the dataclass is frozen: normalise through object.__setattr__
            object.__setattr__(self, name, value)

        put("epochs", as_int("epochs", self.epochs, minimum=1))
        put("lr", as_float("lr", self.lr, minimum=0, min_inclusive=False))
        put("window", as_int("window", self.window, minimum=1))
        put("min_improvement", as_float("min_improvement", self.min_improvement, minimum=0, maximum=1))
        if self.max_halvings is not None:
            put("max_halvings", as_int("max_halvings", self.max_halvings, minimum=0))
        put("loss_tol", as_float("loss_tol", self.loss_tol, minimum=0))
        put("checkpoint_every", as_int("checkpoint_every", self.checkpoint_every, minimum=0))
        if self.stop_gap is not None:
            put("stop_gap", as_float("stop_gap", self.stop_gap, minimum=0, maximum=1))


@dataclass
class TrainResult:
    """One run of :func:`train_full_batch`; ``epochs`` (property) is ``len(losses)``.

    Attributes
    ----------
    losses : list of float
        The MSE at every epoch, before that epoch's step (index 0: the initial loss).
    lrs : list of float
        The learning rate in force at every epoch.
    grad_norms : list of float
        The gradient norm (over all trainable parameters) at every epoch.
    checkpoints : dict of int to list of torch.Tensor
        Parameter copies (``list(model.parameters())`` order) by epoch: every ``checkpoint_every`` epochs, and
        the final parameters under ``len(losses)``.
    stopped : str
        Why training stopped: ``"epochs"``, ``"loss_tol"``, ``"floor"`` or ``"max_halvings"``.
    floor : float or None
        The best attainable loss passed to :func:`train_full_batch` (None when unknown).
    """

    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)
    checkpoints: dict[int, list[torch.Tensor]] = field(default_factory=dict)
    stopped: str = "epochs"
    floor: float | None = None

    @property
    def epochs(self) -> int:
        return len(self.losses)


def convergence(result: TrainResult, floor: float | None = None, window: int = 100) -> dict:
    """Final loss, distance to the floor, gradient norm, epochs and ``converged`` by the module's rule.

    Parameters
    ----------
    result : TrainResult
        A run of :func:`train_full_batch`.
    floor : float | None
        The best attainable loss ``L*``; None: ``result.floor``.
    window : int
        Epochs of the stall test when there is no floor.

    Returns
    -------
    dict
        ``final_loss``, ``initial_loss``, ``epochs``, ``stopped``, ``grad_norm``, ``grad_norm_ratio``,
        ``floor``, ``converged``, ``rule`` (and ``gap`` with a floor).
    """
    floor = result.floor if floor is None else floor
    L0, LT = result.losses[0], result.losses[-1]
    g0, gT = result.grad_norms[0], result.grad_norms[-1]
    out = {"final_loss": LT, "initial_loss": L0, "epochs": result.epochs, "stopped": result.stopped,
           "grad_norm": gT, "grad_norm_ratio": gT / g0 if g0 > 0 else 0.0, "floor": floor}
    if floor is not None:
        excess0 = max(L0 - floor, 0.0)
        gap = (LT - floor) / excess0 if excess0 > 0 else 0.0
        out.update(gap=gap, converged=bool(gap <= CONVERGED_GAP),
                   rule=f"loss - floor <= {CONVERGED_GAP:g} (initial loss - floor); least-squares floor known")
    else:
        past = result.losses[-window - 1] if result.epochs > window else L0
        stall = (past - LT) / past if past > 0 else 0.0
        out.update(gap=None, stall=stall, converged=bool(out["grad_norm_ratio"] <= CONVERGED_GRAD and stall < STALL),
                   rule=f"gradient norm <= {CONVERGED_GRAD:g} of its initial value and < {STALL:g} relative "
                        f"improvement over the last {window} epochs (stationary; no floor known)")
    return out


def load_checkpoint(model: nn.Module, params: list[torch.Tensor]) -> nn.Module:
    """Copy a checkpoint (``list(model.parameters())`` order, as stored by :func:`train_full_batch`) into ``model``.

    Parameters
    ----------
    model : nn.Module
        The module to load into.
    params : list[torch.Tensor]
        Tensors in ``list(model.parameters())`` order.

    Returns
    -------
    torch.nn.Module
        ``model`` itself.
    """
    params = list(params)
    own = list(model.parameters())
    if len(params) != len(own) or any(p.shape != q.shape for p, q in zip(own, params)):
        raise ValueError("params does not match the model's parameters; pass a checkpoint of this model")
    with torch.no_grad():
        for p, q in zip(own, params):
            p.copy_(q)
    return model


def mse_loss(model: nn.Module, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """003 eq (2): ``1/(2n) ||f(X) - Y||_F^2``.

    Parameters
    ----------
    model : nn.Module
        The network ``f``.
    X : torch.Tensor
        Inputs ``(n, d0)``.
    Y : torch.Tensor
        Targets ``(n, d_L)``.

    Returns
    -------
    torch.Tensor
        The scalar loss, with its graph.
    """
    return 0.5 * (model(X) - Y).pow(2).sum() / X.shape[0]


def check_training_inputs(model, X, Y, *, labels: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The checks every training loop makes before its first step: a module with trainable real float
    parameters, and non-empty finite inputs and targets of its dtype and device (or integer labels).

    Parameters
    ----------
    model : torch.nn.Module
        The module to train.
    X : torch.Tensor
        Inputs.
    Y : torch.Tensor
        Targets (``labels=False``) or integer labels.
    labels : bool
        Whether ``Y`` holds integer class labels.

    Returns
    -------
    tuple of torch.Tensor
        ``(X, Y)``, checked.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters (every parameter has requires_grad=False); unfreeze "
                         "the ones to train")
    dtype, device = params[0].dtype, params[0].device
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"model parameters are {dtype}; train in float32 or float64")
    if device.type == "meta":
        raise ValueError("model is on the meta device (parameters without values); materialise it first")
    for name, p in model.named_parameters():
        if not bool(torch.isfinite(p).all()):
            raise ValueError(f"model parameter {name} contains NaN or Inf; initialise the model again")
    X = check_tensor("X", X, device=device)
    if X.ndim < 2 or X.dtype != dtype:
        raise TypeError(f"X must be a (n, ...) tensor of the model's dtype {dtype}; got shape {tuple(X.shape)} "
                        f"and dtype {X.dtype}")
    if labels:
        Y = as_labels("labels", Y)
        if Y.shape[0] != X.shape[0]:
            raise ValueError(f"labels has {Y.shape[0]} entries but X has {X.shape[0]} samples")
        return X, Y.to(device)
    Y = check_tensor("Y", Y, device=device)
    if Y.ndim < 1 or Y.dtype != dtype:
        raise TypeError(f"Y must be a (n, ...) tensor of the model's dtype {dtype}; got shape {tuple(Y.shape)} and "
                        f"dtype {Y.dtype}")
    if Y.shape[0] != X.shape[0]:
        raise ValueError(f"Y has {Y.shape[0]} rows but X has {X.shape[0]} samples; they must match")
    return X, Y


def checked_forward(model: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """``model(X)`` without gradients, its failure or a non-finite output a clear error naming ``model``/``X``.

    Parameters
    ----------
    model : nn.Module
        The module.
    X : torch.Tensor
        Its inputs.

    Returns
    -------
    torch.Tensor
        ``model(X)``.
    """
    try:
        with torch.no_grad():
            out = model(X)
    except (RuntimeError, ValueError, TypeError, IndexError) as e:
        raise ValueError(f"model(X) fails for X of shape {tuple(X.shape)}: {str(e).splitlines()[0]}; the model's "
                         "input size must match X") from None
    if not bool(torch.isfinite(out).all()):
        raise ValueError("model(X) is not finite before any step; check the scale of X and of the parameters")
    return out


def train_full_batch(model: nn.Module, X: torch.Tensor, Y: torch.Tensor, config: TrainConfig = TrainConfig(),
                     callback: Callable[[int, float], None] | None = None, *, floor: float | None = None) -> TrainResult:
    """Train ``model`` in place; ``callback(epoch, loss)`` is called at every checkpoint (for progress).
    ``floor``: the best attainable loss when known (recorded, and ``config.stop_gap`` stops at it).

    Parameters
    ----------
    model : nn.Module
        The network, trained in place.
    X : torch.Tensor
        Inputs ``(n, d0)``.
    Y : torch.Tensor
        Targets, the shape of ``model(X)``.
    config : TrainConfig
        Epochs, learning rate and the stopping rule (module docstring).
    callback : Callable[[int, float], None] | None
        ``callback(epoch, loss)`` at every checkpoint.
    floor : float | None
        The best attainable loss when known.

    Returns
    -------
    TrainResult
        Losses, rates and gradient norms per epoch, checkpoints and why it stopped.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    X, Y = check_training_inputs(model, X, Y, labels=False)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a callable(epoch, loss) or None, got {type(callback).__name__}")
    out = checked_forward(model, X)
    if out.shape != Y.shape:
        raise ValueError(f"Y has shape {tuple(Y.shape)} but the model outputs {tuple(out.shape)}; they must match")
    result = TrainResult(floor=floor)
    lr = config.lr
    params = [p for p in model.parameters() if p.requires_grad]
    halvings = 0
    for epoch in range(config.epochs):
        model.zero_grad(set_to_none=True)
        loss = mse_loss(model, X, Y)
        if not torch.isfinite(loss):
            if epoch == 0:
                raise ValueError(f"the loss is {float(loss.detach())} before any step: X, Y and the model give a non-finite "
                                 "loss; check the scale of Y (and X)")
            raise FloatingPointError(f"training diverged at epoch {epoch} (loss {float(loss)}); lower lr={config.lr}")
        loss.backward()
        value = loss.item()
        result.losses.append(value)
        result.lrs.append(lr)
        result.grad_norms.append(float(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in params))))
        if config.checkpoint_every and epoch % config.checkpoint_every == 0:
            result.checkpoints[epoch] = [p.detach().clone() for p in model.parameters()]
            if callback is not None:
                callback(epoch, value)
        if value <= config.loss_tol:
            result.stopped = "loss_tol"
            break
        if floor is not None and config.stop_gap is not None and value - floor <= config.stop_gap * max(
                result.losses[0] - floor, 0.0):
            result.stopped = "floor"
            break
        with torch.no_grad():
            for p in params:
                p.add_(p.grad, alpha=-lr)
        if epoch >= config.window and epoch % config.window == 0:
            before = result.losses[epoch - config.window]
            if before - value < config.min_improvement * before:
                lr /= 2
                halvings += 1
                if config.max_halvings is not None and halvings > config.max_halvings:
                    result.stopped = "max_halvings"
                    break
    final = [p.detach().clone() for p in model.parameters()]
    result.checkpoints[result.epochs] = final
    return result


# ---- cross-entropy classifiers -----------------------------------------------------------------------------------
def snapshot(model: nn.Module) -> list[torch.Tensor]:
    """A copy of the model's parameters (``list(model.parameters())`` order; :func:`load_checkpoint` reads it).

    Parameters
    ----------
    model : nn.Module
        The module.

    Returns
    -------
    list of torch.Tensor
        Detached copies.
    """
    return [p.detach().clone() for p in model.parameters()]


def cross_entropy_and_error(model: nn.Module, X: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and the fraction misclassified of ``model`` on ``(X, labels)``, without gradients.

    Parameters
    ----------
    model : nn.Module
        A classifier returning logits ``(n, C)``.
    X : torch.Tensor
        Inputs.
    labels : torch.Tensor
        Integer labels ``(n,)``.

    Returns
    -------
    tuple of float
        ``(loss, error)``.
    """
    with torch.no_grad():
        out = model(X)
        return float(nn.functional.cross_entropy(out, labels)), float((out.argmax(1) != labels).double().mean())


@dataclass
class ClassifierTrace:
    """One cross-entropy training run: the full training loss and error after every epoch (index 0: before
    training) and the parameters at the checkpointed epochs (always the first and the last).

    Attributes
    ----------
    losses : list[float]
        Training loss per epoch, index 0 before training.
    errors : list[float]
        Training error (fraction misclassified) per epoch.
    checkpoints : dict[int, list[torch.Tensor]]
        Parameters (``list(model.parameters())`` order) by epoch.
    """

    losses: list[float] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    checkpoints: dict[int, list[torch.Tensor]] = field(default_factory=dict)

    @property
    def epochs(self) -> int:
        """Epochs run (``len(losses) - 1``)."""
        return len(self.losses) - 1

    def first_epoch(self, predicate: Callable[[float, float], bool]) -> int | None:
        """The first epoch whose ``(loss, error)`` satisfy ``predicate``, or None."""
        return next((e for e, (l, r) in enumerate(zip(self.losses, self.errors)) if predicate(l, r)), None)


def _wants_checkpoint(checkpoint, epoch: int, trace: ClassifierTrace) -> bool:
    return checkpoint(epoch, trace) if callable(checkpoint) else epoch in checkpoint


def train_sgd(model: nn.Module, X: torch.Tensor, labels: torch.Tensor, *, lr: float, batch_size: int,
              generator: torch.Generator, max_epochs: int,
              stop: Callable[[ClassifierTrace], bool] | None = None,
              checkpoint: Collection[int] | Callable[[int, ClassifierTrace], bool] = (),
              momentum: float = 0.0) -> ClassifierTrace:
    """Mini-batch SGD on the mean cross-entropy, reshuffled every epoch by ``generator``, until ``stop(trace)``
    (checked before every epoch) or ``max_epochs``; ``model`` is trained in place.

    Parameters
    ----------
    model, X, labels
        The classifier (logits out) and its training set (integer labels).
    lr, batch_size, momentum
        ``torch.optim.SGD``'s rate and momentum; the last batch of an epoch may be smaller.
    generator
        The shuffling's random source (the run is deterministic given it and the model).
    max_epochs
        At most this many epochs.
    stop
        Ends training when it returns True (e.g. the training error reached zero).
    checkpoint
        Epochs whose parameters are kept, or ``checkpoint(epoch, trace) -> bool``; epoch 0 and the last epoch are
        always kept.

    Returns
    -------
    ClassifierTrace
        Loss and error after every epoch, and the checkpoints.
    """
    X, labels = check_training_inputs(model, X, labels, labels=True)
    check_positive_float("lr", lr)
    check_positive_int("batch_size", batch_size)
    if not isinstance(max_epochs, int) or isinstance(max_epochs, bool) or max_epochs < 0:
        raise ValueError(f"max_epochs={max_epochs!r} must be an int >= 0")
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    trace = ClassifierTrace()
    loss, err = cross_entropy_and_error(model, X, labels)
    trace.losses.append(loss)
    trace.errors.append(err)
    trace.checkpoints[0] = snapshot(model)
    n = X.shape[0]
    while trace.epochs < max_epochs and not (stop is not None and stop(trace)):
        order = torch.randperm(n, generator=generator)
        for i in range(0, n, batch_size):
            b = order[i:i + batch_size]
            opt.zero_grad()
            nn.functional.cross_entropy(model(X[b]), labels[b]).backward()
            opt.step()
        loss, err = cross_entropy_and_error(model, X, labels)
        if not np.isfinite(loss):
            raise FloatingPointError(f"SGD diverged at epoch {trace.epochs + 1} (loss {loss}); lower lr={lr}")
        trace.losses.append(loss)
        trace.errors.append(err)
        if _wants_checkpoint(checkpoint, trace.epochs, trace):
            trace.checkpoints[trace.epochs] = snapshot(model)
    trace.checkpoints[trace.epochs] = snapshot(model)
    return trace


def train_adam_full_batch(model: nn.Module, X: torch.Tensor, labels: torch.Tensor, *, lr: float, max_steps: int,
                          target_accuracy: float, checkpoints: Collection[int] = (0,)) -> tuple[dict, int, float]:
    """Full-batch Adam on the mean cross-entropy until the training accuracy reaches ``target_accuracy`` (once
    every step of ``checkpoints`` has passed) or ``max_steps``.

    Parameters
    ----------
    model, X, labels
        The classifier and its training set; ``model`` is trained in place.
    lr
        Adam's rate.
    max_steps
        At most this many steps.
    target_accuracy
        Training accuracy at which training stops.
    checkpoints
        Steps whose parameters are kept.

    Returns
    -------
    tuple
        ``(parameters by step, including the last; last step; loss at the last step)``.
    """
    X, labels = check_training_inputs(model, X, labels, labels=True)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    saved = {}
    step = 0
    for step in range(max_steps + 1):
        if step in checkpoints:
            saved[step] = snapshot(model)
        opt.zero_grad()
        out = model(X)
        loss = nn.functional.cross_entropy(out, labels)
        if float((out.argmax(1) == labels).double().mean()) >= target_accuracy and step >= max(checkpoints):
            break
        loss.backward()
        opt.step()
    saved[step] = snapshot(model)
    return saved, step, loss.item()
