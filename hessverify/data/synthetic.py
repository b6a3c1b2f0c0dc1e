"""Synthetic data: Gaussian inputs, targets from a random teacher, random labels."""
from __future__ import annotations

import torch

from hessverify._validation import (as_float, as_int, as_labels, as_tensor_2d, check_allocation, check_dtype,
                                   check_generator, check_positive_int)


def gaussian_inputs(
    n: int, d0: int, generator: torch.Generator | None = None, *, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """``(n, d0)`` inputs with i.i.d. N(0, 1) entries.

    Parameters
    ----------
    n : int
        The number of samples.
    d0 : int
        The input width.
    generator : torch.Generator | None
        Random number generator of the draws; None: torch's global one.
    dtype : torch.dtype
        Floating dtype of the result (default float64).

    Returns
    -------
    torch.Tensor
        ``(n, d0)``.
    """
    n = check_positive_int("n", n)
    d0 = check_positive_int("d0", d0)
    generator = check_generator("generator", generator)
    dtype = check_dtype("dtype", dtype)
    check_allocation("the inputs", (n, d0), dtype, hint="lower n or d0")
    return torch.randn(n, d0, generator=generator, dtype=dtype)


def teacher_targets(X: torch.Tensor, d_out: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Regression targets ``X @ T.T`` from a random linear teacher ``T`` (N(0, 1/d0) entries).

    Parameters
    ----------
    X : torch.Tensor
        Inputs ``(n, d0)``.
    d_out : int
        The targets' width.
    generator : torch.Generator | None
        Random number generator of the draws; None: torch's global one.

    Returns
    -------
    torch.Tensor
        ``(n, d_out)``.
    """
    return _teacher(X, d_out, generator, "d_out")


def _teacher(X, d_out, generator, name: str) -> torch.Tensor:
    X = as_tensor_2d("X", X)
    d_out = check_positive_int(name, d_out, minimum=2 if name == "num_classes" else 1)
    generator = check_generator("generator", generator)
    check_allocation(f"the teacher ({name}={d_out} rows)", (d_out, X.shape[1] + X.shape[0]), X.dtype,
                     hint=f"lower {name}")
    T = torch.randn(d_out, X.shape[1], generator=generator, dtype=X.dtype) / X.shape[1] ** 0.5
    return X @ T.T


def teacher_labels(X: torch.Tensor, num_classes: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Class labels ``argmax(X @ T.T)`` from a random linear teacher.

    Parameters
    ----------
    X : torch.Tensor
        Inputs ``(n, d0)``.
    num_classes : int
        ``C``.
    generator : torch.Generator | None
        Random number generator of the draws; None: torch's global one.

    Returns
    -------
    torch.Tensor
        Integer labels ``(n,)``.
    """
    return _teacher(X, num_classes, generator, "num_classes").argmax(1)


def random_labels(n: int, num_classes: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` labels drawn uniformly from ``num_classes`` classes.

    Parameters
    ----------
    n : int
        The number of labels.
    num_classes : int
        ``C``.
    generator : torch.Generator | None
        Random number generator of the draws; None: torch's global one.

    Returns
    -------
    torch.Tensor
        Integer labels ``(n,)``.
    """
    n = check_positive_int("n", n)
    num_classes = as_int("num_classes", num_classes, minimum=2, maximum=2**63 - 1)
    generator = check_generator("generator", generator)
    check_allocation("the labels", (n,), torch.int64, hint="lower n")
    return torch.randint(num_classes, (n,), generator=generator)


def gaussian_mixture(labels: torch.Tensor, d0: int, separation: float = 2.0,
                     generator: torch.Generator | None = None, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Inputs ``x_i = mu_{y_i} + N(0, I)`` with class means ``mu_c ~ N(0, separation^2 / d0 I)``: labelled
    data whose inputs carry the labels, at any size and label proportion (a stand-in for real data).

    Parameters
    ----------
    labels : torch.Tensor
        Integer labels ``(n,)``: one mean per class.
    d0 : int
        The input width.
    separation : float
        The scale of the class means.
    generator : torch.Generator | None
        Random number generator of the draws; None: torch's global one.
    dtype : torch.dtype
        Floating dtype of the result (default float64).

    Returns
    -------
    torch.Tensor
        ``(n, d0)``.
    """
    labels = as_labels("labels", labels)
    d0 = check_positive_int("d0", d0)
    separation = as_float("separation", separation, minimum=0)
    generator = check_generator("generator", generator)
    dtype = check_dtype("dtype", dtype)
    check_allocation("the inputs", (labels.numel() + int(labels.max()) + 1, d0), dtype, hint="lower d0")
    C = int(labels.max()) + 1
    means = torch.randn(C, d0, generator=generator, dtype=dtype) * separation / d0**0.5
    return means[labels] + torch.randn(labels.numel(), d0, generator=generator, dtype=dtype)


def labels_with_proportion(n: int, num_classes: int, alpha_max: float, generator: torch.Generator | None = None,
                           majority: int = 0) -> torch.Tensor:
    """``n`` shuffled labels: class ``majority`` holds ``round(alpha_max n)``, the others share the rest
    evenly (the counts of :func:`hessverify.data.imbalanced_subset`).

    Parameters
    ----------
    n : int
        The number of labels.
    num_classes : int
        ``C``.
    alpha_max : float
        The majority class's proportion, in ``[1/C, 1]``.
    generator : torch.Generator | None
        Random number generator of the draws; None: torch's global one.
    majority : int
        The majority class.

    Returns
    -------
    torch.Tensor
        Integer labels ``(n,)``.
    """
    from hessverify.data.imbalance import imbalanced_class_counts

    num_classes = check_positive_int("num_classes", num_classes, minimum=2)
    n = check_positive_int("n", n)
    alpha_max = as_float("alpha_max", alpha_max)
    if not 1.0 / num_classes - 1e-12 <= alpha_max <= 1.0:
        raise ValueError(f"alpha_max={alpha_max} must lie in [1/C, 1] = [{1 / num_classes:.4g}, 1]")
    majority = as_int("majority", majority, minimum=0, maximum=num_classes - 1)
    generator = check_generator("generator", generator)
    check_allocation("the labels", (n,), torch.int64, hint="lower n")
    counts = imbalanced_class_counts(n, alpha_max, num_classes, majority)
    labels = torch.cat([torch.full((counts[k],), k, dtype=torch.long) for k in sorted(counts)])
    return labels[torch.randperm(n, generator=generator)]
