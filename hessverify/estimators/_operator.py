"""Any symmetric operator as one interface: ``shape``, ``dtype``, ``device`` and a counted ``matmat``.

Accepted: a dense square torch tensor or numpy array, a ``scipy.sparse.linalg.LinearOperator`` (or scipy
sparse matrix), a ``hessverify.operators`` object, or anything with ``.shape`` and ``.matvec``.
"""
from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla
import torch

from hessverify._validation import (as_bool, as_float, as_int, as_seed, check_choice, check_finite,
                                    check_generator, check_real_floating, check_tensor)

#: the type of every estimator's ``callback``: called with a dict of progress information (``step``,
#: ``num_matvecs`` and the estimator's own entries); its return value is ignored
Callback = Callable[[dict], object]

#: columns materialised per product when a matrix-free operator is made dense
DENSE_BLOCK = 256


#: the safe range of an operator's scale is ``[2^(f log2 tiny), 2^(-f log2 tiny)]`` with this ``f``: squares of
#: Lanczos coefficients, norms and LAPACK's tridiagonal eigensolvers stay normal inside it (float64: 3e-139 to
#: 3e138; float32: 7e-18 to 1.4e17). An outside review found Lanczos norms underflowing to 0 at 1e-160
#: (float64) and 1e-25 (float32), which certified wrong answers, and NaN eigenvectors at 1e150.
SAFE_SCALE_FRACTION = 0.45


def safe_scale_range(dtype: torch.dtype, n: int) -> tuple[float, float]:
    """``(lo, hi)``: the magnitudes of an operator's entries, or of its products' gains ``max|Av| / max|v|``,
    that the estimators handle in ``dtype`` (powers of two). ``hi`` also keeps ``||A v||`` finite for unit
    ``v``: ``||A||_2 <= n max|a_ij|``, and the norm of an ``n``-vector squares it."""
    fi = torch.finfo(dtype)
    e = round(SAFE_SCALE_FRACTION * math.log2(fi.tiny))
    return 2.0**e, min(2.0**-e, fi.max**0.5 / (16 * max(n, 1)))


def scale_error(what: str, size: float, dtype: torch.dtype, n: int) -> ValueError:
    lo, hi = safe_scale_range(dtype, n)
    return ValueError(f"op {what} {size:.3g}, outside the range {lo:.2g} to {hi:.2g} where {dtype} Lanczos norms "
                      "and tridiagonal eigensolvers are safe (squares would underflow or overflow); rescale op "
                      "by a power of two: op * 2**k for a tensor, array or scipy LinearOperator, "
                      "op.to_scipy() * 2**k for a curvature operator (float64); then divide the eigenvalues and "
                      "traces by 2**k")


def _check_size_and_symmetry(big: float, n: int, scale, asym, dtype: torch.dtype) -> None:
    """Refuse a stored matrix (dense or sparse) whose largest entry ``big`` lies outside
    :func:`safe_scale_range` (its products and norms would underflow or overflow ``dtype``), or whose skew
    part ``asym()`` exceeds the symmetry tolerance relative to ``scale()`` (Frobenius norms, computed only once
    the entries are known to be in range)."""
    lo, hi = safe_scale_range(dtype, n)
    if big > hi or 0 < big < lo:
        raise scale_error("has entries up to", big, dtype, n)
    norm, skew = scale(), asym()
    if skew > symmetry_tolerance(dtype) * max(norm, torch.finfo(dtype).tiny):
        raise ValueError(
            f"op is not symmetric: ||A - A^T||_F / ||A||_F = {skew / norm:.2e}; these estimators need a "
            "symmetric matrix (pass (A + A.T) / 2 if the asymmetry is rounding)"
        )


