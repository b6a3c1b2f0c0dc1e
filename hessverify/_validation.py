"""Argument checks for the public boundary: each raises ValueError/TypeError naming the argument and the fix.

One layer every public function uses (DESIGN.md, "Numbers you can trust"):

- integers through ``operator.index`` (numpy and 0-dim integer tensors accepted; ``bool``, floats and strings
  refused), so ``k=np.int64(2)`` is 2 and ``seed=1.5`` is an error, never 1;
- finite floats with ranges, string choices, booleans that are booleans;
- tensors checked for type, dtype, device, shape, emptiness and finiteness;
- sizes computed in Python integers (no int64 wrap-around) and checked *before* anything is allocated, with an
  error that names the size it would need.
"""
from __future__ import annotations

import math
import numbers
import operator
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

# ---- scalars ------------------------------------------------------------------------------------------------------


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_)) or (isinstance(value, torch.Tensor) and value.dtype == torch.bool)


def as_int(name: str, value, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as a Python int through ``operator.index`` (so numpy integers and 0-dim integer tensors pass,
    ``True``, ``2.0`` and ``"2"`` do not), within ``[minimum, maximum]``.

    Parameters
    ----------
    name : str
        The argument's name, quoted in every error.
    value : int-like
        What the caller passed.
    minimum, maximum : int, optional
        Inclusive bounds.

    Returns
    -------
    int
    """
    if _is_bool(value):
        raise TypeError(f"{name} must be an int, got the bool {value!r}; pass a number such as 1")
    try:
        v = operator.index(value)
    except TypeError:
        hint = ""
        if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
            hint = f"; pass {int(value)}"
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {_short(value)}{hint}") from None
    if minimum is not None and v < minimum:
        raise ValueError(f"{name} = {v} must be at least {minimum}")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name} = {v} must be at most {maximum}")
    return int(v)


def check_positive_int(name: str, value, *, minimum: int = 1) -> int:
    """``value`` as an int that is at least ``minimum`` (see :func:`as_int`)."""
    return as_int(name, value, minimum=minimum)


#: seeds are non-negative and fit torch's 64-bit generator state
SEED_MAX = 2**63 - 1


def as_seed(name: str, value) -> int:
    """A seed: an int in ``[0, 2**63)`` (``seed=1.5`` is refused, never rounded to 1)."""
    return as_int(name, value, minimum=0, maximum=SEED_MAX)


def as_float(name: str, value, *, minimum: float | None = None, maximum: float | None = None,
             min_inclusive: bool = True, max_inclusive: bool = True) -> float:
    """``value`` as a finite Python float within the given bounds (ints and numpy scalars pass; bools, strings,
    complex numbers and NaN/Inf do not).

    Parameters
    ----------
    name : str
        The argument's name, quoted in every error.
    value : real number
        What the caller passed.
    minimum, maximum : float, optional
        Bounds; inclusive unless ``min_inclusive``/``max_inclusive`` is False.

    Returns
    -------
    float
    """
    if _is_bool(value):
        raise TypeError(f"{name} must be a real number, got the bool {value!r}")
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_complex():
        value = value.item()
    if not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {_short(value)}")
    try:
        v = float(value)
    except OverflowError:
        v = math.inf if value > 0 else -math.inf
    if not math.isfinite(v):
        raise ValueError(f"{name} = {v} must be finite")
    lo_ok = minimum is None or (v >= minimum if min_inclusive else v > minimum)
    hi_ok = maximum is None or (v <= maximum if max_inclusive else v < maximum)
    if not (lo_ok and hi_ok):
        lo = "(-inf" if minimum is None else ("[" if min_inclusive else "(") + f"{minimum:g}"
        hi = "inf)" if maximum is None else f"{maximum:g}" + ("]" if max_inclusive else ")")
        raise ValueError(f"{name} = {v} must lie in {lo}, {hi}")
    return v


def check_positive_float(name: str, value, *, allow_zero: bool = False) -> float:
    """``value`` as a finite positive (or non-negative) float."""
    if _is_bool(value) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {_short(value)}")
    try:
        v = float(value)
    except OverflowError:  # an int beyond float range
        v = math.inf
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} = {v} must be finite and {bound}")
    return v


def as_bool(name: str, value) -> bool:
    """``value`` if it is a ``bool`` (or numpy bool); ``"no"``, ``0`` and ``None`` are refused, since
    ``bool("no")`` is True."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {type(value).__name__} {_short(value)}")


