"""Regression rows for the fuzzer's findings in claims (C1-C7) and operators (O1-O3), tests/fuzz/FINDINGS.md:
each bad input ends in a ValueError/TypeError naming the argument (or an error verdict), never a silent answer."""
import numpy as np
import pytest
import torch

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
