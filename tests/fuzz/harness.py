"""A fuzzer over the public API: argument families, one call under a time limit, and the oracle.

Each target (``targets.py``) names its arguments with a *kind* and a valid base value. A generated call replaces one
argument with a value drawn from a family of its kind, each family carrying what the call owes it:

- ``equivalent`` (a numpy integer for an int, a non-contiguous copy of a tensor, ``np.bool_`` for a bool, ...):
  the same result as the base call;
- ``invalid`` (bool for an int, ``1.5`` for an int, NaN/Inf, empty, 0-dim, half precision, wrong device, an
  exhausted iterator, a wrong type, ...): a ``ValueError``/``TypeError`` whose message names the argument;
- ``either`` (other valid values, huge values, ...): a correct result or such an error.

The oracle classifies every call (:class:`Outcome`):

- ``correct``: it returned a result without NaN that passes the target's reference check (and equals the base
  result where the family is equivalent);
- ``clear``: ``ValueError``/``TypeError`` (or an error type the target declares) whose message names the argument;
- ``silent``: it returned although the value is invalid, or returned NaN, a wrong answer or, for an equivalent
  value, another result than the base call (an argument silently ignored or converted);
- ``refused``: an equivalent value refused with a clear error (a valid input turned away);
- ``unclear``: ``ValueError``/``TypeError`` raised by hessverify whose message does not name the argument;
- ``deep``: any other exception type, or a ``ValueError``/``TypeError`` raised inside torch/numpy/scipy;
- ``hang``: the call ran past the time limit (``SIGALRM``).

Calls run with the global RNGs seeded, under ``HESSVERIFY_MAX_BYTES`` (64 MiB) and an address-space limit, so
a huge request fails fast instead of swapping the machine.
"""
from __future__ import annotations

import atexit
import contextlib
import dataclasses
import math
import os
import re
import resource
import secrets
import shutil
import signal
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hypothesis import strategies as st

GOOD = ("correct", "clear")
BAD = ("silent", "refused", "unclear", "deep", "hang")
OUTCOMES = GOOD + BAD


@dataclasses.dataclass(frozen=True)
class Arg:
    """One argument of a target: ``make()`` gives its valid base value (fresh each call)."""

    name: str
    kind: str
    make: Callable[[], Any]
    keyword: bool = True
    optional: bool = False  # None is a valid value
    choices: tuple = ()
    lo: float | None = None  # numeric range the base call is valid in (for "either" draws)
    hi: float | None = None
    names: tuple[str, ...] = ()  # other words an error may name the argument by (e.g. "--seed")


@dataclasses.dataclass(frozen=True)
class Target:
    """A public function with its arguments; ``check(result, kwargs)`` raises AssertionError on a wrong answer."""

    name: str
    fn: Callable
    args: tuple[Arg, ...]
    owner: str  # the package that owns the function (who fixes what the fuzzer finds)
    check: Callable[[Any, dict], None] | None = None
    errors: tuple[type, ...] = ()  # further exception types that count as clear (e.g. FileNotFoundError)
    nan_ok: bool = False  # results may hold NaN legitimately (e.g. a cache returning what it was given)
    xfail: str | None = None  # id of a FINDINGS.md entry: known, not fixed in this branch
    #: (argument, family) -> expectation, where this target's contract differs from its kind's (a CLI option left
    #: out is its default; a zero size is a valid allocation)
    expect: tuple[tuple[str, str, str], ...] = ()
    #: for an API that answers bad input with a result that says so (``compare``'s "error" verdict): the message of
    #: such a result, else None; a refusal counts as an error raised with that message
    refusal: Callable[[Any], str | None] | None = None


@dataclasses.dataclass(frozen=True)
class Mutation:
    arg: str
    family: str
    expect: str  # equivalent | invalid | either
    value: Any
    shown: str


@dataclasses.dataclass
class Call:
    target: str
    mutation: Mutation
    outcome: str
    detail: str
    seconds: float

    def line(self) -> str:
        return (f"{self.outcome:8s} {self.target}({self.mutation.arg}={self.mutation.shown}) "
                f"[{self.mutation.family}/{self.mutation.expect}] {self.detail}")


# ---- families -----------------------------------------------------------------------------------------------------
class _Opaque:
    def __repr__(self):
        return "<object>"


def _wrong_types(arg: Arg) -> list[tuple[str, str, Callable[[Any], Any]]]:
    out = [("wrong type: str", "invalid", lambda b: "3"), ("wrong type: object", "invalid", lambda b: _Opaque()),
           ("wrong type: dict", "invalid", lambda b: {"a": 1}), ("wrong type: complex", "invalid", lambda b: 1 + 2j)]
    out.append(("None", "either" if arg.optional else "invalid", lambda b: None))
    return out


