"""What the fuzzer (tests/fuzz) found in data, models, files and the cache, one regression row each: the call, the
error type and the words its message must hold (the argument's name, or the file it names)."""
import time

import numpy as np
import pytest
import torch

from hessverify import _validation as V
from hessverify.cache import ResultCache
from hessverify.data import (DataFilesMissingError, drop_constant_columns, gaussian_mixture, imbalanced_subset,
                             label_proportions, load_mnist_csv, one_hot, pool_images, random_labels,
                             reduce_to_column_rank, teacher_labels, teacher_targets, whiten)
from hessverify.data import spectra
from hessverify.data.loaders import read_idx
from hessverify.files import atomic_write_bytes, atomic_write_text, refuse_symlinks
from hessverify.models import balanced_factorization, balanced_weights, load_weights, linear_network, unbalanced_weights

F64 = torch.float64
X = torch.randn(6, 3, dtype=F64, generator=torch.Generator().manual_seed(0))
META = X.to("meta")
LAB = torch.tensor([0, 1, 2, 0, 1, 2])

ROWS = [
    ("meta X, drop_constant_columns", lambda t: drop_constant_columns(META), ValueError, "X is on the meta device"),
    ("meta X, reduce_to_column_rank", lambda t: reduce_to_column_rank(META), ValueError, "X is on the meta device"),
    ("meta X, teacher_targets", lambda t: teacher_targets(META, 2), ValueError, "X is on the meta device"),
    ("meta labels, one_hot", lambda t: one_hot(LAB.to("meta"), 3), ValueError, "labels is on the meta device"),
    ("meta labels, gaussian_mixture", lambda t: gaussian_mixture(LAB.to("meta"), 2), ValueError, "labels is on the meta"),
    ("num_classes 2**64+1, label_proportions", lambda t: label_proportions(LAB, 2**64 + 1), ValueError,
     "num_classes = 18446744073709551617 must be at most"),
    ("num_classes 2**63, random_labels", lambda t: random_labels(4, 2**63), ValueError, "num_classes = .* must be at most"),
    ("num_classes 2**64+1, teacher_labels", lambda t: teacher_labels(X, 2**64 + 1), ValueError,
     "num_classes=18446744073709551617 rows.*lower num_classes"),
    ("labels lack a class, imbalanced_subset", lambda t: imbalanced_subset(torch.arange(30) % 3, 9, 0.5, num_classes=4),
     ValueError, "class 3 has 0 samples in labels .*num_classes"),
    ("sigma_x 1e308 overflows, whiten", lambda t: whiten(X, 1e308), ValueError, "sigma_x = 1e\\+308 overflows"),
    ("gaussian_sd 1e308 overflows, family_spectrum", lambda t: spectra.family_spectrum("gaussian", 30, 0, gaussian_sd=1e308),
     ValueError, "gaussian_sd=1e\\+308 overflows"),
    ("2-D eigenvalues", lambda t: spectra.symmetric_from_eigenvalues([[3.0, 1.0]]), ValueError, "eigenvalues must be 1-D"),
    ("2-D singular_values", lambda t: balanced_weights((3, 2, 4), np.ones((1, 2))), ValueError,
     "singular_values must be 1-D"),
    ("widths and W disagree", lambda t: balanced_factorization(torch.ones(2, 3, dtype=F64), (5, 4, 3)), ValueError,
     "widths=\\(5, 4, 3\\) needs"),
    ("atomic_write_text of a non-str", lambda t: atomic_write_text(t / "a.md", None), TypeError, "text must be a str"),
    ("atomic_write_bytes of a str", lambda t: atomic_write_bytes(t / "a.bin", "x"), TypeError, "data must be bytes"),
    ("atomic_write_text to ''", lambda t: atomic_write_text("", "x"), ValueError, "path='' names no file"),
    ("atomic_write_text to an int", lambda t: atomic_write_text(3, "x"), TypeError, "path must be a path"),
    ("atomic_write_text under a file", lambda t: (t / "f").write_text("") or atomic_write_text(t / "f" / "a.md", "x"),
     ValueError, "a file stands where a folder"),
    ("refuse_symlinks('')", lambda t: refuse_symlinks(""), ValueError, "root='' names no file"),
    ("refuse_symlinks(None)", lambda t: refuse_symlinks(None), TypeError, "root must be a path"),
    ("ResultCache(3)", lambda t: ResultCache(3), TypeError, "directory must be a path"),
    ("cache config a list", lambda t: ResultCache(t).get_or_compute([1], dict), TypeError, "config must be a dict"),
    ("cache config not JSON", lambda t: ResultCache(t).get_or_compute({"a": object()}, dict), TypeError,
     "config must hold JSON values"),
    ("cache result a tensor", lambda t: ResultCache(t).get_or_compute({"a": 1}, lambda: {"v": torch.ones(2)}), TypeError,
     "the result of compute\\(\\) is not JSON-able"),
    ("cache compute not callable", lambda t: ResultCache(t).get_or_compute({"a": 1}, 3), TypeError,
     "compute must be a callable"),
    ("cache config too deep", lambda t: ResultCache(t).get_or_compute({"v": _nest(100)}, dict), ValueError,
     "config is nested 102 deep"),
    ("read_idx of a missing file", lambda t: read_idx(t / "none-idx1-ubyte"), DataFilesMissingError, "does not exist"),
    ("read_idx of a folder", lambda t: read_idx(t), ValueError, "is a folder"),
    ("read_idx path an int", lambda t: read_idx(3), TypeError, "path must be a path"),
    ("load_mnist_csv of a folder", lambda t: load_mnist_csv(t), ValueError, "is a folder"),
    ("load_weights of a tensor", lambda t: load_weights(linear_network((2, 2)), torch.ones(2, 2)), TypeError,
     "weights must be a list"),
    ("check_allocation of a str shape", lambda t: V.check_allocation("the matrix", "12"), TypeError,
     "shape of the matrix must be a sequence"),
    ("check_allocation of a negative size", lambda t: V.check_allocation("the matrix", (10, -2)), ValueError,
     "the shape of the matrix = -2 must be at least 0"),
]


