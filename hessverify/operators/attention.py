"""Attention that can be differentiated twice and in forward mode.

PyTorch picks fast attention kernels that curvature products cannot go through: on CPU the flash kernel of
``F.scaled_dot_product_attention`` has no double backward ("derivative for
aten::_scaled_dot_product_flash_attention_for_cpu_backward is not implemented"), and the fused fast path of
``nn.MultiheadAttention``/``nn.TransformerEncoderLayer`` in eval mode has no forward-mode derivative
("forward AD with aten::_transformer_encoder_layer_fwd"). The math kernel computes the same attention from
ordinary operations, so every backend differentiates it. Operators run their forward passes and products
inside :func:`differentiable_attention` and give the user's settings back afterwards; a model whose construction-time
forward pass calls no attention (:class:`AttentionSpy`) is left alone, since switching the settings costs ~30 us,
a third of a product on a 1k-parameter model.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.overrides import TorchFunctionMode

#: the functions through which PyTorch's attention modules and functional attention run
ATTENTION_FUNCTIONS = frozenset(f for f in (F.scaled_dot_product_attention, F.multi_head_attention_forward,
                                            getattr(torch, "_transformer_encoder_layer_fwd", None),
                                            getattr(torch, "_native_multi_head_attention", None)) if f is not None)


class AttentionSpy(TorchFunctionMode):
    """Inside: records whether any of :data:`ATTENTION_FUNCTIONS` is called (``seen``)."""

    def __init__(self):
        super().__init__()
        self.seen = False

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in ATTENTION_FUNCTIONS:
            self.seen = True
        return func(*args, **(kwargs or {}))


@contextmanager
def differentiable_attention() -> Iterator[None]:
    """Inside: the math kernel of ``F.scaled_dot_product_attention`` (``sdpa_kernel(SDPBackend.MATH)``) and the
    ``nn.MultiheadAttention``/``nn.TransformerEncoder`` fast path off (``torch.backends.mha``). On exit, also
    on an exception, both settings are what they were before."""
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


_NO_FORWARD = "an operation of the model has no forward-mode derivative in PyTorch"
def attention_kernels(needed: bool):
    """:func:`differentiable_attention` where the model uses attention, else nothing."""
    return differentiable_attention() if needed else nullcontext()


#: torch messages (lower case) and what they mean for the user: (substring, explanation), first match wins
_KNOWN = (
    ("forward ad", _NO_FORWARD), ("forward mode", _NO_FORWARD), ("forward-mode", _NO_FORWARD),
    ("derivative for", "an operation of the model has no second (double-backward) derivative in PyTorch"),
    (".item()", "the model reads a tensor's value in Python (.item(), an if on a tensor), which torch.func "
                "cannot batch or differentiate"),
    ("data-dependent", "the model has data-dependent control flow, which torch.func cannot batch or differentiate"),
    ("setup_context", "the model calls a custom autograd.Function without setup_context (a module extended by "
                      "BackPACK or with such hooks?), which torch.func cannot transform"),
    ("vmap", "an operation of the model has no batching rule for torch.func.vmap"),
)


def explain_product_error(error: Exception, product: str, alternatives: str) -> ValueError | None:
    """A ``ValueError`` that says which product failed, the first lines of torch's message, what it means and
    what to try (``alternatives``); ``None`` for errors that are not about the model (out of memory)."""
    if isinstance(error, torch.OutOfMemoryError) or not isinstance(error, (RuntimeError, NotImplementedError)):
        return None
    text = " ".join(str(error).strip().splitlines()[:3]) or type(error).__name__
    meaning = next((m for key, m in _KNOWN if key in text.lower()), "PyTorch cannot differentiate the model this way")
    err = ValueError(f"the {product} fails on this model: {meaning} ({type(error).__name__}: {text}). "
                     f"{alternatives}")
    err.torch_error = error  # the original exception, for debugging
    return err
