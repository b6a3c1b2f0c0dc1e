"""The validation layer itself (hessverify._validation) and the issue-25 examples in the modules that use it:
integers through operator.index, finite floats, booleans that are booleans, sizes checked before allocating."""
import numpy as np
import pytest
import torch

from hessverify import _validation as V
from hessverify.data import gaussian_inputs, imbalanced_subset, label_proportions, one_hot
from hessverify.data import spectra
from hessverify.models import balanced_weights, linear_network


@pytest.mark.parametrize("value", [3, np.int64(3), np.uint8(3), torch.tensor(3)])
def test_integers_pass_through_operator_index(value):
    out = V.as_int("k", value)
    assert out == 3 and type(out) is int


@pytest.mark.parametrize("value", [True, np.True_, 3.0, 1.5, np.float64(3), "3", None, torch.tensor(3.0)])
def test_non_integers_are_refused_by_name(value):
    with pytest.raises(TypeError, match="^k must be an int"):
        V.as_int("k", value)


def test_seed_one_and_a_half_is_refused_never_rounded():
    with pytest.raises(TypeError, match="seed must be an int, got float 1.5"):
        spectra.symmetric_from_eigenvalues([1.0, 2.0], seed=1.5)
    with pytest.raises(TypeError, match="seed"):
        spectra.family_spectrum("gaussian", 5, seed=1.5)
    with pytest.raises(ValueError, match="seed = -1 must be at least 0"):
        spectra.spiked_wishart(5, seed=-1)
    a = spectra.symmetric_from_eigenvalues([1.0, 2.0], seed=np.int64(4))
    assert torch.equal(a, spectra.symmetric_from_eigenvalues([1.0, 2.0], seed=4))


@pytest.mark.parametrize("value, exc", [(float("nan"), ValueError), (float("inf"), ValueError), (True, TypeError),
                                        ("0.1", TypeError), (1 + 2j, TypeError), (10**400, ValueError)])
def test_floats_must_be_finite_reals(value, exc):
    with pytest.raises(exc, match="^tol"):
        V.as_float("tol", value)


def test_float_ranges_name_the_interval():
    assert V.as_float("a", np.float32(0.5), minimum=0, maximum=1) == 0.5
    with pytest.raises(ValueError, match=r"a = 1.0 must lie in \(0, 1\)"):
        V.as_float("a", 1, minimum=0, maximum=1, min_inclusive=False, max_inclusive=False)


@pytest.mark.parametrize("value", ["no", 0, 1, None, "False"])
def test_booleans_must_be_booleans(value):
    with pytest.raises(TypeError, match="^flag must be True or False"):
        V.as_bool("flag", value)
    assert V.as_bool("flag", np.False_) is False


def test_choices_compare_type_too():
    assert V.check_choice("which", "LA", ("LA", "SA")) == "LA"
    for bad in (True, 1, np.array(["LA"]), ["LA"]):
        with pytest.raises(ValueError, match="which=.* is not supported; choose one of 'LA', 'SA'"):
            V.check_choice("which", bad, ("LA", "SA"))
    with pytest.raises(ValueError, match="choose one of 0, 1"):
        V.check_choice("bit", True, (0, 1))


@pytest.mark.parametrize("x, kw, exc, message", [
    (torch.ones(0, 3), {}, ValueError, "x is empty"),
    (torch.ones(3, dtype=torch.float16), {}, TypeError, "half precision"),
    (torch.ones(3, dtype=torch.complex64), {}, TypeError, "complex"),
    (torch.ones(3, dtype=torch.int64), {}, TypeError, "float32 or float64"),
    (torch.tensor([1.0, float("nan")]), {}, ValueError, "x contains NaN"),
    (torch.ones(3), {"ndim": 2}, ValueError, "x must have 2 dimensions"),
    (torch.ones(3, 2), {"shape": (3, 3)}, ValueError, r"x has shape \(3, 2\); expected \(3, 3\)"),
    (torch.ones(3, 2), {"device": "meta"}, ValueError, "x is on cpu"),
    ([1.0, 2.0], {}, TypeError, "x must be a torch.Tensor"),
    (np.array(["a"]), {}, TypeError, "numpy array of <U1"),
])
def test_tensor_checks(x, kw, exc, message):
    with pytest.raises(exc, match=message):
        V.check_tensor("x", x, **kw)


def test_size_products_do_not_wrap_and_are_checked_before_allocating():
    assert V.num_elements([2**32, 2**32]) == 2**64  # np.prod in int64 gives 0 here
    assert int(np.prod(np.array([2**32, 2**32], dtype=np.int64))) == 0
    with pytest.raises(ValueError, match=r"needs 74.5 GiB .*use a matrix-free estimator"):
        V.check_allocation("the dense matrix", (100_000, 100_000), torch.float64)


def test_memory_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(V.MEMORY_LIMIT_ENV, "1000")
    with pytest.raises(ValueError, match="needs 7.8 KiB"):
        gaussian_inputs(1000, 1)
    monkeypatch.setenv(V.MEMORY_LIMIT_ENV, "lots")
    with pytest.raises(ValueError, match="HESSVERIFY_MAX_BYTES='lots'"):
        V.memory_limit()


def test_huge_requests_never_reach_the_allocator():
    with pytest.raises(ValueError, match="needs .*TiB"):
        gaussian_inputs(10**7, 10**7)
    with pytest.raises(ValueError, match="needs .*TiB"):
        spectra.symmetric_from_eigenvalues(np.ones(10**6))
    with pytest.raises(ValueError, match="needs .*use smaller widths"):
        linear_network((10**6, 10**6))


def test_linear_network_device_cuda_on_a_cpu_machine_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="device='cuda' is not usable on this machine"):
        linear_network((2, 2), device="cuda")


def test_linear_network_refuses_a_string_bias_and_a_half_dtype():
    with pytest.raises(TypeError, match="bias must be True or False"):
        linear_network((2, 2), bias="no")
    with pytest.raises(TypeError, match="dtype"):
        linear_network((2, 2), dtype=torch.float16)
    with pytest.raises(TypeError, match="dtype must be a torch.dtype"):
        linear_network((2, 2), dtype="float64")


def test_numpy_integers_work_everywhere_in_data_and_models():
    net = linear_network((np.int64(3), np.int32(2)))
    assert net[0].weight.shape == (2, 3)
    assert balanced_weights(np.array([3, 2]), [1.0, 2.0])[0].shape == (2, 3)
    assert one_hot(torch.tensor([1, 0]), np.int64(3)).shape == (2, 3)
    labels = torch.tensor([0, 1, 0, 1, 1, 0])
    assert imbalanced_subset(labels, np.int64(4), np.float64(0.75), majority=np.int64(1)).numel() == 4
    assert label_proportions(labels, np.int64(3)).tolist() == [0.5, 0.5, 0.0]


def test_generators_must_be_generators():
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got int 3"):
        gaussian_inputs(2, 2, 3)
