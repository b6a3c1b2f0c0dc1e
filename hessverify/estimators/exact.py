"""All eigenvalues from a dense materialisation and ``torch.linalg.eigh`` (the ground truth of this project)."""
from __future__ import annotations

import torch

from hessverify._validation import as_bool, as_int, check_allocation, format_bytes
from hessverify.estimators._operator import (Callback, SymmetricOperator, default_tol, symmetry_tolerance,
                                             with_progress)
from hessverify.estimators.result import SpectralResult

DEFAULT_MAX_BYTES = 4 * 2**30


def exact(op, *, return_eigenvectors: bool = False, max_bytes: int = DEFAULT_MAX_BYTES,
          callback: Callback | None = None, progress: bool = False) -> SpectralResult:
    """Every eigenvalue, descending, with a backward-error certificate.

    Parameters
    ----------
    op
        A symmetric operator (square tensor or array, scipy ``LinearOperator``, or anything with ``shape`` and
        ``matvec``); an operator that is not dense is materialised from ``n`` products, 256 columns at a time.
    return_eigenvectors
        Also return the eigenvectors (columns, in the order of the eigenvalues); the residuals are then the
        explicit ``||A y_i - lambda_i y_i||``.
    max_bytes
        Refuse operators whose dense form would exceed this many bytes (4 GiB by default); a dense form beyond the
        memory limit of :func:`hessverify._validation.check_allocation` is refused whatever ``max_bytes`` says.
    callback, progress
        ``callback(info)`` after each block of columns is materialised (``step``: columns so far,
        ``num_matvecs``); ``progress=True`` shows a progress line.

    Returns
    -------
    SpectralResult
        ``which="all"``. ``residuals``: ``||A y_i - lambda_i y_i||`` with eigenvectors, else the standard bound
        ``d * eps * ||A||_2`` of a backward-stable symmetric eigensolver, plus half the Frobenius norm of the
        skew part. ``tol`` is the dtype's default tolerance and ``converged = residuals <= tol * ||A||`` as in
        every estimator. ``multiplicities_guaranteed=True``: the whole spectrum is computed.
    """
    return_eigenvectors = as_bool("return_eigenvectors", return_eigenvectors)
    max_bytes = as_int("max_bytes", max_bytes, minimum=0)
    A = SymmetricOperator(op, check_symmetry=False)
    d = A.size
    hint = "use lanczos/lobpcg for a few eigenvalues"
    need = check_allocation("the dense form of op", (d, d), A.dtype, device=A.device, hint=hint)
    if need > max_bytes:
        raise ValueError(
            f"op of size {d} needs {format_bytes(need)} as a dense matrix, more than max_bytes={max_bytes} "
            f"({format_bytes(max_bytes)}); {hint}, or raise max_bytes"
        )
    M = A.dense(callback=with_progress(callback, progress, "exact"))
    scale = float(torch.linalg.matrix_norm(M))
    asym = float(torch.linalg.matrix_norm(M - M.T))
    if asym > symmetry_tolerance(A.dtype) * max(scale, 1e-300):
        raise ValueError(f"op is not symmetric: ||A - A^T||_F / ||A||_F = {asym / scale:.2e}")
    M = (M + M.T) / 2
    if return_eigenvectors:
        vals, vecs = torch.linalg.eigh(M)
        vals, vecs = vals.flip(0), vecs.flip(1)
        res = torch.linalg.vector_norm(M @ vecs - vecs * vals, dim=0)
    else:
        vals, vecs = torch.linalg.eigvalsh(M).flip(0), None
        res = torch.full_like(vals, d * A.eps * float(vals.abs().max()))
    res = res + asym / 2  # the skew part moves eigenvalues by at most ||(A - A^T)/2||_2 <= ||.||_F / 2
    tol = default_tol(A.dtype)
    converged = res <= tol * max(float(vals.abs().max()), torch.finfo(A.dtype).tiny)
    return SpectralResult(
        eigenvalues=vals, residuals=res, num_matvecs=A.num_matvecs, converged=converged, method="exact",
        eigenvectors=vecs, which="all", tol=tol, multiplicities_guaranteed=bool(converged.all()),
    )
