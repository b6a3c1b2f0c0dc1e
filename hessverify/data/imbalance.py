"""Label-imbalanced subsets (003 Appendix C, "Subsampling"), read critically.

As printed, the recipe takes ``floor((1 - alpha_max) n)`` samples from *each* of classes 1-9 and the rest
from class 0. That asks for ``9 (1 - alpha_max) n`` minority samples, more than ``n`` for any
``alpha_max < 8/9``, so it cannot be what was run. The reading that gives majority proportion
``alpha_max`` is used here: the majority class gets ``round(alpha_max n)`` samples and the other
``C - 1`` classes share the remaining ``n - round(alpha_max n)`` as evenly as integers allow
(counts differ by at most one).
"""
from __future__ import annotations

import torch

from hessverify._validation import (as_float, as_int, as_labels, check_allocation, check_generator,
                                   check_positive_int)

#: class counts and labels go through int64 tensors
_INT64_MAX = 2**63 - 1


def label_proportions(labels: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """Empirical class proportions ``alpha_c`` (003 §4: ``alpha_i = sigma_i(Y)^2 / n`` for one-hot ``Y``).

    Parameters
    ----------
    labels : torch.Tensor
        Integer labels ``(n,)``.
    num_classes : int | None
        ``C``; None: ``labels.max() + 1``.

    Returns
    -------
    torch.Tensor
        ``alpha_c``, shape ``(C,)``, summing to one.
    """
    if num_classes is not None:
        num_classes = as_int("num_classes", num_classes, minimum=1, maximum=_INT64_MAX)
        check_allocation("the proportions", (num_classes,), torch.float64, hint="lower num_classes")
    labels = as_labels("labels", labels, num_classes=num_classes)
    c = int(labels.max()) + 1 if num_classes is None else num_classes
    return torch.bincount(labels, minlength=c).double() / labels.numel()


def imbalanced_class_counts(n: int, alpha_max: float, num_classes: int, majority: int) -> dict[int, int]:
    """``{class: count}`` of the classes that get samples: the majority ``round(alpha_max n)``, the other
    ``C - 1`` the rest as evenly as integers allow (earlier classes first). Only non-zero counts are listed, so the
    work is O(n) whatever ``num_classes`` is."""
    n_major = int(round(alpha_max * n))
    rest, minority = n - n_major, num_classes - 1
    counts = {majority: n_major}
    if minority > 0 and rest > 0:
        base, extra = divmod(rest, minority)
        for i in range(min(minority, rest)):  # with base == 0 only the first ``extra`` classes get one each
            counts[i if i < majority else i + 1] = base + (1 if i < extra else 0)
    return counts


def _balanced_counts(n: int, num_classes: int, majority: int) -> dict[int, int]:
    """``n // C`` or ``n // C + 1`` per class, the majority class first among equals (non-zero counts only)."""
    base, extra = divmod(n, num_classes)
    counts = {majority: base + (1 if extra > 0 else 0)}
    for i in range(min(num_classes - 1, n)):
        counts[i if i < majority else i + 1] = base + (1 if i + 1 < extra else 0)
    return counts


def imbalanced_subset(
    labels: torch.Tensor,
    n: int,
    alpha_max: float,
    majority: int = 0,
    generator: torch.Generator | None = None,
    *,
    num_classes: int | None = None,
) -> torch.Tensor:
    """Indices (sorted) of a size-``n`` subset of ``labels`` whose class ``majority`` has proportion
    ``round(alpha_max n) / n`` (within ``1/(2n)`` of ``alpha_max``); the others share the rest evenly.

    ``alpha_max`` must lie in ``[1/C, 1]``; at ``1/C`` (the balanced point a sweep starts from) every class gets
    ``n // C`` or ``n // C + 1`` samples. Samples within a class are drawn without replacement using
    ``generator``.

    Parameters
    ----------
    labels : torch.Tensor
        Integer labels ``(N,)`` of the pool to draw from.
    n : int
        The subset's size.
    alpha_max : float
        The majority class's proportion, in ``[1/C, 1]``.
    majority : int
        The majority class.
    generator : torch.Generator | None
        Random number generator of the draws; None: torch's global one.
    num_classes : int | None
        ``C``; None: ``labels.max() + 1``.

    Returns
    -------
    torch.Tensor
        Sorted indices into ``labels``, shape ``(n,)``.
    """
    n = check_positive_int("n", n)
    generator = check_generator("generator", generator)
    if num_classes is not None:
        num_classes = as_int("num_classes", num_classes, minimum=1, maximum=_INT64_MAX)
    labels = as_labels("labels", labels, num_classes=num_classes)
    C = int(labels.max()) + 1 if num_classes is None else num_classes
    if C < 2:
        raise ValueError("labels has a single class; an imbalanced subset needs at least two classes")
    majority = as_int("majority", majority)
    if not 0 <= majority < C:
        raise ValueError(f"majority={majority!r} must be a class index in [0, {C})")
    alpha_max = as_float("alpha_max", alpha_max)
    balanced = abs(alpha_max - 1.0 / C) <= 1e-12
    if not (balanced or 1.0 / C < alpha_max <= 1.0):
        raise ValueError(
            f"alpha_max={alpha_max} must lie in [1/C, 1] = [{1.0 / C:.4g}, 1] for C={C} classes: no class can hold "
            "less than an even share as the majority"
        )
    counts = _balanced_counts(n, C, majority) if balanced else imbalanced_class_counts(n, alpha_max, C, majority)
    present = int(labels.max()) + 1 if labels.numel() else 0
    for c, need in counts.items():
        if c >= present and need > 0:
            raise ValueError(f"class {c} has 0 samples in labels but the subset needs {need} of them (n={n}, "
                             f"alpha_max={alpha_max}, num_classes={C}); lower n or alpha_max, or num_classes")
    chosen = []
    for c in range(min(C, present)):  # every class in order: the generator is used as it always was
        need = counts.get(c, 0)
        pool = (labels == c).nonzero().flatten()
        if need > pool.numel():
            raise ValueError(
                f"class {c} has {pool.numel()} samples in labels but the subset needs {need} of them "
                f"(n={n}, alpha_max={alpha_max}); lower n or alpha_max"
            )
        perm = torch.randperm(pool.numel(), generator=generator)[:need]
        chosen.append(pool[perm])
    return torch.cat(chosen).sort().values