def _noncontiguous(t: torch.Tensor) -> torch.Tensor:
    """The same values in a non-contiguous layout (every other column of a doubled tensor)."""
    if t.ndim == 0:
        return t.clone()
    wide = torch.stack([t, torch.zeros_like(t)], dim=-1)
    out = wide[..., 0]
    assert not out.is_contiguous() or t.numel() <= 1
    return out


def _with(t: torch.Tensor, value) -> torch.Tensor:
    t = t.clone().to(torch.float64) if not t.is_floating_point() else t.clone()
    if t.numel():
        t.view(-1)[t.numel() // 2] = value
    return t


def _int_families(arg: Arg):
    lo = int(arg.lo if arg.lo is not None else 1)
    hi = int(arg.hi if arg.hi is not None else 8)
    fam = [
        ("numpy int64", "equivalent", lambda b: np.int64(b)), ("numpy int32", "equivalent", lambda b: np.int32(b)),
        ("bool for int", "invalid", lambda b: True), ("bool False", "invalid", lambda b: False),
        ("float of int", "invalid", lambda b: float(b)), ("fraction", "invalid", lambda b: b + 0.5),
        ("numpy float", "invalid", lambda b: np.float64(b)), ("NaN", "invalid", lambda b: math.nan),
        ("Inf", "invalid", lambda b: math.inf), ("string int", "invalid", lambda b: str(b)),
        ("0-dim int tensor", "either", lambda b: torch.tensor(b)),
        ("0-dim float tensor", "invalid", lambda b: torch.tensor(float(b))),
        ("huge 10**12", "either", lambda b: 10**12), ("huge 2**63", "either", lambda b: 2**63),
        ("huge 2**64+1", "either", lambda b: 2**64 + 1),
        ("negative", "either", lambda b: -1), ("zero", "either", lambda b: 0),
    ]
    values = sorted({int(v) for v in np.linspace(lo, hi, 6).round()})
    fam += [(f"in range {v}", "either", (lambda v: lambda b: v)(v)) for v in values]
    fam += [("drawn in range", "either", lambda b, draw: draw(st.integers(lo, hi))),
            ("drawn any int", "either", lambda b, draw: draw(st.integers(-2**70, 2**70)))]
    return fam + _wrong_types(arg)


def _seed_families(arg: Arg):
    return [("numpy int64", "equivalent", lambda b: np.int64(b)), ("numpy uint32", "equivalent", lambda b: np.uint32(b)),
            ("seed 1.5", "invalid", lambda b: 1.5), ("float seed", "invalid", lambda b: float(b)),
            ("bool seed", "invalid", lambda b: True), ("negative seed", "either", lambda b: -1),
            ("seed 2**32", "either", lambda b: 2**32), ("seed 2**64", "either", lambda b: 2**64),
            ("seed 7", "either", lambda b: 7), ("NaN", "invalid", lambda b: math.nan),
            ("drawn seed", "either", lambda b, draw: draw(st.integers(0, 2**64))),
            ("string seed", "invalid", lambda b: "7")] + _wrong_types(arg)


def _real_families(arg: Arg):
    lo = arg.lo if arg.lo is not None else 0.1
    hi = arg.hi if arg.hi is not None else 10.0
    fam = [("numpy float64", "equivalent", lambda b: np.float64(_need(b))),
           ("numpy float32 exact", "either", lambda b: np.float32(_need(b))),
           ("NaN", "invalid", lambda b: math.nan), ("Inf", "invalid", lambda b: math.inf),
           ("-Inf", "invalid", lambda b: -math.inf), ("bool for float", "invalid", lambda b: True),
           ("string float", "invalid", lambda b: "0.5"), ("0-dim tensor", "either", lambda b: torch.tensor(_need(b))),
           ("huge 1e308", "either", lambda b: 1e308), ("huge int 10**400", "either", lambda b: 10**400),
           ("tiny 1e-300", "either", lambda b: 1e-300), ("negative", "either", lambda b: -abs(_need(b)) - 1.0),
           ("zero", "either", lambda b: 0.0), ("1-element list", "invalid", lambda b: [_need(b)])]
    fam += [(f"in range {v:.3g}", "either", (lambda v: lambda b: v)(v)) for v in np.linspace(lo, hi, 5)]
    fam += [("drawn in range", "either", lambda b, draw: draw(st.floats(lo, hi))),
            ("drawn any float", "either", lambda b, draw: _finite_or_invalid(draw(st.floats())))]
    return fam + _wrong_types(arg)


@dataclasses.dataclass(frozen=True)
class Expect:
    """A drawn value with the expectation it carries (overrides the family's)."""

    value: Any
    expect: str


def _finite_or_invalid(x: float):
    return x if math.isfinite(x) else Expect(x, "invalid")


def _need(b):
    """The base value, which a family derives its value from (a None base has no numpy twin: not applicable)."""
    if b is None:
        raise ValueError("the base value is None")
    return b


def _bool_families(arg: Arg):
    return [("numpy bool", "equivalent", lambda b: np.bool_(b)), ("not b", "either", lambda b: not b),
            ("int 1", "invalid", lambda b: 1), ("int 0", "invalid", lambda b: 0),
            ('string "no"', "invalid", lambda b: "no"), ('string "True"', "invalid", lambda b: "True"),
            ("0-dim bool tensor", "either", lambda b: torch.tensor(b))] + _wrong_types(arg)


def _choice_families(arg: Arg):
    fam = [(f"choice {c!r}", "either", (lambda c: lambda b: c)(c)) for c in arg.choices]
    fam += [("numpy str", "equivalent", lambda b: np.str_(b) if isinstance(b, str) else b),
            ("upper case", "invalid" if all(isinstance(c, str) and c != c.upper() for c in arg.choices) else "either",
             lambda b: b.upper() if isinstance(b, str) else b),
            ("unknown", "invalid", lambda b: "no-such-choice"), ("int", "invalid", lambda b: 1),
            ("bool", "invalid", lambda b: True), ("list of it", "invalid", lambda b: [b]),
            ("empty string", "invalid", lambda b: ""),
            ("drawn text", "either", lambda b, draw: _text_choice(draw(st.text(max_size=6)), arg.choices))]
    return fam + _wrong_types(arg)


def _text_choice(text: str, choices: tuple):
    return text if text in choices else Expect(text, "invalid")


def _tensor_families(arg: Arg, *, labels: bool = False, square: bool = False):
    fam = [("non-contiguous", "equivalent", _noncontiguous),
           ("numpy array", "equivalent", lambda b: b.numpy()),
           ("requires_grad", "equivalent", lambda b: b.clone().requires_grad_(b.is_floating_point())),
           ("0-dim", "invalid", lambda b: torch.tensor(1.0 if not labels else 1)),
           ("empty", "either" if labels else "invalid", lambda b: b[:0]),
           ("3-D", "invalid", lambda b: b.reshape(1, *b.shape) if b.ndim >= 2 else b.reshape(1, 1, -1)),
           ("meta device", "invalid", lambda b: b.to("meta")),
           ("complex", "invalid", lambda b: b.to(torch.complex128)),
           ("bool dtype", "invalid", lambda b: b != 0),
           ("list of lists", "either", lambda b: b.tolist()),
           ("huge values 1e300", "either", lambda b: b.double() * 1e300 if not labels else b * 10**6)]
    fam.append(("drawn values", "either", lambda b, draw: _drawn_like(b, draw, labels)))
    if labels:
        fam += [("float labels", "invalid", lambda b: b.double()), ("negative label", "invalid", lambda b: _set(b, -1)),
                ("label 999", "either", lambda b: _set(b, 999)), ("int32 labels", "equivalent", lambda b: b.int()),
                ("NaN labels", "invalid", lambda b: _with(b, math.nan)), ("2-D labels", "invalid", lambda b: b[:, None])]
    else:
        fam += [("NaN entry", "invalid", lambda b: _with(b, math.nan)), ("Inf entry", "invalid", lambda b: _with(b, math.inf)),
                ("float16", "invalid", lambda b: b.half()), ("bfloat16", "invalid", lambda b: b.bfloat16()),
                ("float32", "either", lambda b: b.float()), ("int64", "either", lambda b: b.round().long()),
                ("1-D", "invalid", lambda b: b.reshape(-1)),
                ("no columns", "invalid", lambda b: b[:, :0] if b.ndim == 2 else b[:0])]
    if square:
        fam += [("not square", "invalid", lambda b: b[:, :-1]), ("not symmetric", "invalid", lambda b: _skew(b)),
                ("1x1", "either", lambda b: b[:1, :1]), ("scipy sparse", "equivalent", _sparse),
                ("scipy LinearOperator", "equivalent", _linop),
                ("huge sparse diagonal 10**5", "either", lambda b: _sparse_eye(10**5)),
                ("huge sparse diagonal 10**6", "either", lambda b: _sparse_eye(10**6))]
    return fam + _wrong_types(arg)


def _drawn_like(b: torch.Tensor, draw, labels: bool) -> torch.Tensor:
    """A tensor of ``b``'s shape and dtype with drawn entries (labels: drawn from the base's range)."""
    n = b.numel()
    if labels:
        hi = int(b.max()) if n else 0
        values = draw(st.lists(st.integers(0, hi), min_size=n, max_size=n))
        return torch.tensor(values, dtype=b.dtype).reshape(b.shape)
    values = draw(st.lists(st.floats(-1e3, 1e3), min_size=n, max_size=n))
    out = torch.tensor(values, dtype=b.dtype).reshape(b.shape)
    if b.ndim == 2 and b.shape[0] == b.shape[1]:
        out = (out + out.T) / 2  # a symmetric operator stays symmetric
    return out


def _set(t: torch.Tensor, value) -> torch.Tensor:
    t = t.clone()
    if t.numel():
        t.view(-1)[-1] = value
    return t


def _skew(b: torch.Tensor) -> torch.Tensor:
    m = b.clone().double()
    if m.shape[0] > 1:
        m[0, 1] += 1.0 + m.abs().max()
    return m


def _sparse(b: torch.Tensor):
    import scipy.sparse as sp

    return sp.csr_matrix(b.numpy())


def _linop(b: torch.Tensor):
    import scipy.sparse.linalg as sla

    M = b.numpy()
    return sla.LinearOperator(M.shape, matvec=lambda v: M @ v, matmat=lambda V: M @ V, dtype=M.dtype)


def _sparse_eye(n: int):
    import scipy.sparse as sp

    return sp.eye(n, format="csr") * 2.0


def _vector_families(arg: Arg):
    return [("non-contiguous", "equivalent", _noncontiguous), ("numpy array", "either", lambda b: b.numpy()),
            ("wrong length", "invalid", lambda b: b[:-1]), ("zero vector", "invalid", lambda b: torch.zeros_like(b)),
            ("NaN entry", "invalid", lambda b: _with(b, math.nan)), ("Inf entry", "invalid", lambda b: _with(b, math.inf)),
            ("column (n, 1)", "either", lambda b: b[:, None]), ("0-dim", "invalid", lambda b: torch.tensor(1.0)),
            ("empty", "invalid", lambda b: b[:0]), ("float16", "invalid", lambda b: b.half()),
            ("complex", "invalid", lambda b: b.to(torch.complex128)), ("meta device", "invalid", lambda b: b.to("meta")),
            ("int64", "either", lambda b: torch.ones_like(b, dtype=torch.int64))] + _wrong_types(arg)


def _generator_families(arg: Arg):
    return [("seeded generator", "either", lambda b: torch.Generator().manual_seed(1)),
            ("int for generator", "invalid", lambda b: 3), ("numpy Generator", "invalid", lambda b: np.random.default_rng(0)),
            ("meta-less object", "invalid", lambda b: _Opaque()), ("None", "either", lambda b: None)]


def _dtype_families(arg: Arg):
    return [("float32", "either", lambda b: torch.float32), ("float16", "invalid", lambda b: torch.float16),
            ("bfloat16", "invalid", lambda b: torch.bfloat16), ("int64", "invalid", lambda b: torch.int64),
            ("complex128", "invalid", lambda b: torch.complex128), ("bool", "invalid", lambda b: torch.bool),
            ("string 'float64'", "invalid", lambda b: "float64"), ("numpy float64", "invalid", lambda b: np.float64),
            ("python float", "invalid", lambda b: float), ("None", "either" if arg.optional else "invalid",
                                                         lambda b: None)]


def _device_families(arg: Arg):
    return [("cpu string", "equivalent", lambda b: "cpu"), ("torch.device cpu", "equivalent", lambda b: torch.device("cpu")),
            ("cuda", "either" if torch.cuda.is_available() else "invalid", lambda b: "cuda"),
            ("cuda:7", "invalid", lambda b: "cuda:7"), ("cpu:3", "invalid", lambda b: "cpu:3"),
            ("nonsense", "invalid", lambda b: "gpu0"), ("empty string", "invalid", lambda b: ""),
            ("int", "invalid", lambda b: 3), ("None", "either" if arg.optional else "invalid", lambda b: None)]


def _sequence_families(arg: Arg, *, positive_int: bool = False):
    fam = [("list", "equivalent", lambda b: list(b)), ("tuple", "equivalent", lambda b: tuple(b)),
           ("numpy array", "equivalent", lambda b: np.asarray(b)),
           ("exhausted iterator", "invalid", _exhausted), ("fresh iterator", "either", lambda b: iter(list(b))),
           ("empty", "invalid", lambda b: []), ("string", "invalid", lambda b: "12"), ("int", "invalid", lambda b: 3),
           ("NaN entry", "invalid", lambda b: [*list(b)[:-1], math.nan]),
           ("nested", "invalid", lambda b: [list(b)]), ("2-D array", "invalid", lambda b: np.asarray(b)[None, :])]
    if positive_int:
        fam += [("numpy ints", "equivalent", lambda b: tuple(np.int64(v) for v in b)),
                ("zero entry", "invalid", lambda b: (*tuple(b)[:-1], 0)),
                ("bool entry", "invalid", lambda b: (*tuple(b)[:-1], True)),
                ("float entry", "invalid", lambda b: (*tuple(b)[:-1], 2.0)),
                ("negative entry", "invalid", lambda b: (*tuple(b)[:-1], -2)),
                ("one entry", "invalid", lambda b: tuple(b)[:1]),
                ("huge widths", "either", lambda b: (10**6, 10**6)),
                ("huge 2**40 widths", "either", lambda b: (2**40, 1)),
                ("int tensor", "either", lambda b: torch.tensor(list(b))),
                ("drawn widths", "either", lambda b, draw: tuple(draw(st.lists(st.integers(1, 6), min_size=len(b),
                                                                                 max_size=len(b)))))]
    else:
        fam += [("tensor", "either", lambda b: torch.as_tensor(np.asarray(b, dtype=np.float64))),
                ("Inf entry", "invalid", lambda b: [*list(b)[:-1], math.inf]),
                ("negative entry", "either", lambda b: [*list(b)[:-1], -1.0]),
                ("huge length 10**7", "either", lambda b: np.ones(10**7)),
                ("strings", "invalid", lambda b: ["a"] * len(list(b))),
                ("drawn floats", "either", lambda b, draw: draw(st.lists(st.floats(0.01, 100), min_size=len(list(b)),
                                                                         max_size=len(list(b)))))]
    return fam + [f for f in _wrong_types(arg) if f[0] not in ("wrong type: str",)]


def _exhausted(b):
    it = iter(list(b))
    for _ in it:
        pass
    return it


#: every path the fuzzer makes up lies in a folder of its own (a write never lands on a real file)
SCRATCH = Path(tempfile.mkdtemp(prefix="hessverify-fuzz-scratch-"))
atexit.register(shutil.rmtree, SCRATCH, ignore_errors=True)


def _scratch_file() -> Path:
    path = SCRATCH / f"a-file-{secrets.token_hex(3)}.txt"
    path.write_text("scratch")
    return path


def _path_families(arg: Arg):
    return [("missing path", "either", lambda b: SCRATCH / "missing" / secrets.token_hex(3) / "x"),
            ("empty string", "invalid", lambda b: ""), ("str of it", "equivalent", lambda b: str(b)),
            ("int", "invalid", lambda b: 3), ("bytes", "either", lambda b: os.fsencode(str(b))),
            ("a file", "either", lambda b: _scratch_file()),
            ("a link to a folder", "either", _link_to_scratch)] + [f for f in _wrong_types(arg) if f[0] == "None"]


def _link_to_scratch(b):
    link = SCRATCH / f"link-{secrets.token_hex(3)}"
    target = SCRATCH / f"dir-{secrets.token_hex(3)}"
    target.mkdir()
    link.symlink_to(target)
    return link


def _model_families(arg: Arg):
    from hessverify.models import linear_network

    def frozen(b):
        for p in b.parameters():
            p.requires_grad_(False)
        return b

    def nan_weights(b):
        with torch.no_grad():
            next(iter(b.parameters())).fill_(math.nan)
        return b

    return [("frozen parameters", "either", frozen), ("NaN weights", "either", nan_weights),
            ("half precision", "either", lambda b: b.half()), ("meta device", "either", lambda b: b.to("meta")),
            ("float32 model", "either", lambda b: b.float()), ("not a module", "invalid", lambda b: (lambda x: x)),
            ("module without parameters", "either", lambda b: torch.nn.Identity()),
            ("other widths", "either", lambda b: linear_network((2, 3, 2)))] + _wrong_types(arg)


def _loss_families(arg: Arg):
    return [("detached output", "invalid", lambda b: (lambda out, Y: 0.5 * (out.detach() - Y).pow(2).mean())),
            ("vector loss", "invalid", lambda b: (lambda out, Y: (out - Y).pow(2))),
            ("NaN loss", "invalid", lambda b: (lambda out, Y: (out - Y).pow(2).mean() * math.nan)),
            ("complex loss", "invalid", lambda b: (lambda out, Y: (out - Y).pow(2).mean().to(torch.complex128))),
            ("int", "invalid", lambda b: 3), ("unknown name", "invalid", lambda b: "hinge"),
            ("mse name", "either", lambda b: "mse"), ("callable mse", "equivalent",
                                                    lambda b: (lambda out, Y: 0.5 * (out - Y).pow(2).sum() / out.shape[0]))]


def _callable_families(arg: Arg):
    return [("not callable", "invalid", lambda b: 3), ("raises", "either", lambda b: _raiser),
            ("None", "either" if arg.optional else "invalid", lambda b: None)]


def _raiser(*a, **k):
    raise KeyError("from the user's callable")


def _config_families(arg: Arg):
    return [("a dict", "invalid", lambda b: dataclasses.asdict(b)), ("int", "invalid", lambda b: 3),
            ("None", "either" if arg.optional else "invalid", lambda b: None)]


def _text_families(arg: Arg):
    return [("other text", "either", lambda b: "other\nlines \u00e9"), ("empty text", "either", lambda b: ""),
            ("bytes", "invalid", lambda b: b"bytes"), ("numpy str", "equivalent", lambda b: np.str_(b)),
            ("drawn text", "either", lambda b, draw: draw(st.text(max_size=20)))] + \
        [f for f in _wrong_types(arg) if f[0] != "wrong type: str"]


def _json_families(arg: Arg):
    wrong = [(n, "either" if n in ("wrong type: dict", "wrong type: str", "None") else e, f)
             for n, e, f in _wrong_types(arg)]
    return [("nested dict", "either", lambda b: {"a": {"b": [1, 2.5, None, "x"]}}), ("list", "either", lambda b: [1, 2]),
            ("NaN inside", "either", lambda b: {"v": math.nan}), ("tuple inside", "either", lambda b: {"v": (1, 2)}),
            ("deep nesting", "either", lambda b: _deep(200)), ("tensor inside", "either", lambda b: {"v": torch.ones(2)}),
            ("drawn json", "either", lambda b, draw: draw(st.recursive(
                st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False) | st.text(max_size=5),
                lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                max_leaves=8)))] + wrong


