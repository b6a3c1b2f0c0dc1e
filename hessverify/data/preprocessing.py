"""Input and label preprocessing: whitening by QR (003 Appendix C, Assumption 2) and one-hot labels."""
from __future__ import annotations

import torch

from hessverify._validation import (as_int, as_labels, as_tensor_2d, check_allocation, check_dtype,
                                   check_positive_float, check_positive_int)


def whiten(X: torch.Tensor, sigma_x: float = 1.0) -> torch.Tensor:
    """003 Appendix C: ``X = sqrt(n) * sigma_x * Q`` with ``Q`` from the (thin) QR of ``X``.

    ``X`` has shape ``(n, d0)`` with ``n >= d0`` and full column rank; the result satisfies
    003 Assumption 2, ``X.T @ X / n == sigma_x**2 * I`` (our ``X`` is the paper's ``X^T``).
    The returned inputs span the same column space as ``X``; the rows are not the original samples.

    Parameters
    ----------
    X : torch.Tensor
        Inputs ``(n, d0)``, ``n >= d0``, full column rank.
    sigma_x : float
        The scale ``sigma_x > 0`` of Assumption 2.

    Returns
    -------
    torch.Tensor
        Whitened inputs ``(n, d0)`` with ``X.T @ X / n = sigma_x**2 I``.
    """
    X = as_tensor_2d("X", X)
    sigma_x = check_positive_float("sigma_x", sigma_x)
    n, d0 = X.shape
    if n < d0:
        raise ValueError(
            f"whiten needs at least as many samples as features (n >= d0, 003 Assumption 2); "
            f"X has n={n} < d0={d0}. Use more samples or fewer features"
        )
    q, r = torch.linalg.qr(X)
    diag = torch.diagonal(r).abs()
    tol = diag.max() * max(n, d0) * torch.finfo(X.dtype).eps
    if bool((diag <= tol).any()):
        rank = int((diag > tol).sum())
        raise ValueError(
            f"X has numerical column rank {rank} < d0={d0}, so it cannot be whitened; remove constant or "
            "collinear columns first (hessverify.data.drop_constant_columns)"
        )
    out = (n**0.5) * sigma_x * q
    if not bool(torch.isfinite(out).all()):
        raise ValueError(f"sigma_x = {sigma_x} overflows {X.dtype}: the whitened inputs would hold Inf; use a smaller "
                         "sigma_x")
    return out


def drop_constant_columns(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(X[:, keep], keep)``: the columns of ``X`` that vary across samples (e.g. never-lit pixels removed).

    Parameters
    ----------
    X : torch.Tensor
        Inputs ``(n, d)``.

    Returns
    -------
    tuple of torch.Tensor
        ``(X[:, keep], keep)`` with ``keep`` the indices of the varying columns.
    """
    X = as_tensor_2d("X", X)
    keep = (X.max(dim=0).values > X.min(dim=0).values).nonzero().flatten()
    return X[:, keep], keep


def reduce_to_column_rank(X: torch.Tensor) -> torch.Tensor:
    """``X V_r``: the inputs in coordinates of their ``r``-dimensional column space (``r`` the numerical rank),
    so that :func:`whiten` applies to image data with constant or collinear pixels.

    Parameters
    ----------
    X : torch.Tensor
        Inputs ``(n, d)``.

    Returns
    -------
    torch.Tensor
        ``(n, r)``.
    """
    X = as_tensor_2d("X", X)
    U, S, Vh = torch.linalg.svd(X, full_matrices=False)
    r = int((S > S.max() * max(X.shape) * torch.finfo(X.dtype).eps).sum())
    return X @ Vh[:r].T


def one_hot(labels: torch.Tensor, num_classes: int, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """One-hot targets ``(n, num_classes)`` from integer labels in ``[0, num_classes)``.

    Parameters
    ----------
    labels : torch.Tensor
        Integer labels ``(n,)``.
    num_classes : int
        ``C``.
    dtype : torch.dtype
        Floating dtype of the result (default float64).

    Returns
    -------
    torch.Tensor
        ``(n, C)`` with one 1 per row.
    """
    num_classes = check_positive_int("num_classes", num_classes)
    dtype = check_dtype("dtype", dtype)
    labels = as_labels("labels", labels, num_classes=num_classes, allow_empty=True)
    check_allocation("the one-hot targets", (labels.numel(), num_classes), dtype, hint="lower num_classes")
    return torch.nn.functional.one_hot(labels, num_classes).to(dtype)


def pool_images(X: torch.Tensor, side: int, factor: int) -> torch.Tensor:
    """Rows of ``side x side`` images averaged over ``factor x factor`` blocks: ``(n, side^2)`` ->
    ``(n, (side // factor)^2)``; e.g. 28x28 MNIST to 14x14, so that a few hundred samples exceed the features.

    Parameters
    ----------
    X : torch.Tensor
        Flattened square images ``(n, side^2)``.
    side : int
        The images' side length in pixels.
    factor : int
        The block size, a divisor of ``side``.

    Returns
    -------
    torch.Tensor
        ``(n, (side // factor)^2)``.
    """
    side = check_positive_int("side", side)
    factor = as_int("factor", factor)
    X = as_tensor_2d("X", X)
    if X.shape[1] != side * side:
        raise ValueError(f"X has shape {tuple(X.shape)}; pool_images needs rows of side*side = {side * side} pixels")
    if factor < 1 or side % factor:
        raise ValueError(f"factor={factor} must be a positive divisor of side={side}")
    images = X.reshape(-1, 1, side, side)
    return torch.nn.functional.avg_pool2d(images, factor).reshape(X.shape[0], -1)