class SymmetricOperator:
    """Wraps an operator; ``num_matvecs`` counts columns multiplied since creation."""

    def __init__(self, op, *, check_symmetry: bool = True, seed: int | None = None):
        check_symmetry = as_bool("check_symmetry", check_symmetry)
        seed = check_seed(seed)
        self.num_matvecs = 0
        self._dense: torch.Tensor | None = None
        if isinstance(op, SymmetricOperator):
            self.__dict__.update(op.__dict__)
            self.num_matvecs = 0
            return
        if isinstance(op, np.ndarray):
            check_operator_dtype(op.dtype)
            op = torch.from_numpy(np.ascontiguousarray(op))
        dtype = getattr(op, "dtype", None)
        if isinstance(dtype, (torch.dtype, np.dtype)):
            check_operator_dtype(dtype)
        if isinstance(op, torch.Tensor):
            self._init_dense(op)
        elif sp.issparse(op):
            self._init_sparse(op)
        elif isinstance(op, sla.LinearOperator):
            self._init_scipy(op)
        elif hasattr(op, "shape") and hasattr(op, "matvec"):
            self._init_generic(op)
        else:
            raise TypeError(
                f"op must be a square tensor/array, a scipy LinearOperator, or have .shape and .matvec; "
                f"got {type(op).__name__}"
            )
        if check_symmetry and self._dense is None and not getattr(self, "_symmetric", False):
            self._probe_symmetry(seed)

    # -- construction -------------------------------------------------------------------------------
    def _set_shape(self, shape) -> None:
        shape = tuple(int(s) for s in shape)
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"op must be square, got shape {shape}; curvature operators are d x d")
        if shape[0] < 1:
            raise ValueError("op is empty (0 x 0)")
        self.shape = shape
        self.size = shape[0]

    def _init_dense(self, A: torch.Tensor) -> None:
        self._set_shape(A.shape)
        check_finite("op", A)  # NaN/Inf, and the meta device (no values)
        A = A.detach()  # a matrix that requires grad: its values, not its graph
        if not A.is_floating_point():
            A = A.to(torch.float64)
        _check_size_and_symmetry(float(A.abs().max()), A.shape[0], lambda: float(torch.linalg.matrix_norm(A)),
                                 lambda: float(torch.linalg.matrix_norm(A - A.T)), A.dtype)
        self._dense = A
        self.dtype, self.device = A.dtype, A.device
        self._mm = lambda V: A @ V

    def _init_sparse(self, M) -> None:
        """A scipy sparse matrix stays sparse: products ``M @ V`` on numpy blocks (never densified, so
        ``sp.eye(10**6)`` costs its non-zeros); symmetry and finiteness are checked on the stored entries."""
        self._set_shape(M.shape)
        M = sp.csr_matrix(M, dtype=np.float64)
        if not np.isfinite(M.data).all():
            raise ValueError("op contains NaN or Inf entries")
        _check_size_and_symmetry(float(np.abs(M.data).max()) if M.nnz else 0.0, M.shape[0],
                                 lambda: float(sp.linalg.norm(M)), lambda: float(sp.linalg.norm(M - M.T)),
                                 torch.float64)
        self.dtype, self.device = torch.float64, torch.device("cpu")
        self._mm = lambda V: torch.from_numpy(np.asarray(M @ V.cpu().numpy()))
        self._symmetric = True

    def _init_scipy(self, op: sla.LinearOperator) -> None:
        self._set_shape(op.shape)
        self.dtype, self.device = torch.float64, torch.device("cpu")

        def mm(V: torch.Tensor) -> torch.Tensor:
            out = op.matmat(V.cpu().numpy())
            return torch.as_tensor(np.asarray(out), dtype=torch.float64)

        self._mm = mm

    def _init_generic(self, op) -> None:
        self._set_shape(op.shape)
        self.dtype = getattr(op, "dtype", torch.float64)
        if not isinstance(self.dtype, torch.dtype):
            self.dtype = torch.float64
        self.device = torch.device(getattr(op, "device", "cpu"))
        if hasattr(op, "matmat"):
            self._mm = op.matmat
        else:
            self._mm = lambda V: torch.stack([op.matvec(V[:, j]) for j in range(V.shape[1])], dim=1)

    def _probe_symmetry(self, seed: int | None) -> None:
        """Cheap test ``u.Av == v.Au`` for two random vectors (2 matvecs)."""
        g = make_generator(self.device, 12345 if seed is None else seed + 1)
        UV = torch.randn(self.size, 2, generator=g, dtype=self.dtype, device=self.device)
        AUV = self.matmat(UV)
        if not bool(torch.isfinite(AUV).all()):
            raise ValueError("op returned NaN or Inf for a random vector; check the model, data and parameters")
        a, b = float(UV[:, 0] @ AUV[:, 1]), float(UV[:, 1] @ AUV[:, 0])
        scale = float(torch.linalg.vector_norm(AUV)) * float(torch.linalg.vector_norm(UV))
        if abs(a - b) > symmetry_tolerance(self.dtype) * max(scale, torch.finfo(self.dtype).tiny):
            raise ValueError(
                f"op is not symmetric: u.(Av) = {a:.6g} but v.(Au) = {b:.6g} for random u, v; these estimators "
                "need a symmetric operator"
            )

    # -- use ----------------------------------------------------------------------------------------
    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        """``A V``, checked: a product of the wrong shape, or one that turns NaN/Inf, stops the estimator with an
        error naming the product, never a silent NaN answer."""
        self.num_matvecs += V.shape[1]
        out = torch.as_tensor(self._mm(V))
        if tuple(out.shape) != tuple(V.shape):
            raise ValueError(f"op's product has shape {tuple(out.shape)} for an operand of shape {tuple(V.shape)}; a "
                             f"d x d operator must map ({self.size}, k) to ({self.size}, k)")
        out = out.to(dtype=self.dtype, device=self.device)
        if out.numel():
            # one reduction and one host transfer serve both checks: max|A V| is finite exactly when A V is
            top_in, top_out = torch.stack([V.abs().max().to(out), out.abs().max()]).tolist()
            if not math.isfinite(top_in):  # the estimator's own vector: a bug here, never the user's operator
                raise RuntimeError(f"hessverify passed a NaN or Inf vector to op at product {self.num_matvecs}; "
                                   "this is a bug in the estimator, please report it with the call that raised it")
            if not math.isfinite(top_out):
                raise ValueError(f"op returned NaN or Inf at product {self.num_matvecs} (its input was finite); check "
                                 "the model, data and parameters, or rescale an operator whose entries overflow")
            self._check_scale(top_in, top_out)
        return out

    def _check_scale(self, top_in: float, top_out: float) -> None:
        """The gain ``max|A V| / max|V|`` of a product (no squares, so it cannot underflow) must lie in
        :func:`safe_scale_range`: below its top on every product (a start vector can hide a huge direction), and
        above its bottom on the first product that is not zero (later ones may meet a null space). A matrix-free
        operator has no other measure of scale."""
        if top_out == 0 or top_in == 0:
            return
        gain = top_out / top_in
        lo, hi = safe_scale_range(self.dtype, self.size)
        if gain > hi or (gain < lo and not getattr(self, "_scale_checked", False)):
            raise scale_error("has products of size", gain, self.dtype, self.size)
        self._scale_checked = True

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self.matmat(v[:, None])[:, 0]

    def dense(self, callback=None) -> torch.Tensor:
        """The full matrix (identity columns through ``matmat``, ``DENSE_BLOCK`` at a time, unless it is already
        dense); ``callback(info)`` after each block."""
        if self._dense is not None:
            if callback is not None:
                callback({"step": self.size, "num_matvecs": 0})
            return self._dense
        eye = torch.eye(self.size, dtype=self.dtype, device=self.device)
        before = self.num_matvecs
        blocks = []
        for i in range(0, self.size, DENSE_BLOCK):
            blocks.append(self.matmat(eye[:, i : i + DENSE_BLOCK]))
            if callback is not None:
                callback({"step": min(self.size, i + DENSE_BLOCK), "num_matvecs": self.num_matvecs - before})
        return torch.cat(blocks, dim=1)

    @property
    def eps(self) -> float:
        return torch.finfo(self.dtype).eps