def _deep(depth: int):
    out = []
    for _ in range(depth):
        out = [out]
    return {"v": out}


FAMILIES: dict[str, Callable[[Arg], list]] = {
    "int": _int_families, "seed": _seed_families, "real": _real_families, "bool": _bool_families,
    "choice": _choice_families, "tensor": _tensor_families, "labels": lambda a: _tensor_families(a, labels=True),
    "matrix": lambda a: _tensor_families(a, square=True), "vector": _vector_families,
    "generator": _generator_families, "dtype": _dtype_families, "device": _device_families,
    "widths": lambda a: _sequence_families(a, positive_int=True), "floats": _sequence_families,
    "path": _path_families, "model": _model_families, "loss": _loss_families, "callable": _callable_families,
    "config": _config_families, "any": _wrong_types, "text": _text_families, "json": _json_families,
}


def families(arg: Arg) -> list[tuple[str, str, Callable[[Any], Any]]]:
    return FAMILIES[arg.kind](arg)


def mutations(target: Target) -> st.SearchStrategy:
    """A strategy of (arg, family) picks for ``target``: every family of every argument, uniformly."""
    picks = [(a.name, name) for a in target.args for name, _, _ in families(a)]
    return st.sampled_from(picks)


# ---- running one call ---------------------------------------------------------------------------------------------
class Hang(BaseException):
    """Raised by the alarm: the call ran past its time limit (a BaseException, so ``except Exception`` in the code
    under test cannot swallow it)."""


