"""All eigenvalues from a dense materialisation and ``torch.linalg.eigh`` (the ground truth of this project)."""
from __future__ import annotations

import torch

from hessverify.estimators._operator import SymmetricOperator
from hessverify.estimators.result import SpectralResult

DEFAULT_MAX_BYTES = 4 * 2**30


def exact(op, *, eigenvectors: bool = False, max_bytes: int = DEFAULT_MAX_BYTES) -> SpectralResult:
    """Every eigenvalue, descending, with a backward-error certificate.

    ``residuals`` are ``||A y_i - lambda_i y_i||`` when eigenvectors are computed, else the standard bound
    ``d * eps * ||A||_2`` of a backward-stable symmetric eigensolver. Refuses operators whose dense form
    would exceed ``max_bytes`` (4 GiB by default).
    """
    A = SymmetricOperator(op, check_symmetry=False)
    d = A.size
    need = d * d * torch.finfo(A.dtype).bits // 8
    if need > max_bytes:
        raise ValueError(
            f"op of size {d} needs {need / 2**30:.1f} GiB as a dense matrix, more than max_bytes="
            f"{max_bytes / 2**30:.1f} GiB; use lanczos/lobpcg for a few eigenvalues, or raise max_bytes"
        )
    M = A.dense()
    scale = float(torch.linalg.matrix_norm(M))
    asym = float(torch.linalg.matrix_norm(M - M.T))
    if asym > 10 * A.eps**0.5 * max(scale, 1e-300):
        raise ValueError(f"op is not symmetric: ||A - A^T||_F / ||A||_F = {asym / scale:.2e}")
    M = (M + M.T) / 2
    if eigenvectors:
        vals, vecs = torch.linalg.eigh(M)
        vals, vecs = vals.flip(0), vecs.flip(1)
        res = torch.linalg.vector_norm(M @ vecs - vecs * vals, dim=0)
    else:
        vals, vecs = torch.linalg.eigvalsh(M).flip(0), None
        res = torch.full_like(vals, d * A.eps * float(vals.abs().max()))
    res = res + asym / 2  # the skew part moves eigenvalues by at most ||(A - A^T)/2||_2 <= ||.||_F / 2
    return SpectralResult(
        eigenvalues=vals, residuals=res, num_matvecs=A.num_matvecs, converged=torch.ones(d, dtype=torch.bool),
        method="exact", eigenvectors=vecs, which="all", tol=float(res.max()) if d else 0.0,
    )