def symmetry_tolerance(dtype: torch.dtype) -> float:
    """Relative asymmetry accepted as rounding: ``10 sqrt(eps)`` (1.5e-7 in float64, 3.5e-3 in float32)."""
    return 10 * torch.finfo(dtype).eps ** 0.5


def check_seed(seed) -> int | None:
    """``seed`` as an int in ``[0, 2**63)`` or None (``seed=1.5``, ``True`` and ``"7"`` are refused, never rounded)."""
    return None if seed is None else as_seed("seed", seed)


def check_operator_dtype(dtype) -> None:
    """Refuse complex, bool and half-precision operators (integer matrices are converted to float64)."""
    tdtype = dtype if isinstance(dtype, torch.dtype) else None
    if isinstance(dtype, np.dtype):
        if np.issubdtype(dtype, np.complexfloating):
            raise TypeError(f"op is complex ({dtype}); these estimators are for real symmetric operators "
                            "(a Hermitian matrix needs a complex eigensolver)")
        if dtype == np.bool_:
            tdtype = torch.bool
        elif dtype.kind in "iu":
            return
        elif dtype.kind == "f":
            tdtype = torch.from_numpy(np.empty(0, dtype=dtype)).dtype
        else:
            raise TypeError(f"op is an array of {dtype}; pass a float32 or float64 matrix")
    if tdtype is None:
        return
    if tdtype.is_complex:
        raise TypeError(f"op is complex ({tdtype}); these estimators are for real symmetric operators "
                        "(a Hermitian matrix needs a complex eigensolver)")
    if tdtype == torch.bool:
        raise TypeError("op has dtype bool; pass a float64 (or float32) matrix, e.g. op.double()")
    if tdtype.is_floating_point:
        check_real_floating("op entries", tdtype)


