"""The data of a curvature operator: tensors (optionally split into ``batch_size`` chunks), or a re-iterable of
batches, each a pair ``(X_b, Y_b)`` or a mapping read with ``input_key``/``target_key`` (as curvlinops reads
dict batches). ``X`` may itself be a mapping of tensors (a model that takes a dict); numpy arrays are
converted. Every batch is checked for dtype, device, finiteness and matching sample counts, with errors that
name the batch; a later pass that yields different batch sizes is refused.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from hessverify._validation import as_int, check_finite


@dataclass(frozen=True)
class Batch:
    index: int
    X: object
    Y: object
    size: int


def _to_tensor(x, name: str):
    if isinstance(x, np.ndarray):
        x = torch.as_tensor(x)
    if isinstance(x, torch.Tensor) and x.is_complex():
        raise TypeError(f"{name} is complex ({x.dtype}); hessverify works with real tensors")
    return x


def _leading_size(X, name: str, batch_size_fn: Callable | None) -> int:
    if batch_size_fn is not None:
        n = batch_size_fn(X)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"batch_size_fn returned {n!r} for {name}; it must return the number of samples (an int)")
        return int(n)
    if isinstance(X, torch.Tensor):
        if X.ndim < 1:
            raise ValueError(f"{name} is a scalar; it needs a leading sample dimension")
        return int(X.shape[0])
    if isinstance(X, Mapping):
        sizes = {int(v.shape[0]) for v in X.values() if isinstance(v, torch.Tensor) and v.ndim >= 1}
        if len(sizes) != 1:
            raise ValueError(f"{name} is a mapping whose tensors have leading sizes {sorted(sizes)}; pass "
                             "batch_size_fn=(lambda X: number of samples) to say how many samples it holds")
        return sizes.pop()
    raise TypeError(f"{name} must be a tensor, a numpy array or a mapping of tensors, got {type(X).__name__}")


def _convert(X, name: str, dtype: torch.dtype, device: torch.device, check_values: bool = True):
    """``X`` on ``device``; floating tensors must have the model's dtype (integer inputs such as token ids pass) and,
    with ``check_values``, finite entries."""
    if isinstance(X, Mapping):
        return {k: _convert(v, f"{name}[{k!r}]", dtype, device, check_values) for k, v in X.items()}
    X = _to_tensor(X, name)
    if not isinstance(X, torch.Tensor):
        return X
    if X.is_floating_point() and X.dtype != dtype:
        raise TypeError(f"{name} has dtype {X.dtype} but the model has {dtype}; convert one to match "
                        f"({name}.to({dtype}) or model.to({X.dtype}))")
    if check_values:
        check_finite(name, X)
    return X.to(device)


def _slice(X, i: int, j: int):
    if isinstance(X, Mapping):
        return {k: (v[i:j] if isinstance(v, torch.Tensor) and v.ndim >= 1 else v) for k, v in X.items()}
    return X[i:j]


class DataSource:
    """``n`` samples in one or more batches; ``batches()`` yields :class:`Batch` objects, checked."""

    def __init__(self, X, Y, *, batch_size: int | None, dtype: torch.dtype, device: torch.device,
                 input_key=None, target_key=None, batch_size_fn: Callable | None = None):
        self.dtype, self.device = dtype, device
        self.input_key, self.target_key, self.batch_size_fn = input_key, target_key, batch_size_fn
        if (input_key is None) != (target_key is None):
            raise ValueError("pass both input_key= and target_key= (the names of inputs and targets in each batch)")
        if batch_size_fn is not None and not callable(batch_size_fn):
            raise TypeError("batch_size_fn must be a callable(X) -> number of samples")
        X = _to_tensor(X, "X")
        if isinstance(X, (torch.Tensor, Mapping)) and not (isinstance(X, Mapping) and input_key is not None):
            if Y is None:
                raise TypeError("Y is missing: pass targets (or labels) Y, or pass an iterable of (X, Y) batches as X")
            Y = _to_tensor(Y, "Y")
            if not isinstance(Y, torch.Tensor):
                raise TypeError(f"Y must be a tensor or numpy array, got {type(Y).__name__}")
            if batch_size is not None:
                batch_size = as_int("batch_size", batch_size, minimum=1)
            n = _leading_size(X, "X", batch_size_fn)
            if Y.ndim < 1 or Y.shape[0] != n:
                raise ValueError(f"Y has {Y.shape[0] if Y.ndim else 0} rows but X has {n} samples; they must match "
                                 "(one target row or label per sample)")
            self._tensors, self._iterable, self.batch_size = (X, Y), None, batch_size
        elif isinstance(X, Iterable) and not isinstance(X, (str, bytes)):
            if Y is not None:
                raise TypeError("pass either tensors X and Y, or an iterable of (X, Y) batches as X with Y=None")
            if iter(X) is X:
                raise TypeError("X is a one-shot iterator; operators traverse the data once per product. Pass a "
                                "re-iterable source such as a list of (X, Y) pairs or a torch DataLoader")
            if batch_size is not None:
                raise ValueError("batch_size= splits tensors; an iterable of batches is already batched")
            self._tensors, self._iterable, self.batch_size = None, X, None
        else:
            raise TypeError(f"X must be a torch.Tensor, a numpy array, a mapping of tensors or an iterable of batches, "
                            f"got {type(X).__name__}")
        self.sizes = [b.size for b in self._raw_batches()]
        self._values_checked = False  # set after the first complete pass of batches()
        self.n = sum(self.sizes)
        if self.n < 1:
            raise ValueError("the data hold no samples; pass at least one (X, Y) pair")

    @property
    def fixed_order(self) -> bool:
        """Tensors or a list/tuple of batches: every pass yields the same batches."""
        return self._tensors is not None or isinstance(self._iterable, (list, tuple, Mapping))

    @property
    def single_batch(self) -> bool:
        """One pass over one batch: tensors without ``batch_size``, or a list/tuple holding one batch."""
        return len(self.sizes) == 1 and self.fixed_order

    def _pair(self, item, i: int):
        if isinstance(item, Mapping):
            if self.input_key is None:
                raise TypeError(f"batch {i} is a mapping with keys {list(item)}; pass input_key= and target_key= to "
                                "say which entries are the inputs and the targets")
            missing = [k for k in (self.input_key, self.target_key) if k not in item]
            if missing:
                raise KeyError(f"batch {i} has no key {missing[0]!r}; its keys are {list(item)}")
            return item[self.input_key], item[self.target_key]
        try:
            xb, yb = item
        except (TypeError, ValueError):
            raise TypeError(f"batch {i} is a {type(item).__name__}, not a pair (X, Y) or a mapping") from None
        return xb, yb

    def _raw_batches(self) -> Iterator[Batch]:
        if self._tensors is not None:
            X, Y = self._tensors
            n = _leading_size(X, "X", self.batch_size_fn)
            step = self.batch_size or n
            for i, start in enumerate(range(0, n, step)):
                yield Batch(i, _slice(X, start, start + step), Y[start:start + step], min(step, n - start))
            return
        if isinstance(self._iterable, Mapping):
            xb, yb = self._pair(self._iterable, 0)
            yield Batch(0, xb, yb, _leading_size(_to_tensor(xb, "batch 0 inputs"), "batch 0 inputs", self.batch_size_fn))
            return
        for i, item in enumerate(self._iterable):
            xb, yb = self._pair(item, i)
            xb, yb = _to_tensor(xb, f"batch {i} inputs"), _to_tensor(yb, f"batch {i} targets")
            size = _leading_size(xb, f"batch {i} inputs", self.batch_size_fn)
            if not isinstance(yb, torch.Tensor) or yb.ndim < 1 or yb.shape[0] != size:
                rows = yb.shape[0] if isinstance(yb, torch.Tensor) and yb.ndim else type(yb).__name__
                raise ValueError(f"batch {i}: the targets have {rows} rows but the inputs hold {size} samples")
            yield Batch(i, xb, yb, size)

    def batches(self) -> Iterator[Batch]:
        """The batches on the operator's device, checked; a pass that differs from the first is refused. Entries are
        checked for NaN/Inf on the first complete pass and, for a source whose batches may change (a DataLoader),
        on every pass; a fixed source (tensors, a list) is not re-scanned on every product."""
        check = not (self.fixed_order and self._values_checked)
        count = 0
        for b in self._raw_batches():
            if b.index >= len(self.sizes) or b.size != self.sizes[b.index]:
                raise ValueError(f"batch {b.index} holds {b.size} samples, but the first pass over the data had "
                                 f"{self.sizes[b.index] if b.index < len(self.sizes) else 'no such batch'}: the data "
                                 "source changes between passes (drop_last with shuffling?); use a fixed order")
            count += 1
            name = f"batch {b.index}" if len(self.sizes) > 1 else "X"
            xb = _convert(b.X, f"{name} inputs" if len(self.sizes) > 1 else "X", self.dtype, self.device, check)
            yb = _to_tensor(b.Y, f"{name} targets")
            if check and yb.is_floating_point():
                check_finite(f"{name} targets" if len(self.sizes) > 1 else "Y", yb)
            yield Batch(b.index, xb, yb.to(self.device), b.size)
        if count != len(self.sizes):
            raise ValueError(f"a pass over the data gave {count} batches where the first gave {len(self.sizes)}; "
                             "the data source must give the same batches on every pass")
        self._values_checked = True
