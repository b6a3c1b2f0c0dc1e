"""The largest-gap outlier count (hessverify.literature.outliers) on spectra known by construction."""
import numpy as np
import pytest
import torch

from hessverify.estimators import lanczos
from hessverify.literature.outliers import largest_gap_count, outlier_count


def test_count_is_the_position_of_the_largest_relative_gap():
    assert largest_gap_count([10.0, 9.0, 8.0, 1.0, 0.9, 0.8]) == (3, 3)
    assert largest_gap_count([10.0, 2.0, 1.9, 1.8]) == (1, 1)  # one isolated value: count 1
    assert largest_gap_count([4.0, 2.0, 1.0, 0.5]) == (1, 3)  # three equal ratios: any of them


def test_residuals_widen_the_count_to_every_possible_gap():
    theta = np.array([10.0, 4.1, 2.0, 1.0])  # ratios 2.44, 2.05, 2.0
    assert largest_gap_count(theta) == (1, 1)
    assert largest_gap_count(theta, [0.0, 0.5, 0.0, 0.0]) == (1, 2)  # 4.1 might be 4.6 (ratio 2.17 vs 2.3)


@pytest.mark.parametrize("theta, match", [([1.0], "two"), ([1.0, 2.0], "descending"), ([2.0, 0.0], "positive")])
def test_bad_spectra(theta, match):
    with pytest.raises(ValueError, match=match):
        largest_gap_count(theta)


def test_count_from_lanczos_on_a_matrix_with_c_minus_one_outliers():
    """A 300 x 300 matrix with 9 outliers (values 20..12) above a bulk in [0, 2]: the certified count is 9 for C=10."""
    rng = np.random.default_rng(0)
    spectrum = np.concatenate([np.linspace(20, 12, 9), rng.uniform(0, 2, 291)])
    Q, _ = np.linalg.qr(rng.standard_normal((300, 300)))
    A = torch.as_tensor(Q @ np.diag(spectrum) @ Q.T)
    m = outlier_count(lanczos(A, k=21, seed=0, tol=1e-8), 10)
    assert m.count and float(m.value) == 9 and float(m.error) == 0
    assert "after #9" in m.note