def make_generator(device, seed: int | None, generator: torch.Generator | None = None) -> torch.Generator:
    """A generator on ``device``: ``generator`` if given, else seeded with ``seed`` (random if None)."""
    generator = check_generator("generator", generator)
    if generator is not None:
        return generator
    seed = check_seed(seed)
    g = torch.Generator(device=device)
    if seed is None:
        g.seed()
    else:
        g.manual_seed(seed)
    return g


def emit_warnings(notes) -> tuple[str, ...]:
    """Issue each note as a ``RuntimeWarning`` at the estimator's caller; return them for the result."""
    import warnings

    for note in notes:
        warnings.warn(note, RuntimeWarning, stacklevel=3)
    return tuple(notes)


def check_tol(tol, dtype: torch.dtype) -> float:
    """``tol`` (relative to ||A||) as a finite float in ``(0, 1)``; None gives :func:`default_tol`. A ``tol`` below
    the dtype's rounding cannot be met: the iteration runs to ``max_iter`` and says it did not converge."""
    if tol is None:
        return default_tol(dtype)
    try:
        return as_float("tol", tol, minimum=0, maximum=1, min_inclusive=False, max_inclusive=False)
    except ValueError as e:
        raise ValueError(f"{e}: a residual relative to ||A|| of 1 or more certifies nothing; pass e.g. 1e-8") from None
    except TypeError as e:
        raise TypeError(f"{e}; pass a number such as 1e-8 (relative to ||A||)") from None


def check_v0(v0, size: int, dtype: torch.dtype, device) -> torch.Tensor | None:
    """A start vector: finite, non-zero, of length ``size``."""
    if v0 is None:
        return None
    v = real_tensor("v0", v0, "a start vector (or None for a random one)")
    if v.shape != (size,):
        raise ValueError(f"v0 has shape {tuple(v.shape)} but op has size {size}; pass a 1-D vector of that length")
    v = v.to(dtype=dtype, device=device)
    if float(torch.linalg.vector_norm(v)) == 0:
        raise ValueError("v0 is zero; pass a non-zero start vector (or None for a random one)")
    return v