def check_choice(name: str, value, choices: Sequence):
    """``value`` if it is one of ``choices`` (of the choice's type as well: ``True`` is not ``1``); else ValueError."""
    try:
        ok = any(value == c and isinstance(value, type(c)) and (isinstance(c, bool) or not _is_bool(value))
                 for c in choices)
    except Exception:  # noqa: BLE001 - an array or tensor compared to a string: not a choice either
        ok = False
    if not ok:
        raise ValueError(f"{name}={_short(value)} is not supported; choose one of {', '.join(repr(c) for c in choices)}")
    return value


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_generator(name: str, generator) -> torch.Generator | None:
    """``generator`` if it is ``None`` or a ``torch.Generator`` (a seed goes in ``seed=``, not here)."""
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    raise TypeError(f"{name} must be a torch.Generator or None, got {type(generator).__name__} {_short(generator)}; "
                    "make one with torch.Generator().manual_seed(seed)")


# ---- sequences ----------------------------------------------------------------------------------------------------


def check_positive_int_sequence(name: str, values: Sequence[int], *, min_len: int = 1) -> tuple[int, ...]:
    """``values`` as a tuple of positive Python ints, at least ``min_len`` long."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray, torch.Tensor)):
        raise TypeError(f"{name} must be a sequence of positive ints such as (4, 8, 2), got {type(values).__name__}")
    if isinstance(values, (np.ndarray, torch.Tensor)) and values.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(values.shape)}")
    out = []
    for i, v in enumerate(list(values)):
        try:
            v = as_int(f"{name}[{i}]", v)
        except TypeError:
            raise TypeError(f"{name}[{i}] = {_short(v)} is not an int; pass integer widths") from None
        if v <= 0:
            raise ValueError(f"{name}[{i}] = {v} must be positive; every width is at least 1")
        out.append(v)
    if len(out) < min_len:
        raise ValueError(
            f"{name} has {len(out)} entries but needs at least {min_len} "
            f"(input width, then one width per layer: depth >= {min_len - 1})"
        )
    return tuple(out)


# ---- tensors ------------------------------------------------------------------------------------------------------


def check_finite(name: str, x) -> None:
    """Raise if the tensor/array ``x`` holds NaN or Inf."""
    t = torch.as_tensor(x) if not isinstance(x, torch.Tensor) else x
    if t.device.type == "meta":
        raise ValueError(f"{name} is on the meta device, which holds no values; pass a tensor with data")
    if t.is_floating_point() or t.is_complex():
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} contains NaN or Inf; clean or rescale it before calling")


def check_real_floating(name: str, dtype: torch.dtype) -> None:
    """Refuse complex, integer and half-precision dtypes: curvature here is real float32/float64."""
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"{name} must be a torch.dtype such as torch.float64, got {type(dtype).__name__} {_short(dtype)}")
    if dtype.is_complex:
        raise TypeError(f"{name} are complex ({dtype}); hessverify works with real float32/float64 tensors. "
                        "Split real and imaginary parts into a real model")
    if not dtype.is_floating_point:
        raise TypeError(f"{name} have dtype {dtype}; curvature needs float32 or float64")
    if dtype in (torch.float16, torch.bfloat16):
        raise TypeError(f"{name} have dtype {dtype}; half precision cannot certify curvature (eps ~1e-3). Convert "
                        "with model.to(torch.float32) or torch.float64")


def check_dtype(name: str, dtype) -> torch.dtype:
    """``dtype`` if it is ``torch.float32`` or ``torch.float64`` (the dtypes curvature is certified in)."""
    check_real_floating(name, dtype)
    return dtype


def check_device(name: str, device) -> torch.device:
    """``device`` (a string or ``torch.device``) as a ``torch.device`` this machine has."""
    if device is None:
        return torch.device("cpu")
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"{name} must be a string such as 'cpu' or 'cuda', got {type(device).__name__} {_short(device)}")
    try:
        dev = torch.device(device)
        torch.empty(0, device=dev)
    except Exception as e:  # noqa: BLE001 - torch raises RuntimeError, ValueError or AssertionError here
        raise ValueError(f"{name}={str(device)!r} is not usable on this machine ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''}); use 'cpu' or an available accelerator") from None
    if dev.type == "cpu" and dev.index not in (None, 0):
        raise ValueError(f"{name}={str(device)!r}: there is one CPU device; use 'cpu'")
    return dev


def check_tensor(name: str, x, *, ndim: int | Sequence[int] | None = None, shape: Sequence[int | None] | None = None,
                 dtype: str = "real", device: torch.device | None = None, allow_empty: bool = False,
                 finite: bool = True, convert: bool = True) -> torch.Tensor:
    """``x`` (a tensor, or a numpy array when ``convert``) checked at the boundary.

    Parameters
    ----------
    name : str
        The argument's name, quoted in every error.
    x : torch.Tensor or numpy.ndarray
        What the caller passed.
    ndim : int or sequence of int, optional
        Accepted numbers of dimensions.
    shape : sequence of int or None, optional
        Required sizes; ``None`` entries are free.
    dtype : {"real", "integer", "any"}
        "real": float32/float64 (half precision and complex refused; integer tensors refused);
        "integer": an integer dtype (bool refused); "any": not checked.
    device : torch.device, optional
        The device ``x`` must be on.
    allow_empty : bool
        Whether a tensor with no entries is acceptable.
    finite : bool
        Refuse NaN/Inf entries.
    convert : bool
        Accept numpy arrays (converted without copying).

    Returns
    -------
    torch.Tensor
    """
    if isinstance(x, np.ndarray) and convert:
        if x.dtype == object or x.dtype.kind in "USV":
            raise TypeError(f"{name} is a numpy array of {x.dtype}; pass numbers")
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        kind = "torch.Tensor or numpy array" if convert else "torch.Tensor"
        raise TypeError(f"{name} must be a {kind}, got {type(x).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimensions, got shape {tuple(x.shape)}")
    if shape is not None:
        if x.ndim != len(shape) or any(s is not None and s != xs for s, xs in zip(shape, x.shape)):
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} has shape {tuple(x.shape)}; expected {want}")
    if dtype == "real":
        check_real_floating(name, x.dtype)
    elif dtype == "integer":
        if x.dtype == torch.bool or x.is_floating_point() or x.is_complex():
            raise TypeError(f"{name} must hold integers (class indices), got dtype {x.dtype}")
    if device is not None and x.device != torch.device(device):
        raise ValueError(f"{name} is on {x.device} but this call runs on {device}; move it with .to({str(device)!r})")
    if not allow_empty and x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}); pass at least one entry")
    if finite:
        check_finite(name, x)
    return x


def as_tensor_2d(name: str, x, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``x`` as a 2-D floating tensor, non-empty and finite."""
    if not isinstance(x, (torch.Tensor, np.ndarray)):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(x).__name__}")
    if isinstance(x, np.ndarray) and (x.dtype == object or x.dtype.kind in "USV"):
        raise TypeError(f"{name} is a numpy array of {x.dtype}; pass numbers")
    t = torch.as_tensor(x)
    if t.is_complex():
        raise TypeError(f"{name} is complex ({t.dtype}); hessverify works with real tensors")
    if t.ndim != 2:
        raise ValueError(f"{name} must be 2-D with shape (n, d), got shape {tuple(t.shape)}")
    if t.dtype in (torch.float16, torch.bfloat16):
        raise TypeError(f"{name} has dtype {t.dtype}; convert to float32 or float64 ({name}.double())")
    if t.dtype == torch.bool:
        raise TypeError(f"{name} has dtype torch.bool; pass numbers")
    if t.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(t.shape)}); pass at least one sample and one feature")
    if dtype is not None:
        t = t.to(dtype)
    elif not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    check_finite(name, t)
    return t


