"""Regression rows for the fuzzer's findings in claims (C1-C7), operators (O1-O3) and estimators (E1-E13),
tests/fuzz/FINDINGS.md: each bad input ends in a ValueError/TypeError naming the argument (or an error verdict),
never a silent answer."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from hessverify import estimators as E
from hessverify.claims import Measurement, build_setting, compare, measure
from hessverify.operators import ggn, ntk

M = Measurement(np.array([1.0]), np.array([0.0]), "m", 1, 2.2e-16)
NET = torch.nn.Linear(3, 2).double()
X, Y = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
S = build_setting("linear", (2, 2), n=4)


@pytest.mark.parametrize("call, error, match", [
    (lambda: build_setting("linear", (2, 3), activation="tanh"), ValueError, "activation"),          # C2
    (lambda: build_setting("mlp", (2, 3), activation="no-such"), ValueError, "activation"),
    (lambda: build_setting("linear", (10**6, 10**6)), ValueError, "widths"),                         # C4
    (lambda: measure(S, "lambda_max", "ggn", k=1.5), TypeError, "k"),                                # C5
    (lambda: measure(S, "lambda_max", "ggn", k=True), TypeError, "k"),
    (lambda: measure("3", "lambda_max"), TypeError, "setting"),                                      # C6
    (lambda: compare([1.0], "3"), TypeError, "measurement"),
    (lambda: compare([1.0], M, sort="no"), TypeError, "sort"),                                       # C7
    (lambda: ggn(NET, lambda o, y: 0.5 * (o.detach() - y).pow(2).mean(), X, Y), ValueError, "loss"),  # O2
    (lambda: ntk(NET, X[:0]), ValueError, "X"),                                                      # O3
], ids=["activation-linear", "activation-choice", "widths-huge", "k-float", "k-bool", "setting-type",
        "measurement-type", "sort-str", "loss-detached", "ntk-empty"])
def test_bad_input_is_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_empty_comparison_is_an_error_verdict():                                                  # C1
    assert compare([], Measurement(np.array([]), np.array([]), "m", 0, 2.2e-16)).status == "error"


def test_numpy_integers_are_integers():                                                          # C3, O1
    assert build_setting("linear", (2, 2), seed=np.int64(3)).spec["seed"] == 3
    assert ggn(NET, "mse", X, Y, batch_size=np.int64(2)).shape == (8, 8)


LAM = torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 0.25, 0.0, -1.0, -2.0, -3.0, -4.0], dtype=torch.float64)
Q12, _ = torch.linalg.qr(torch.randn(12, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
SYM = (Q12 * LAM) @ Q12.T
SYM = (SYM + SYM.T) / 2
HUGE_SPARSE = sp.eye(10**5, format="csr") * 2.0  # 74.5 GiB if densified


@pytest.mark.parametrize("call, error, match", [
    (lambda: E.lanczos(SYM, k=2, seed=1.5), TypeError, "seed"),                                        # E2
    (lambda: E.hutchpp(SYM, 30, seed=0.0), TypeError, "seed"),
    (lambda: E.lobpcg(SYM, 1, seed=True), TypeError, "seed"),
    (lambda: E.lanczos_ritz(SYM, seed="7"), TypeError, "seed"),
    (lambda: E.power_iteration(SYM, seed=float("nan")), TypeError, "seed"),
    (lambda: E.spectral_density(SYM, seed=2**64), ValueError, "seed"),
    (lambda: E.subspace_iteration(SYM, 2, seed=object()), TypeError, "seed"),
    (lambda: E.lanczos(SYM, k=2, return_eigenvectors="no"), TypeError, "return_eigenvectors"),         # E3
    (lambda: E.block_lanczos(SYM, 2, return_eigenvectors=1), TypeError, "return_eigenvectors"),
    (lambda: E.hutchinson(SYM, 10, check_symmetry=None), TypeError, "check_symmetry"),
    (lambda: E.exact(SYM, return_eigenvectors="no"), TypeError, "return_eigenvectors"),
    (lambda: E.spectral_density(SYM, log_scale="no"), TypeError, "log_scale"),
    (lambda: E.exact(SYM.half()), TypeError, "op"),                                                    # E4
    (lambda: E.lanczos(SYM.bfloat16(), k=2), TypeError, "op"),
    (lambda: E.hutchinson(SYM != 0, 10), TypeError, "op"),
    (lambda: E.lanczos(SYM, k=2, v0=torch.ones(12, dtype=torch.float16)), TypeError, "v0"),
    (lambda: E.power_iteration(SYM.to("meta")), ValueError, "op"),                                    # E5
    (lambda: E.exact(HUGE_SPARSE), ValueError, r"op .*74\.5 GiB.*lanczos"),                           # E6
    (lambda: E.hutchinson(SYM, 2**63), ValueError, "num_matvecs"),                                    # E7
    (lambda: E.hutchpp(SYM, 10**12), ValueError, "probe block"),
    (lambda: E.hutchpp(SYM, 2**64 + 1), ValueError, "num_matvecs"),
    (lambda: E.spectral_density(SYM, num_vectors=2**63), ValueError, "num_vectors"),
    (lambda: E.lanczos(SYM, k=2, tol=10**400), ValueError, "tol"),                                     # E8
    (lambda: E.hutchinson(SYM, 10, rtol=10**400), ValueError, "rtol"),
    (lambda: E.lanczos(SYM, k=2, failure_probability=10**400), ValueError, "failure_probability"),
    (lambda: E.exact(SYM, max_bytes=float("nan")), TypeError, "max_bytes"),                            # E9
    (lambda: E.exact(SYM, max_bytes="3"), TypeError, "max_bytes"),
    (lambda: E.exact(SYM, max_bytes=1.5), TypeError, "max_bytes"),
    (lambda: E.lanczos(SYM, k=2, v0=object()), TypeError, "v0"),                                       # E10
    (lambda: E.lanczos(SYM, k=2, v0="3"), TypeError, "v0"),
    (lambda: E.lanczos(SYM, k=2, v0=torch.ones(12, dtype=torch.float64, device="meta")), ValueError, "v0"),
    (lambda: E.spectral_density(SYM, grid=32.0), TypeError, "grid"),                                   # E11
    (lambda: E.spectral_density(SYM, grid=10**12), ValueError, "grid"),
    (lambda: E.spectral_density(SYM, grid={}), TypeError, "grid"),
    (lambda: E.spectral_density(SYM, grid=torch.tensor(float("nan"))), TypeError, "grid"),
    (lambda: E.spectral_density(SYM, margin=1e308), ValueError, "margin"),                             # E12
], ids=["seed-1.5", "seed-0.0", "seed-True", "seed-str", "seed-nan", "seed-2**64", "seed-object",
        "return_eigenvectors-no", "return_eigenvectors-1", "check_symmetry-None", "exact-eigenvectors-no",
        "log_scale-no", "op-float16", "op-bfloat16", "op-bool", "v0-float16", "op-meta", "op-huge-sparse",
        "num_matvecs-2**63", "hutchpp-10**12", "hutchpp-2**64+1", "num_vectors-2**63", "tol-10**400",
        "rtol-10**400", "failure_probability-10**400", "max_bytes-nan", "max_bytes-str", "max_bytes-1.5",
        "v0-object", "v0-str", "v0-meta", "grid-float", "grid-10**12", "grid-dict", "grid-0dim-nan",
        "margin-1e308"])
def test_estimator_bad_input_is_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_estimator_numpy_integers_are_integers():                                                  # E1, E3
    base = E.lanczos(SYM, k=2, seed=0)
    got = E.lanczos(SYM, k=np.int64(2), seed=np.int64(0))
    assert torch.equal(got.eigenvalues, base.eigenvalues) and got.iterations == base.iterations > 1
    assert torch.allclose(base.eigenvalues, LAM[:2], atol=1e-8)
    assert E.lanczos(SYM, k=2, seed=0, certify_multiplicities=np.True_).multiplicities_guaranteed
    assert E.spectral_density(SYM, grid=np.int64(32), seed=0).grid.shape == (32,)


def test_estimator_huge_sparse_operator_stays_sparse():                                             # E6
    """``sp.eye(10**5)`` is 74.5 GiB dense; the matrix-free estimators multiply it as sparse."""
    assert E.hutchinson(HUGE_SPARSE, 4, seed=0).value == pytest.approx(2 * 10**5)
    assert torch.allclose(E.power_iteration(HUGE_SPARSE, seed=0).eigenvalues, torch.tensor([2.0], dtype=torch.float64))


def test_estimator_operator_that_requires_grad_is_detached():                                      # E13
    A = SYM.clone().requires_grad_(True)
    assert torch.allclose(E.block_lanczos(A, 2, seed=0).eigenvalues, LAM[:2], atol=1e-8)
    assert not E.exact(A).eigenvalues.requires_grad