def real_tensor(name: str, x, what: str) -> torch.Tensor:
    """``x`` (a tensor or numpy array) with real, finite entries, not on the meta device: float32/float64 as
    given, integers converted to float64; bool, half precision and complex refused."""
    if not isinstance(x, (torch.Tensor, np.ndarray)):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array ({what}), got {type(x).__name__}")
    x = check_tensor(name, x, dtype="any", allow_empty=True, finite=False)
    if x.dtype == torch.bool:
        raise TypeError(f"{name} has dtype bool; pass {what} of float64 numbers")
    if x.is_complex() or x.is_floating_point():
        check_real_floating(name, x.dtype)
    check_finite(name, x)
    return x if x.is_floating_point() else x.to(torch.float64)


def default_tol(dtype: torch.dtype) -> float:
    """Residual tolerance relative to ||A||: 1e-10 in float64, 1e-4 in float32/half."""
    return 1e-10 if dtype == torch.float64 else 1e-4


def check_k(k, size: int, *, name: str = "k", strict: bool = True) -> int:
    """``k`` as an int in ``[1, size)`` (``[1, size]`` when not strict); numpy integers are ints."""
    k = as_int(name, k)
    upper = size - 1 if strict else size
    if not 1 <= int(k) <= upper:
        hint = "; use exact(op) or lanczos_ritz(op) for the whole spectrum" if strict else ""
        raise ValueError(f"{name}={k} must satisfy 1 <= {name} <= {upper} for an operator of size {size}{hint}")
    return int(k)


def check_count(value, name: str, minimum: int = 1) -> int:
    """A positive count such as a number of samples or iterations, in ``[minimum, 2**63)`` (numpy integers pass,
    ``2.0`` and ``True`` do not)."""
    return as_int(name, value, minimum=minimum, maximum=COUNT_MAX)


#: the largest count accepted (a count beyond it could not index a tensor)
COUNT_MAX = 2**63 - 1


@dataclass(frozen=True)
class EigenOptions:
    """The validated shared arguments of every eigen-estimator."""

    k: int
    tol: float
    max_iter: int
    v0: torch.Tensor | None
    callback: object


def check_eigen_options(A: SymmetricOperator, k, *, which, tol, max_iter, v0, callback, whiches,
                        default_max_iter: int, strict_k: bool = True) -> EigenOptions:
    """One place that validates ``(k, which, tol, max_iter, v0, callback)`` for every eigen-estimator, with
    errors that name the argument."""
    k = check_k(k, A.size, strict=strict_k)
    try:
        which = check_choice("which", which, tuple(whiches))
    except ValueError as e:
        raise ValueError(f"{e} (as scipy.sparse.linalg.eigsh)") from None
    max_iter = default_max_iter if max_iter is None else check_count(max_iter, "max_iter")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a callable(info: dict) or None, got {type(callback).__name__}")
    return EigenOptions(k, check_tol(tol, A.dtype), max_iter, check_v0(v0, A.size, A.dtype, A.device), callback)


def check_probability(p, name: str) -> float:
    """A probability in the open interval ``(0, 1)``."""
    try:
        return as_float(name, p, minimum=0, maximum=1, min_inclusive=False, max_inclusive=False)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{e}; pass a probability in (0, 1), e.g. 1e-6") from None


def with_progress(callback, progress: bool, name: str):
    """``callback`` plus, with ``progress=True``, a tqdm bar when tqdm is installed (else a line on stderr every 10
    steps). Nothing is shown by default."""
    progress = as_bool("progress", progress)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a callable(info: dict) or None, got {type(callback).__name__}")
    if not progress:
        return callback
    try:
        from tqdm.auto import tqdm

        bar = tqdm(desc=name, unit="step", leave=False)
    except ImportError:
        bar = None

    def report(info: dict) -> None:
        if callback is not None:
            callback(info)
        step = info.get("step", 0)
        best = info.get("ritz_values")
        shown = "" if best is None or len(best) == 0 else f"best {float(best[0]):.10g}"
        if bar is not None:
            bar.n = step
            bar.set_postfix_str(f"{info.get('num_matvecs', 0)} products {shown}", refresh=True)
        elif step % 10 == 0:
            print(f"[{name}] step {step}, {info.get('num_matvecs', 0)} products, {shown}", file=sys.stderr, flush=True)

    return report
