"""A model seen as a function of one flat parameter vector (order of ``parameters_to_vector``)."""
from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from hessverify._validation import check_finite, check_real_floating


def check_deterministic(model: nn.Module) -> None:
    """Refuse modules whose output in training mode is random (dropout with ``p > 0``, also inside
    ``nn.MultiheadAttention``) or depends on the other samples of the batch (batch norm) while ``model.training``."""
    for name, m in model.named_modules():
        if not m.training:
            continue
        where = f"{type(m).__name__} ({name or 'root'})"
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            raise ValueError(f"model contains {where} in training mode, so its output depends on the batch it is "
                             "given (batch statistics); call model.eval() before building the operator (it then uses "
                             "its running statistics)")
        p = getattr(m, "p", None) if isinstance(m, nn.modules.dropout._DropoutNd) else \
            getattr(m, "dropout", None) if isinstance(m, nn.MultiheadAttention) else None
        if p:
            raise ValueError(f"model contains {where} in training mode with dropout probability {p}, so its output is "
                             "random; call model.eval() before building the operator (dropout with p=0 is accepted)")


def batch_statistics(model: nn.Module) -> list[str]:
    """Names of batch-norm modules that normalise with the batch's own statistics even in eval mode
    (``track_running_stats=False``): their output depends on which samples share a batch."""
    return [name or "root" for name, m in model.named_modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and (m.running_mean is None or m.training)]


def _select(model: nn.Module, params) -> list[tuple[str, nn.Parameter]]:
    """``(name, parameter)`` pairs to differentiate, each tensor once.

    ``params=None``: every parameter with ``requires_grad=True``, in ``model.parameters()`` order. Otherwise an
    iterable of parameters of ``model`` or of their names (as ``model.named_parameters()`` spells them, tied copies
    included), taken in the order given (the flat order of the operator); a tensor given twice is refused.
    """
    named = list(model.named_parameters())  # a tied tensor appears once, under its first name
    if params is None:
        chosen = [(n, p) for n, p in named if p.requires_grad]
        if not chosen:
            raise ValueError("model has no parameter with requires_grad=True; pass params= to choose some, or "
                             "unfreeze them")
        return chosen
    if isinstance(params, (str, torch.Tensor)):
        params = [params]
    try:
        wanted = list(params)
    except TypeError:
        raise TypeError(f"params must be an iterable of parameters or parameter names, got {type(params).__name__}") from None
    if not wanted:
        raise ValueError("params is empty; pass at least one parameter (or None for every trainable one)")
    by_name = dict(model.named_parameters(remove_duplicate=False))
    first_name = {id(p): n for n, p in named}
    chosen, seen = [], {}
    for i, w in enumerate(wanted):
        if isinstance(w, str):
            if w not in by_name:
                raise ValueError(f"params[{i}] = {w!r} is not a parameter name of the model; names are "
                                 f"{', '.join(list(by_name)[:8])}{', ...' if len(by_name) > 8 else ''}")
            w = by_name[w]
        if not isinstance(w, torch.Tensor) or id(w) not in first_name:
            raise ValueError(f"params[{i}] is not a parameter of the model; pass model parameters or their names")
        if id(w) in seen:
            raise ValueError(f"params[{i}] is the tensor of params[{seen[id(w)]}] ({first_name[id(w)]!r}; a tied "
                             "weight has several names): pass each parameter once")
        seen[id(w)] = i
        chosen.append((first_name[id(w)], w))
    return chosen


class FlatParameters:
    """``param_names`` and ``param_shapes`` of an operator built on a :class:`FlatModel` ``self.fm``."""

    @property
    def param_names(self) -> list[str]:
        """Names of the differentiated parameters, in the flat order."""
        return list(self.fm.names)

    @property
    def param_shapes(self) -> list[torch.Size]:
        return list(self.fm.shapes)


class FlatModel:
    """``f(theta, X)`` for a flat ``theta`` of the selected parameters; ``theta0`` is a detached snapshot.

    Everything the output depends on is snapshotted when the operator is built: the selected parameters
    (``theta0``), the other parameters and every buffer (BatchNorm running statistics included), so later
    use of the model, in train mode or not, does not change the operator.
    """

    def __init__(self, model: nn.Module, params=None):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        check_deterministic(model)
        self.model = model
        if not list(model.parameters()):
            raise ValueError("model has no parameters; the curvature of a parameter-free model is empty")
        named = _select(model, params)
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
        check_real_floating("model parameters", self.dtype)
        self.theta0 = torch.nn.utils.parameters_to_vector([p.detach() for _, p in named]).clone()
        check_finite("model parameters", self.theta0)
        chosen = set(self.names)
        #: the parameters held fixed and every buffer, copied now (the snapshot)
        self.frozen = {n: p.detach().clone() for n, p in model.named_parameters() if n not in chosen}
        self.buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
        self.num_params = self.theta0.numel()

    def unflatten(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of ``theta`` shaped like the selected parameters, keyed by name."""
        parts = torch.split(theta, self.numels)
        return {n: t.view(s) for n, t, s in zip(self.names, parts, self.shapes)}

    def __call__(self, theta: torch.Tensor, X) -> torch.Tensor:
        return functional_call(self.model, {**self.frozen, **self.buffers, **self.unflatten(theta)}, (X,))

    def checked_forward(self, X, where: str = "X") -> torch.Tensor:
        """``f(theta0, X)`` without gradients, turning shape errors into a message that names ``where``."""
        if isinstance(X, torch.Tensor):
            if X.ndim < 2:
                raise ValueError(f"{where} must have a leading sample dimension, shape (n, d0); got shape "
                                 f"{tuple(X.shape)}. For one sample use X[None]")
            check_finite(where, X)
        try:
            with torch.no_grad():
                out = self(self.theta0, X)
        except (RuntimeError, TypeError, KeyError, IndexError) as e:
            shape = f"of shape {tuple(X.shape)}" if isinstance(X, torch.Tensor) else f"(a {type(X).__name__})"
            raise ValueError(f"the model cannot take {where} {shape}: {e}. Check that {where} has the model's input "
                             "shape (for one sample use X[None])") from None
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"the model returned a {type(out).__name__}; curvature needs a tensor output "
                            "(wrap the model to return the logits)")
        return out