def _nest(depth):
    out = 0
    for _ in range(depth):
        out = [out]
    return out


@pytest.mark.parametrize("call, exc, message", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_fuzz_found_input_gets_a_clear_error(tmp_path, call, exc, message):
    with pytest.raises(exc, match=message):
        call(tmp_path)


def test_read_idx_max_bytes_is_named(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 4, 1, 2, 3, 4]))
    with pytest.raises(ValueError, match="more than max_bytes=3"):
        read_idx(path, max_bytes=3)
    assert read_idx(path, max_bytes=np.int64(4)).tolist() == [1, 2, 3, 4]


def test_a_huge_class_count_does_not_hang():
    """imbalanced_subset and labels_with_proportion looped over every class: num_classes=2**63 ran for ever."""
    from hessverify.data import labels_with_proportion

    start = time.perf_counter()
    idx = imbalanced_subset(torch.arange(30) % 3, 3, 1 / 3, num_classes=3)
    assert idx.numel() == 3
    with pytest.raises(ValueError, match="class 3 has 0 samples in labels"):
        imbalanced_subset(torch.arange(30) % 3, 9, 0.5, num_classes=2**63 - 1)
    labels = labels_with_proportion(5, 10**12, 0.6, torch.Generator().manual_seed(0))
    assert sorted(labels.tolist()) == [0, 0, 0, 1, 2]
    assert time.perf_counter() - start < 5


def test_numpy_inputs_are_accepted_where_tensors_are():
    assert torch.equal(gaussian_mixture(LAB.numpy(), 2, generator=torch.Generator().manual_seed(0)),
                       gaussian_mixture(LAB, 2, generator=torch.Generator().manual_seed(0)))
    P = torch.arange(32, dtype=F64).reshape(2, 16)
    assert torch.equal(pool_images(P.numpy(), 4, 2), pool_images(P, 4, 2))


def test_text_is_written_as_utf8_with_its_newlines(tmp_path):
    atomic_write_text(tmp_path / "a.md", "a\rb\r\nc é")
    assert (tmp_path / "a.md").read_bytes() == "a\rb\r\nc é".encode()


def test_unbalanced_scales_length_is_checked_before_converting():
    start = time.perf_counter()
    with pytest.raises(ValueError, match="scales has 10000000 entries"):
        unbalanced_weights((3, 2, 4), [1.0, 2.0], scales=np.ones(10**7))
    assert time.perf_counter() - start < 2
