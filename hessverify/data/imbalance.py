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

from hessverify._validation import as_float, as_int, as_labels, check_generator, check_positive_int


def label_proportions(labels: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """Empirical class proportions ``alpha_c`` (003 §4: ``alpha_i = sigma_i(Y)^2 / n`` for one-hot ``Y``)."""
    if num_classes is not None:
        num_classes = check_positive_int("num_classes", num_classes)
    labels = as_labels("labels", labels, num_classes=num_classes)
    c = int(labels.max()) + 1 if num_classes is None else num_classes
    return torch.bincount(labels, minlength=c).double() / labels.numel()


def _class_counts(n: int, alpha_max: float, num_classes: int, majority: int) -> list[int]:
    n_major = int(round(alpha_max * n))
    rest = n - n_major
    minority = [c for c in range(num_classes) if c != majority]
    base, extra = divmod(rest, len(minority)) if minority else (0, 0)
    counts = [0] * num_classes
    counts[majority] = n_major
    for i, c in enumerate(minority):
        counts[c] = base + (1 if i < extra else 0)
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
    """
    n = check_positive_int("n", n)
    generator = check_generator("generator", generator)
    if num_classes is not None:
        num_classes = check_positive_int("num_classes", num_classes)
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
    if balanced:  # the majority class first among equals, so its share is the largest count
        base, extra = divmod(n, C)
        order = [majority] + [c for c in range(C) if c != majority]
        counts = [0] * C
        for i, c in enumerate(order):
            counts[c] = base + (1 if i < extra else 0)
    else:
        counts = _class_counts(n, alpha_max, C, majority)
    chosen = []
    for c, need in enumerate(counts):
        pool = (labels == c).nonzero().flatten()
        if need > pool.numel():
            raise ValueError(
                f"class {c} has {pool.numel()} samples but the subset needs {need} of them "
                f"(n={n}, alpha_max={alpha_max}); lower n or alpha_max"
            )
        perm = torch.randperm(pool.numel(), generator=generator)[:need]
        chosen.append(pool[perm])
    return torch.cat(chosen).sort().values
