"""Network builders and initialisations (003 §2 eq 1, Appendix C).

Weights follow PyTorch's convention: layer l maps R^{d_{l-1}} -> R^{d_l}, so ``W_l`` has shape
``(d_l, d_{l-1})`` and the network computes ``f(x) = W_L ... W_1 x`` (003 eq 1) row-wise on ``X``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from torch import nn

from hessverify._validation import (as_bool, as_float, check_allocation, check_device, check_dtype, check_finite,
                                   check_generator, check_positive_int_sequence, check_tensor)

Activation = Literal["tanh", "relu", "sigmoid"]
_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}


def linear_network(
    widths: Sequence[int],
    activation: Activation | None = None,
    bias: bool = False,
    weights: Sequence[torch.Tensor] | None = None,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> nn.Sequential:
    """Eq (1) of 003: ``Linear(d0,d1), [act], ..., Linear(d_{L-1}, d_L)`` with no activation at the end.

    ``weights`` (a list of L tensors of shape ``(d_l, d_{l-1})``) replaces the default Kaiming-uniform
    initialisation. Biases, when asked for, start at PyTorch's default.

    Parameters
    ----------
    widths : Sequence[int]
        ``(d_0, d_1, ..., d_L)``: input width, hidden widths, output width.
    activation : Activation | None
        None (a linear network) or ``"tanh"``, ``"relu"``, ``"sigmoid"`` between layers.
    bias : bool
        Give every layer a bias.
    weights : Sequence[torch.Tensor] | None
        ``L`` matrices ``(d_l, d_{l-1})``; None: Kaiming-uniform.
    dtype : torch.dtype
        Floating dtype of the result (default float64).
    device : torch.device | str | None
        Where the parameters live; None: the CPU.

    Returns
    -------
    torch.nn.Sequential
        The network.
    """
    widths = check_positive_int_sequence("widths", widths, min_len=2)
    if activation is not None and not (isinstance(activation, str) and activation in _ACTIVATIONS):
        raise ValueError(
            f"activation={activation!r} is not supported; use None (linear), "
            + ", ".join(repr(a) for a in _ACTIVATIONS)
        )
    bias = as_bool("bias", bias)
    dtype = check_dtype("dtype", dtype)
    device = None if device is None else check_device("device", device)
    for d_in, d_out in zip(widths[:-1], widths[1:]):
        check_allocation("a weight matrix", (d_out, d_in), dtype, device=device, hint="use smaller widths")
    layers: list[nn.Module] = []
    for l, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:])):
        if l > 0 and activation is not None:
            layers.append(_ACTIVATIONS[activation]())
        layers.append(nn.Linear(d_in, d_out, bias=bias, dtype=dtype, device=device))
    model = nn.Sequential(*layers)
    if weights is not None:
        load_weights(model, weights)
    return model


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The ``nn.Linear`` layers of ``model`` in order.

    Parameters
    ----------
    model : nn.Module
        Any module.

    Returns
    -------
    list of torch.nn.Linear
        In module order.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def get_weights(model: nn.Module) -> list[torch.Tensor]:
    """Detached copies of the weight matrices ``[W_1, ..., W_L]``.

    Parameters
    ----------
    model : nn.Module
        A network of ``nn.Linear`` layers.

    Returns
    -------
    list of torch.Tensor
        One ``(d_l, d_{l-1})`` matrix per layer.
    """
    return [layer.weight.detach().clone() for layer in linear_layers(model)]


def load_weights(model: nn.Module, weights: Sequence[torch.Tensor]) -> nn.Module:
    """Copy ``weights`` (one per ``nn.Linear``, shape ``(d_l, d_{l-1})``) into ``model`` in place.

    Parameters
    ----------
    model : nn.Module
        A network of ``nn.Linear`` layers.
    weights : Sequence[torch.Tensor]
        One matrix per layer, of that layer's shape.

    Returns
    -------
    torch.nn.Module
        ``model`` itself.
    """
    layers = linear_layers(model)
    if isinstance(weights, (torch.Tensor, np.ndarray)) or not isinstance(weights, Sequence):
        raise TypeError(f"weights must be a list of weight matrices, one per Linear layer, got {type(weights).__name__}")
    weights = list(weights)
    if len(weights) != len(layers):
        raise ValueError(
            f"weights has {len(weights)} matrices but the model has {len(layers)} Linear layers; "
            "pass one weight matrix per layer"
        )
    for l, (layer, w) in enumerate(zip(layers, weights), start=1):
        if not isinstance(w, (torch.Tensor, np.ndarray)):
            raise TypeError(f"weights[{l - 1}] must be a tensor of shape {tuple(layer.weight.shape)}, got "
                            f"{type(w).__name__}")
        w = check_tensor(f"weights[{l - 1}]", w, dtype="any", allow_empty=True, finite=False)
        if w.is_complex() or w.dtype == torch.bool:
            raise TypeError(f"weights[{l - 1}] has dtype {w.dtype}; pass real weights")
        if tuple(w.shape) != tuple(layer.weight.shape):
            raise ValueError(
                f"weights[{l - 1}] (W_{l}) has shape {tuple(w.shape)} but layer {l} needs "
                f"{tuple(layer.weight.shape)} = (d_{l}, d_{l - 1})"
            )
        check_finite(f"weights[{l - 1}]", w)
        with torch.no_grad():
            layer.weight.copy_(w.to(layer.weight))
    return model


def _check_common(widths, generator, dtype) -> tuple[tuple[int, ...], torch.Generator | None, torch.dtype]:
    """The arguments every weight builder shares, checked, with each matrix's size checked before allocating."""
    widths = check_positive_int_sequence("widths", widths, min_len=2)
    generator = check_generator("generator", generator)
    dtype = check_dtype("dtype", dtype)
    for d_in, d_out in zip(widths[:-1], widths[1:]):
        check_allocation("a weight matrix", (d_out, d_in), dtype, hint="use smaller widths")
    return widths, generator, dtype


