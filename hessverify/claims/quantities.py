"""Certified measurements of a setting's curvature quantities (the right-hand side of every claim).

Each quantity comes with a bound on its distance to the exact value (:class:`Measurement`), from the route
that resolves it best:

- spectra, extreme eigenvalues: dense ``eigh`` up to ``EXACT_MAX`` (for an MSE GGN the NTK side when it is
  smaller, 003 eq 3-5), Lanczos Ritz residuals above;
- trace: the dense spectrum, else ``sum_i e_i^T A e_i`` from ``d`` products up to ``EXACT_TRACE_MAX``
  (rounding only), else Hutchinson sampled in rounds, judged by an anytime-valid confidence sequence
  (:mod:`hessverify.claims.sequential`) until it decides or ``HUTCHINSON_BUDGET`` products are spent;
- rank: exactly, in rational arithmetic, when the setting is rational (``build_setting(exact=True)``: linear
  networks and CNNs under MSE, symmetric matrices; :mod:`hessverify.exact`). Otherwise an *interval* of counts
  from floating point: eigenvalues above ``certificate + rounding`` are non-zero for certain, structural zeros
  (the ``d - n d_L`` zeros of an MSE GGN, 003 eq 3-5) are zero for certain, and every other eigenvalue is
  unresolved, however small: floating point cannot tell 1e-17 from 0. Each unresolved eigenvalue widens the
  interval by one, and a verdict inside it is ``inconclusive`` ("needs the exact route").
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from hessverify._validation import as_float, as_int
from hessverify.claims.sequential import sequential_mean
from hessverify.claims.settings import Setting
from hessverify.claims.verdict import RESOLUTION, Measurement, rounding
from hessverify.estimators import exact, lanczos
from hessverify.exact import ExactProblem, exact_rank
from hessverify.exact.construct import to_fmpq_mat
from hessverify.operators import ggn, hessian, ntk

QUANTITIES = ("spectrum", "top_k", "lambda_max", "lambda_min", "trace", "rank", "dense")
OPERATORS = ("ggn", "hessian", "ntk", "matrix")
#: dense eigensolvers are used up to this size; larger operators go through Lanczos / trace routes
EXACT_MAX = 1500
#: up to this size a trace is summed from the d products with the unit vectors (exact to rounding)
EXACT_TRACE_MAX = 20_000
#: the most products adaptive Hutchinson spends before it leaves a trace claim inconclusive
HUTCHINSON_BUDGET = 8192


def build_operator(setting, operator: str):
    """The operator of ``setting`` named ``operator`` (``matrix``: the setting's own symmetric matrix).

    Parameters
    ----------
    setting : Setting
        A drawn or built setting (:func:`build_setting`).
    operator : {"ggn", "hessian", "ntk", "matrix"}
        The GGN or the Hessian of ``setting.loss`` at the setting's weights and data, the NTK ``J J^T / n`` of
        its inputs, or the setting's own symmetric matrix (a :func:`symmetric_matrices` draw).

    Returns
    -------
    CurvatureOperator or torch.Tensor
        A :mod:`hessverify.operators` operator, or the matrix as a tensor for ``"matrix"``.
    """
    if operator not in OPERATORS:
        raise ValueError(f"operator={operator!r} is not supported; use one of {OPERATORS}")
    if operator == "matrix":
        if setting.matrix is None:
            raise ValueError("operator='matrix' needs a symmetric_matrices() setting")
        return torch.as_tensor(setting.matrix)
    if operator == "ntk":
        return ntk(setting.model, setting.X)
    if operator == "hessian":
        return hessian(setting.model, setting.loss, setting.X, setting.loss_targets)
    return ggn(setting.model, setting.loss, setting.X, setting.loss_targets)


def _spectrum(setting, operator: str, op, floor: float = 0.0):
    """All eigenvalues (descending) and per-value bounds, on the cheaper exact side when possible.

    ``floor``: the absolute rounding allowance per entry (:func:`softmax_rounding`). Where it is positive, a skew
    part within it is rounding, not an asymmetric operator: the dense matrix is symmetrised and the skew part's
    norm added to every bound (it moves each eigenvalue by at most ``||(A - A^T)/2||_2``)."""
    d = op.shape[0]
    if operator == "ggn" and setting.loss == "mse":
        m = setting.n * setting.dL
        if m < d:  # 003 eq (3)-(5): GGN and NTK share non-zero eigenvalues; the other d - m are exactly zero
            r = exact(ntk(setting.model, setting.X))
            vals = np.concatenate([r.eigenvalues.double().cpu().numpy(), np.zeros(d - m)])
            err = np.concatenate([r.residuals.double().cpu().numpy(), np.zeros(d - m)])
            return vals, err, d, "exact(ntk)+zeros", r.num_matvecs, m
    if d > EXACT_MAX:
        raise ValueError(f"the whole spectrum of a {d}x{d} operator is too large to verify exactly (max {EXACT_MAX})")
    skew = 0.0
    if floor > 0:
        M = op.dense().double()
        skew = float(torch.linalg.matrix_norm(M - M.T)) / 2
        if skew <= d * floor:  # within the entries' rounding (Frobenius of d x d entries each <= floor)
            op = (M + M.T) / 2
        else:
            skew = 0.0  # a real asymmetry: exact() names it
    r = exact(op)
    err = r.residuals.double().cpu().numpy() + skew
    return r.eigenvalues.double().cpu().numpy(), err, d, "exact", r.num_matvecs, d


#: the reason an unresolved rank interval gives, for the verdict and the table
NEEDS_EXACT = ("needs the exact route: build the setting with exact=True (rational linear models, "
               "hessverify.exact)")


def rank_interval(vals: np.ndarray, err: np.ndarray, computed: int, eps: float) -> Measurement:
    """The number of non-zero eigenvalues as an interval ``value +- error`` (see the module docstring).

    ``computed``: how many of ``vals`` came out of a floating-point eigensolver; the rest (``vals[computed:]``)
    are structural zeros. An eigenvalue within ``certificate + rounding`` of zero is unresolved: it may be zero
    or not, and widens the interval by one.
    """
    d = vals.size
    scale = float(np.abs(vals).max(initial=0.0))
    floating = np.arange(d) < computed
    certain = np.abs(vals) > err + rounding(computed, scale, eps)
    lo, hi = int(certain.sum()), int((certain | floating).sum())
    note = (f"{hi - lo} of {d} eigenvalues lie within the rounding band of zero (|lambda| <= "
            f"{rounding(computed, scale, eps):.2g} + certificate), so the count is {lo}..{hi}; {NEEDS_EXACT}"
            ) if hi > lo else ""
    return Measurement(np.asarray((lo + hi) / 2), np.asarray((hi - lo) / 2), "rank interval", d, eps, count=True,
                       note=note)


def softmax_rounding(setting, operator: str, d: int, eps: float) -> tuple[float, str]:
    """An absolute rounding allowance for the cross-entropy GGN/Hessian: their output Hessian
    ``diag(p) - p p^T`` is formed from probabilities of size up to 1, so each entry carries an absolute error of
    order ``eps`` even where it is far smaller than that (a saturated softmax, ``p(1 - p) << eps``, computes
    ``p - p^2`` as 0). Through ``J`` that is at most ``ROUNDING_ULPS d eps ||J||_F^2 / n`` per entry, far above the
    relative allowance when the network is saturated. Zero for other losses and operators."""
    if operator not in ("ggn", "hessian") or setting.loss != "cross_entropy":
        return 0.0, ""
    J = ntk(setting.model, setting.X).jacobian()
    floor = rounding(d, float((J.double() ** 2).sum()) / setting.n, eps)
    return floor, f"softmax rounding: +-{floor:.2g} absolute per entry (||J||_F^2 / n scale)"


def exact_rank_of(setting, operator: str) -> Measurement | None:
    """The rank of ``operator`` on a rational setting (``exact=True``), computed exactly; None where there is
    no exact route (no rational data, a non-MSE loss for the GGN/Hessian)."""
    data = setting.exact
    if data is None:
        return None
    if operator == "matrix":
        M = to_fmpq_mat(data.matrix)
        return Measurement(np.asarray(float(exact_rank(M))), np.asarray(0.0), "exact rational rank", M.nrows(),
                           0.0, count=True)
    if operator in ("ggn", "hessian") and setting.loss != "mse":
        return None
    problem = ExactProblem(setting.model, setting.X, values=data.values, X_exact=data.X, Y_exact=data.Y)
    M = problem.hessian() if operator == "hessian" else problem.jacobian()  # rank GGN = rank NTK = rank J
    size = problem.num_params if operator != "ntk" else setting.n * problem.d_out
    return Measurement(np.asarray(float(exact_rank(M))), np.asarray(0.0), f"exact rational rank ({operator})",
                       size, 0.0, count=True)


def functional_hessian_rank(setting) -> Measurement:
    """The rank of the functional term ``H_f = H - G`` (2106.16225): exact on a rational setting, else an
    interval (see ``rank_interval``).

    In floating point ``H`` and ``G`` are formed densely; each entry of the difference carries rounding relative to
    ``||H|| + ||G||`` (not to ``||H_f||``, which may be far smaller), so that is the certificate each eigenvalue
    gets, and an eigenvalue inside it is unresolved."""
    if setting.exact is not None and setting.loss == "mse":
        problem = ExactProblem(setting.model, setting.X, values=setting.exact.values, X_exact=setting.exact.X,
                               Y_exact=setting.exact.Y)
        return Measurement(np.asarray(float(exact_rank(problem.functional()))), np.asarray(0.0),
                           "exact rational rank of H - G", problem.num_params, 0.0, count=True)
    H = build_operator(setting, "hessian").dense().double()
    G = build_operator(setting, "ggn").dense().double()
    d = H.shape[0]
    if d > EXACT_MAX:
        raise ValueError(f"the functional Hessian rank of a {d}x{d} operator needs dense matrices (max {EXACT_MAX})")
    eps = float(torch.finfo(setting.dtype).eps)
    F = ((H - G) + (H - G).T) / 2
    vals = np.linalg.eigvalsh(F.numpy())[::-1]
    big = float(torch.linalg.matrix_norm(H, 2) + torch.linalg.matrix_norm(G, 2))
    certain = np.abs(vals) > 2 * rounding(d, big, eps)  # the difference's rounding plus eigh's
    lo, hi = int(certain.sum()), d
    note = (f"{hi - lo} of {d} eigenvalues of H - G lie in its rounding band, so the count is {lo}..{hi}; "
            f"{NEEDS_EXACT}") if hi > lo else ""
    return Measurement(np.asarray((lo + hi) / 2), np.asarray((hi - lo) / 2), "rank interval of H - G", d, eps,
                       count=True, note=note)


def _trace_from_unit_vectors(op, chunk: int = 256) -> tuple[float, int]:
    """``sum_i e_i^T A e_i`` from ``d`` products, ``chunk`` columns at a time."""
    d = op.shape[0]
    dtype = getattr(op, "dtype", torch.float64)
    device = getattr(op, "device", "cpu")
    total = 0.0
    for start in range(0, d, chunk):
        stop = min(d, start + chunk)
        E = torch.zeros(d, stop - start, dtype=dtype, device=device)
        E[torch.arange(start, stop), torch.arange(stop - start)] = 1
        total += float(torch.diagonal(op.matmat(E)[start:stop]).sum())
    return total, d


def hutchinson_samples(op, seed: int = 0, chunk: int = 64) -> Callable[[int], np.ndarray]:
    """``draw(m)``: ``m`` fresh Rademacher probe values ``z^T A z`` of ``op`` (mean ``tr A``, Hutchinson 1989),
    from one seeded stream, ``chunk`` products at a time."""
    d = op.shape[0]
    dtype = getattr(op, "dtype", torch.float64)
    device = getattr(op, "device", "cpu")
    g = torch.Generator(device="cpu").manual_seed(seed)
    product = op.matmat if hasattr(op, "matmat") else (lambda Z: op @ Z)

    def draw(m: int) -> np.ndarray:
        out = []
        for start in range(0, m, chunk):
            k = min(chunk, m - start)
            Z = (torch.randint(0, 2, (d, k), generator=g) * 2 - 1).to(dtype=dtype, device=device)
            out.append((Z * product(Z)).sum(0).double().cpu().numpy())
        return np.concatenate(out)

    return draw


def sequential_trace(op, prediction, eps: float, *, rel_resolution: float | None = None,
                     budget: int = HUTCHINSON_BUDGET, seed: int = 0) -> Measurement:
    """Hutchinson judged by an anytime-valid confidence sequence (:mod:`hessverify.claims.sequential`): rounds of
    probes until the sequence excludes ``prediction``, lies within its resolution, or ``budget`` probes are
    spent."""
    p = np.asarray(prediction, dtype=float) if prediction is not None else None
    target = float(p) if p is not None and p.size == 1 and np.isfinite(p).all() else None
    scale = abs(target) if target is not None else None
    res = (rel_resolution if rel_resolution is not None else RESOLUTION) * scale if scale is not None else None
    return sequential_mean(hutchinson_samples(op, seed), prediction=target, resolution=res, budget=budget,
                           method="hutchinson", size=op.shape[0], eps=eps)


def _top(op, quantity: str, k: int | None, eps: float) -> Measurement:
    kk = 1 if quantity != "top_k" else int(k)
    r = lanczos(op, k=kk, which="SA" if quantity == "lambda_min" else "LA", seed=0)
    vals, err = r.eigenvalues.double().cpu().numpy(), r.residuals.double().cpu().numpy()
    if quantity != "top_k":
        vals, err = vals[0], err[0]
    return Measurement(np.asarray(vals), np.asarray(err), "lanczos", op.shape[0], eps, r.num_matvecs)


def measure(setting, quantity: str | Callable, operator: str = "ggn", k: int | None = None, *,
            prediction=None, rel_resolution: float | None = None) -> Measurement:
    """Measure ``quantity`` of ``operator`` on ``setting`` with a certified estimator (routes: module docstring).

    ``prediction`` (optional) lets a sampled estimate stop once it has resolved that value, at ``rel_resolution``
    (relative, default ``RESOLUTION``). A callable quantity with ``sampled = True`` is called as
    ``quantity(setting, prediction=..., rel_resolution=...)``.

    Parameters
    ----------
    setting : Setting
        A drawn or built setting (:func:`build_setting`).
    quantity : str or callable
        ``"spectrum"`` (every eigenvalue, descending), ``"top_k"``, ``"lambda_max"``, ``"lambda_min"``,
        ``"trace"``, ``"rank"`` or ``"dense"`` (the whole matrix); or ``quantity(setting)`` returning a
        :class:`Measurement` or numbers (those get a zero certificate).
    operator : {"ggn", "hessian", "ntk", "matrix"}
        Which operator of the setting (:func:`build_operator`).
    k : int, optional
        The number of eigenvalues for ``"top_k"`` (required there), at least 1.
    prediction : array_like, optional
        The claimed value, so that a sampled trace can stop as soon as it is decided.
    rel_resolution : float, optional
        In (0, 1]: the resolution a sampled measurement must reach, relative to the prediction.

    Returns
    -------
    Measurement
        The value with its certificate (an interval of counts for a rank).
    """
    if not isinstance(setting, Setting):
        raise TypeError(f"setting must be a hessverify.claims.Setting (build_setting(...) or a strategy's draw), "
                        f"got {type(setting).__name__}")
    if k is not None:
        k = as_int("k", k, minimum=1)
    if rel_resolution is not None:
        rel_resolution = as_float("rel_resolution", rel_resolution, minimum=0, maximum=1, min_inclusive=False)
    eps = float(torch.finfo(setting.dtype).eps) if operator != "matrix" else float(np.finfo(float).eps)
    if callable(quantity):
        out = (quantity(setting, prediction=prediction, rel_resolution=rel_resolution)
               if getattr(quantity, "sampled", False) else quantity(setting))
        if isinstance(out, Measurement):
            return out
        value = np.asarray(out)
        return Measurement(value, np.zeros(value.shape), getattr(quantity, "__name__", "callable"),
                           int(value.size), eps)
    if quantity not in QUANTITIES:
        raise ValueError(f"quantity={quantity!r} is not supported; use one of {QUANTITIES} or a callable")
    op = build_operator(setting, operator)
    if quantity == "dense":
        M = (op.dense() if hasattr(op, "dense") else op).double().cpu().numpy()
        floor, note = softmax_rounding(setting, operator, M.shape[0], eps)
        return Measurement(M, np.full(M.shape, floor), "dense", M.shape[0], eps, note=note)
    d = op.shape[0]
    large = d > EXACT_MAX and not (operator == "ggn" and setting.loss == "mse" and setting.n * setting.dL <= EXACT_MAX)
    if quantity in ("top_k", "lambda_max", "lambda_min") and large:
        return _top(op, quantity, k, eps)
    if quantity == "trace" and large:
        if d <= EXACT_TRACE_MAX:
            total, mv = _trace_from_unit_vectors(op)
            return Measurement(np.asarray(total), np.asarray(0.0), "sum of e_i^T A e_i", d, eps, mv)
        return sequential_trace(op, prediction, eps, rel_resolution=rel_resolution)
    if quantity == "rank":
        exact_measurement = exact_rank_of(setting, operator)
        if exact_measurement is not None:
            return exact_measurement
    if quantity == "rank" and large:
        raise ValueError(f"the rank of a {d}x{d} operator needs its whole spectrum; the limit is {EXACT_MAX}")
    floor, note = softmax_rounding(setting, operator, d, eps)
    vals, err, d, method, mv, computed = _spectrum(setting, operator, op, floor)
    if floor > 0:  # ranks too: an eigenvalue within the softmax's rounding of zero is unresolved, not non-zero
        err = err + floor
    if quantity == "spectrum":
        return Measurement(vals, err, method, d, eps, mv)
    if quantity == "top_k":
        if k is None:
            raise ValueError("quantity='top_k' needs k=")
        return Measurement(vals[:k], err[:k], method, d, eps, mv)
    if quantity == "lambda_max":
        return Measurement(vals[0], err[0], method, d, eps, mv)
    if quantity == "lambda_min":
        return Measurement(vals[-1], err[-1], method, d, eps, mv)
    if quantity == "trace":
        return Measurement(np.asarray(vals.sum()), np.asarray(err.sum()), method, d, eps, mv)
    return rank_interval(vals, err, computed, eps)