@contextlib.contextmanager
def time_limit(seconds: float):
    def alarm(signum, frame):
        raise Hang(f"ran past {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _vm_bytes() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@contextlib.contextmanager
def guarded(max_bytes: int = 2**26, headroom: int = 6 * 2**30):
    """``HESSVERIFY_MAX_BYTES`` for the validation layer and an address-space limit for everything else (so an
    unchecked huge allocation fails instead of swapping); both restored afterwards."""
    old_env, old_cwd = os.environ.get("HESSVERIFY_MAX_BYTES"), os.getcwd()
    os.environ["HESSVERIFY_MAX_BYTES"] = str(max_bytes)
    os.chdir(SCRATCH)  # a relative path (a default output folder) lands in the scratch folder
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    vm = _vm_bytes()
    limited = bool(vm) and (hard == resource.RLIM_INFINITY or vm + headroom < hard)
    if limited:
        resource.setrlimit(resource.RLIMIT_AS, (vm + headroom, hard))
    try:
        yield
    finally:
        os.chdir(old_cwd)
        if limited:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        if old_env is None:
            os.environ.pop("HESSVERIFY_MAX_BYTES", None)
        else:
            os.environ["HESSVERIFY_MAX_BYTES"] = old_env


def _seeded():
    torch.manual_seed(0)
    np.random.seed(0)


def base_kwargs(target: Target) -> tuple[list, dict]:
    args, kwargs = [], {}
    for a in target.args:
        if a.keyword:
            kwargs[a.name] = a.make()
        else:
            args.append(a.make())
    return args, kwargs


def invoke(target: Target, replace: dict | None = None):
    args, kwargs = base_kwargs(target)
    replace = replace or {}
    names = [a.name for a in target.args if not a.keyword]
    for name, value in replace.items():
        if name in kwargs:
            kwargs[name] = value
        else:
            args[names.index(name)] = value
    _seeded()
    return target.fn(*args, **kwargs), {**dict(zip(names, args)), **kwargs}


_BASE: dict[str, Any] = {}


def base_result(target: Target):
    if target.name not in _BASE:
        with guarded():
            _BASE[target.name] = invoke(target)[0]
    return _BASE[target.name]


def _short(value) -> str:
    try:
        if isinstance(value, torch.Tensor):
            text = f"tensor(shape={tuple(value.shape)}, dtype={value.dtype}, device={value.device})"
        elif isinstance(value, np.ndarray):
            text = f"array(shape={value.shape}, dtype={value.dtype})"
        else:
            text = repr(value)
    except Exception:  # noqa: BLE001
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= 70 else text[:67] + "..."


class NotApplicable(Exception):
    """The family cannot be built from this argument's base value (e.g. ``.numpy()`` of a list)."""


def make_mutation(target: Target, arg_name: str, family: str, draw=None) -> Mutation:
    """The value of ``family`` for ``arg_name`` (``draw``: hypothesis's, for the drawn families)."""
    arg = next(a for a in target.args if a.name == arg_name)
    _, expect, build = next(f for f in families(arg) if f[0] == family)
    drawn = build.__code__.co_argcount == 2
    if drawn and draw is None:
        raise NotApplicable(f"{family} needs hypothesis's draw")
    try:
        value = build(arg.make(), draw) if drawn else build(arg.make())
    except Exception as e:  # noqa: BLE001
        raise NotApplicable(f"{family} of {arg_name}: {type(e).__name__}: {e}") from None
    if isinstance(value, Expect):
        value, expect = value.value, value.expect
    expect = {(a, f): e for a, f, e in target.expect}.get((arg_name, family), expect)
    return Mutation(arg_name, family, expect, value, _short(value))


_THIRD_PARTY = re.compile(r"[/\\](torch|numpy|scipy|sklearn|sympy)[/\\]")


def _raised_in_third_party(exc: BaseException) -> bool:
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    return last is not None and bool(_THIRD_PARTY.search(last.tb_frame.f_code.co_filename))


def _names_arg(message: str, arg: Arg, value=None) -> bool:
    """The message names the argument (or, for a path, the file it names: "each error naming the file")."""
    if arg.kind == "path" and isinstance(value, (str, os.PathLike)) and str(value) and str(value) in message:
        return True
    words = (arg.name, *arg.names)
    return any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(w)}(?![A-Za-z0-9_])", message) for w in words)