def _singular_values(values, k: int, dtype: torch.dtype) -> torch.Tensor:
    """``values`` as ``k`` finite non-negative numbers of ``dtype``."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray, torch.Tensor, int, float)):
        raise TypeError(f"singular_values must be a sequence of min(widths) = {k} numbers, got {type(values).__name__}")
    try:
        s = torch.as_tensor(values)
        if not isinstance(values, torch.Tensor) and s.is_floating_point():
            s = torch.as_tensor(values, dtype=torch.float64)  # Python floats never pass through float32
    except (TypeError, ValueError, RuntimeError, OverflowError) as e:
        raise TypeError(f"singular_values must be {k} numbers ({e})") from None
    if s.ndim > 1:
        raise ValueError(f"singular_values must be 1-D ({k} numbers), got shape {tuple(s.shape)}")
    s = s.reshape(-1)
    if s.dtype == torch.bool or s.is_complex():
        raise TypeError(f"singular_values must be real numbers, got dtype {s.dtype}")
    s = s.to(dtype)
    if s.numel() != k:
        raise ValueError(
            f"singular_values has {s.numel()} entries but min(widths) = {k}; pass exactly min(widths) values"
        )
    check_finite("singular_values", s)
    if bool((s < 0).any()):
        raise ValueError("singular_values must be non-negative; pass their absolute values")
    return s


def _haar_orthonormal(rows: int, cols: int, generator: torch.Generator | None, dtype) -> torch.Tensor:
    """A ``rows x cols`` matrix with orthonormal columns: QR of a standard normal matrix, signs fixed."""
    g = torch.randn(rows, cols, generator=generator, dtype=dtype)
    q, r = torch.linalg.qr(g)
    d = torch.diagonal(r)
    return q * torch.where(d < 0, -1.0, 1.0).to(dtype)


def balanced_weights(
    widths: Sequence[int],
    singular_values: Sequence[float] | torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    dtype: torch.dtype = torch.float64,
) -> list[torch.Tensor]:
    """Strongly balanced weights (003 Assumption 3) by the procedure of 003 Appendix C.

    With ``k = min(widths)`` and ``S = diag(singular_values)``: sample ``V_1`` (``d_0 x k``, orthonormal
    columns), then for each layer sample ``U_l`` (``d_l x k``), set ``W_l = U_l S V_l^T`` and
    ``V_{l+1} = U_l``. Hence ``W_l W_l^T = U_l S^2 U_l^T = W_{l+1}^T W_{l+1}``.

    The appendix as printed says step 1 samples the *right* singular vectors of ``W_l``; that would
    overwrite ``V_l = U_{l-1}`` and break balance, so step 1 here samples the *left* ones, ``U_l``.

    Parameters
    ----------
    widths : Sequence[int]
        ``(d_0, d_1, ..., d_L)``: input width, hidden widths, output width.
    singular_values : Sequence[float] | torch.Tensor
        ``k = min(widths)`` non-negative values shared by every layer.
    generator : torch.Generator | None
        Random number generator of the draws; None: torch's global one.
    dtype : torch.dtype
        Floating dtype of the result (default float64).

    Returns
    -------
    list of torch.Tensor
        ``[W_1, ..., W_L]``.
    """
    widths, generator, dtype = _check_common(widths, generator, dtype)
    k = min(widths)
    s = _singular_values(singular_values, k, dtype)
    v = _haar_orthonormal(widths[0], k, generator, dtype)
    weights = []
    for d_out in widths[1:]:
        u = _haar_orthonormal(d_out, k, generator, dtype)
        weights.append(u @ torch.diag(s) @ v.T)
        v = u
    return weights


def kaiming_uniform_weights(
    widths: Sequence[int], generator: torch.Generator | None = None, *, dtype: torch.dtype = torch.float64
) -> list[torch.Tensor]:
    """PyTorch's default ``nn.Linear`` init, U(-1/sqrt(d_in), 1/sqrt(d_in)) (``kaiming_uniform_``, ``a=sqrt(5)``).

    Parameters
    ----------
    widths : Sequence[int]
        ``(d_0, d_1, ..., d_L)``: input width, hidden widths, output width.
    generator : torch.Generator | None
        Random number generator of the draws; None: torch's global one.
    dtype : torch.dtype
        Floating dtype of the result (default float64).

    Returns
    -------
    list of torch.Tensor
        ``[W_1, ..., W_L]``.
    """
    widths, generator, dtype = _check_common(widths, generator, dtype)
    out = []
    for d_in, d_out in zip(widths[:-1], widths[1:]):
        bound = 1.0 / d_in**0.5
        out.append((torch.rand(d_out, d_in, generator=generator, dtype=dtype) * 2 - 1) * bound)
    return out


def unbalanced_weights(
    widths: Sequence[int],
    singular_values: Sequence[float] | torch.Tensor,
    scales: Sequence[float] | None = None,
    generator: torch.Generator | None = None,
    *,
    dtype: torch.dtype = torch.float64,
) -> list[torch.Tensor]:
    """Deliberately unbalanced weights: ``W_l = c_l U_l S V_l^T`` with *independent* ``V_l`` per layer.

    Every layer has singular values ``c_l * singular_values`` but the singular bases of consecutive
    layers are unrelated, so ``W_l W_l^T != W_{l+1}^T W_{l+1}``. ``scales`` defaults to ``2^{l - (L+1)/2}``
    (geometric, product one), so the end-to-end scale matches a balanced network with the same values.

    Parameters
    ----------
    widths : Sequence[int]
        ``(d_0, d_1, ..., d_L)``: input width, hidden widths, output width.
    singular_values : Sequence[float] | torch.Tensor
        ``k = min(widths)`` non-negative values.
    scales : Sequence[float] | None
        ``c_l``, one per layer; None: ``2^{l - (L+1)/2}``.
    generator : torch.Generator | None
        Random number generator of the draws; None: torch's global one.
    dtype : torch.dtype
        Floating dtype of the result (default float64).

    Returns
    -------
    list of torch.Tensor
        ``[W_1, ..., W_L]``.
    """
    widths, generator, dtype = _check_common(widths, generator, dtype)
    depth = len(widths) - 1
    k = min(widths)
    s = _singular_values(singular_values, k, dtype)
    if scales is None:
        scales = [2.0 ** (l - (depth + 1) / 2) for l in range(1, depth + 1)]
    if isinstance(scales, (str, bytes)) or not isinstance(scales, (Sequence, np.ndarray, torch.Tensor)):
        raise TypeError(f"scales must be a sequence of {depth} numbers (one per layer), got {type(scales).__name__}")
    if len(scales) != depth:
        raise ValueError(f"scales has {len(scales)} entries; pass one per layer ({depth})")
    scales = [as_float(f"scales[{i}]", c) for i, c in enumerate(list(scales))]
    out = []
    for c, d_in, d_out in zip(scales, widths[:-1], widths[1:]):
        u = _haar_orthonormal(d_out, k, generator, dtype)
        v = _haar_orthonormal(d_in, k, generator, dtype)
        out.append(c * u @ torch.diag(s) @ v.T)
    return out


def balanced_factorization(
    W: torch.Tensor, widths: Sequence[int], generator: torch.Generator | None = None
) -> list[torch.Tensor]:
    """Strongly balanced ``[W_1, ..., W_L]`` whose product is the best rank-``k`` approximation of ``W``
    (``k = min(widths)``): with ``W ~ U_k S_k V_k^T``, every layer has singular values ``S_k^{1/L}``,
    ``W_1 = R_1 S^{1/L} V_k^T``, ``W_l = R_l S^{1/L} R_{l-1}^T``, ``W_L = U_k S^{1/L} R_{L-1}^T`` with random
    orthonormal ``R_l``. This is the balanced minimiser of 003 §4 (eq 12-13).

    Parameters
    ----------
    W : torch.Tensor
        The end-to-end map ``(d_L, d_0)``.
    widths : Sequence[int]
        ``(d_0, d_1, ..., d_L)``: input width, hidden widths, output width.
    generator : torch.Generator | None
        Random number generator of the orthonormal ``R_l``; None: torch's global one.

    Returns
    -------
    list of torch.Tensor
        ``[W_1, ..., W_L]``.
    """
    widths, generator, _ = _check_common(widths, generator, torch.float64)
    W = check_tensor("W", W, ndim=2)
    if tuple(W.shape) != (widths[-1], widths[0]):
        raise ValueError(f"W has shape {tuple(W.shape)} but widths={widths} needs the end-to-end map of shape "
                         f"(d_L, d_0) = {(widths[-1], widths[0])}")
    k = min(widths)
    U, S, Vh = torch.linalg.svd(W, full_matrices=False)
    U, S, Vh = U[:, :k], S[:k], Vh[:k]  # k <= min(d_0, d_L): the thin SVD has enough triplets
    root = torch.diag(S.clamp_min(0) ** (1.0 / (len(widths) - 1)))
    right = Vh.T
    out = []
    for l, d_out in enumerate(widths[1:], start=1):
        left = U if l == len(widths) - 1 else _haar_orthonormal(d_out, k, generator, W.dtype)
        out.append(left @ root @ right.T)
        right = left
    return out