def as_labels(name: str, labels, *, num_classes: int | None = None, allow_empty: bool = False) -> torch.Tensor:
    """``labels`` as a 1-D int64 tensor of class indices (in ``[0, num_classes)`` when given)."""
    what = f"{name} must be a {'' if allow_empty else 'non-empty '}1-D integer tensor of class indices"
    if isinstance(labels, (list, tuple)):
        try:
            labels = torch.as_tensor(labels)
        except (TypeError, ValueError, RuntimeError, OverflowError):
            raise TypeError(what) from None
    if isinstance(labels, np.ndarray) and labels.dtype.kind in "iu":
        labels = torch.from_numpy(np.ascontiguousarray(labels))
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or labels.dtype == torch.bool \
            or labels.is_floating_point() or labels.is_complex():
        raise TypeError(what)
    if labels.device.type == "meta":
        raise ValueError(f"{name} is on the meta device, which holds no values; pass a tensor with data")
    if labels.numel() == 0 and not allow_empty:
        raise ValueError(f"{name} is empty; pass at least one label")
    labels = labels.long()
    if num_classes is not None and labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"{name} must lie in [0, {num_classes}); found range [{int(labels.min())}, "
                         f"{int(labels.max())}]. Raise num_classes or relabel")
    if num_classes is None and labels.numel() and int(labels.min()) < 0:
        raise ValueError(f"{name} must lie in [0, num_classes); found {int(labels.min())}. Map them to class "
                         "indices 0..C-1 first")
    return labels