def has_nan(obj, depth: int = 0) -> bool:
    if depth > 6:
        return False
    if isinstance(obj, torch.Tensor):
        return bool(obj.is_floating_point() or obj.is_complex()) and obj.device.type != "meta" and bool(torch.isnan(obj).any())
    if isinstance(obj, np.ndarray):
        return obj.dtype.kind in "fc" and bool(np.isnan(obj).any())
    if isinstance(obj, (float, np.floating)):
        return math.isnan(obj)
    if isinstance(obj, (list, tuple)):
        return any(has_nan(o, depth + 1) for o in obj)
    if isinstance(obj, dict):
        return any(has_nan(o, depth + 1) for o in obj.values())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return any(has_nan(getattr(obj, f.name), depth + 1) for f in dataclasses.fields(obj))
    if isinstance(obj, torch.nn.Module):
        return any(has_nan(p, depth + 1) for p in obj.state_dict().values())
    return False


def same(a, b, depth: int = 0) -> bool:
    """Equal results: tensors and arrays to 1e-9 relative (a non-contiguous layout may sum in another order)."""
    if depth > 6:
        return True
    if isinstance(a, torch.nn.Module) and isinstance(b, torch.nn.Module):
        sa, sb = a.state_dict(), b.state_dict()
        return type(a) is type(b) and sa.keys() == sb.keys() and all(same(sa[k], sb[k], depth + 1) for k in sa)
    if isinstance(a, (torch.Tensor, np.ndarray)) or isinstance(b, (torch.Tensor, np.ndarray)):
        try:
            ta, tb = (x if isinstance(x, torch.Tensor) else torch.as_tensor(np.ascontiguousarray(x)) for x in (a, b))
        except Exception:  # noqa: BLE001
            return False
        if ta.shape != tb.shape or ta.dtype != tb.dtype:
            return False
        if ta.is_floating_point():
            return bool(torch.allclose(ta, tb, rtol=1e-9, atol=1e-12, equal_nan=True))
        return bool(torch.equal(ta, tb))
    if isinstance(a, (float, np.floating)) and isinstance(b, (float, np.floating)):
        return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y, depth + 1) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], depth + 1) for k in a)
    if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b) and type(a) is type(b):
        return all(same(getattr(a, f.name), getattr(b, f.name), depth + 1) for f in dataclasses.fields(a)
                   if f.name not in ("seconds", "elapsed", "wall_time", "num_matvecs"))  # costs may differ
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001
        return type(a) is type(b)


def run_call(target: Target, mutation: Mutation, *, seconds: float = 10.0) -> Call:
    """Run ``target`` with ``mutation`` applied and classify the outcome."""
    arg = next(a for a in target.args if a.name == mutation.arg)
    start = time.perf_counter()
    detail = ""
    try:
        base = base_result(target) if mutation.expect == "equivalent" else None
        with guarded(), time_limit(seconds):
            result, kwargs = invoke(target, {mutation.arg: mutation.value})
    except Hang as e:
        return Call(target.name, mutation, "hang", str(e), time.perf_counter() - start)
    except (ValueError, TypeError, *target.errors) as e:
        message = f"{type(e).__name__}: {e}"
        named = _names_arg(str(e), arg, mutation.value)
        if isinstance(e, (ValueError, TypeError)) and not isinstance(e, target.errors) and _raised_in_third_party(e) \
                and not named:
            outcome = "deep"
            detail = message + " | " + _where(e)
        elif named or isinstance(e, target.errors):
            outcome = "refused" if mutation.expect == "equivalent" else "clear"
            detail = message
        else:
            outcome = "unclear"
            detail = message + " | " + _where(e)
        return Call(target.name, mutation, outcome, _trim(detail), time.perf_counter() - start)
    except Exception as e:  # noqa: BLE001 - every other type is what the oracle forbids
        return Call(target.name, mutation, "deep", _trim(f"{type(e).__name__}: {e} | {_where(e)}"),
                    time.perf_counter() - start)
    elapsed = time.perf_counter() - start
    refused = target.refusal(result) if target.refusal is not None else None
    if refused is not None:
        named = _names_arg(refused, arg, mutation.value)
        outcome = ("refused" if mutation.expect == "equivalent" else "clear") if named else "unclear"
        return Call(target.name, mutation, outcome, _trim(f"refusal: {refused}"), elapsed)
    if mutation.expect == "invalid":
        return Call(target.name, mutation, "silent", "returned for an invalid value", elapsed)
    if not target.nan_ok and has_nan(result):
        return Call(target.name, mutation, "silent", "returned NaN", elapsed)
    if mutation.expect == "equivalent" and not same(result, base):
        return Call(target.name, mutation, "silent", "result differs from the base call's", elapsed)
    if target.check is not None:
        try:
            with guarded():
                target.check(result, kwargs)
        except AssertionError as e:
            return Call(target.name, mutation, "silent", _trim(f"wrong answer: {e}"), elapsed)
        except Exception as e:  # noqa: BLE001 - a result the reference cannot even read is wrong too
            return Call(target.name, mutation, "silent", _trim(f"unusable result: {type(e).__name__}: {e}"), elapsed)
    return Call(target.name, mutation, "correct", "", elapsed)


def _where(e: BaseException) -> str:
    frames = traceback.extract_tb(e.__traceback__)
    if not frames:
        return "?"
    f = frames[-1]
    path = f.filename
    for marker in ("site-packages/", "hessverify/", "tests/"):
        if marker in path:
            path = path[path.index(marker):]
            break
    return f"{path}:{f.lineno}"


def _trim(text: str, n: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."