def as_path(name: str, value) -> Path:
    """``value`` as a ``pathlib.Path`` (a ``str`` or ``os.PathLike``; not empty: ``""`` would mean the current
    directory)."""
    if isinstance(value, bytes) or not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or pathlib.Path), got {type(value).__name__} {_short(value)}")
    if os.fspath(value) == "":
        raise ValueError(f"{name}='' names no file or folder (it would mean the current directory); pass a path")
    return Path(value)


# ---- sizes --------------------------------------------------------------------------------------------------------


def num_elements(shape: Sequence[int]) -> int:
    """The product of ``shape`` in Python integers (never wraps, unlike ``np.prod`` in int64)."""
    return math.prod(int(s) for s in shape)


def format_bytes(n: int) -> str:
    """``80_000_000_000`` -> ``'74.5 GiB'``."""
    for unit, scale in (("EiB", 2**60), ("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


#: environment variable that caps any single allocation the checks let through (bytes)
MEMORY_LIMIT_ENV = "HESSVERIFY_MAX_BYTES"


def memory_limit(device: torch.device | str | None = None) -> int:
    """Bytes one allocation may take: ``$HESSVERIFY_MAX_BYTES`` if set, else half of the device's memory
    (physical memory on the CPU, total memory of a CUDA device)."""
    env = os.environ.get(MEMORY_LIMIT_ENV)
    if env:
        try:
            return int(float(env))
        except ValueError:
            raise ValueError(f"{MEMORY_LIMIT_ENV}={env!r} is not a number of bytes") from None
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_properties(dev).total_memory // 2
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def check_allocation(what: str, shape: Sequence[int], dtype: torch.dtype | np.dtype = torch.float64, *,
                     device: torch.device | str | None = None, hint: str = "use a matrix-free estimator") -> int:
    """Raise ``ValueError`` before allocating ``shape`` of ``dtype`` if it exceeds :func:`memory_limit`; the
    message names the size it would need ("this needs 74.5 GiB; use a matrix-free estimator").

    Returns
    -------
    int
        The bytes the allocation needs.
    """
    itemsize = dtype.itemsize if isinstance(dtype, torch.dtype) else np.dtype(dtype).itemsize
    if isinstance(shape, (str, bytes)) or not isinstance(shape, (Sequence, np.ndarray, torch.Size)) \
            or np.ndim(shape) != 1:
        raise TypeError(f"the shape of {what} must be a sequence of sizes, got {_short(shape)}")
    shape = [as_int(f"the shape of {what}", s, minimum=0) for s in shape]
    need = num_elements(shape) * itemsize
    limit = memory_limit(device)
    if need > limit:
        raise ValueError(f"{what} of shape {tuple(int(s) for s in shape)} needs {format_bytes(need)} "
                         f"(more than the {format_bytes(limit)} allowed here; {MEMORY_LIMIT_ENV} sets it); {hint}")
    return need
