"""Sharpness readings and the edge-of-stability run (hessverify.literature.edge_of_stability) on small networks,
against dense autograd Hessians."""
import copy

import pytest
import torch
from torch.autograd.functional import hessian as autograd_hessian
from torch.func import functional_call

from hessverify.claims import build_setting
from hessverify.literature.edge_of_stability import (Sharpness, band_status, edge_of_stability_run, fraction_in_band,
                                                      sharpness)


def dense_hessian_top(model, X, Y):
    """lambda_max of the MSE loss Hessian by torch.autograd.functional.hessian and eigvalsh."""
    names = [k for k, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(theta):
        params, i = {}, 0
        for k, shape in zip(names, shapes):
            params[k] = theta[i:i + shape.numel()].reshape(shape)
            i += shape.numel()
        return 0.5 * ((functional_call(model, params, (X,)) - Y) ** 2).sum() / X.shape[0]

    return float(torch.linalg.eigvalsh(autograd_hessian(loss, flat))[-1])


def small():
    return build_setting(kind="mlp", widths=(4, 6, 3), n=12, activation="tanh", bias=True, targets="teacher", seed=3)


def test_certified_sharpness_brackets_the_dense_top_eigenvalue():
    s = small()
    truth = dense_hessian_top(s.model, s.X, s.Y)
    reading, _ = sharpness(s.model, "mse", s.X, s.Y, seed=0, certify=True)
    assert reading.theta <= truth + 1e-12 and truth <= reading.upper + 1e-12
    assert reading.failure_probability < 1e-5
    uncertified, _ = sharpness(s.model, "mse", s.X, s.Y, seed=0, certify=False)
    assert uncertified.failure_probability == 1.0


def test_band_status():
    eta = 2.0  # 2/eta = 1: band [0.8, 1.25]
    assert band_status(Sharpness(1.0, 1e-6, 1e-7), eta) == "in"
    assert band_status(Sharpness(1.3, 1e-6, 1.0), eta) == "out"  # above the band: certain without a certificate
    assert band_status(Sharpness(0.5, 1e-6, 1e-7), eta) == "out"
    assert band_status(Sharpness(0.5, 1e-6, 1.0), eta) == "unresolved"  # below only if nothing was missed
    assert band_status(Sharpness(1.0, 1e-6, 1.0), eta) == "unresolved"
    assert band_status(Sharpness(1.249, 0.01, 1e-7), eta) == "unresolved"  # straddles the upper edge


def test_run_draws_from_the_window_after_arrival_and_reads_each_drawn_step():
    s = small()
    top = dense_hessian_top(s.model, s.X, s.Y)
    eta = 2 / (0.9 * top)  # 2/eta below the initial sharpness: arrival at step 0
    run = edge_of_stability_run(copy.deepcopy(s.model), "mse", s.X, s.Y, eta=eta, samples=8, window=30, stride=5)
    assert run.arrival == 0 and len(run.drawn) == 8
    assert all(0 <= t < 30 for t in run.drawn) and set(run.readings) == set(run.drawn)
    assert len(run.losses) == 29  # iterates 0..29 visited; training stops at the last (read, not updated)
    certain, possible, failure = run.counts()
    assert 0 <= certain <= possible <= 8 and 0 < failure < 1e-4
    m = fraction_in_band(run)
    assert m.sampled and 0 <= float(m.value - m.error) <= float(m.value + m.error) <= 1
    again = edge_of_stability_run(copy.deepcopy(s.model), "mse", s.X, s.Y, eta=eta, samples=8, window=30, stride=5)
    assert again.drawn == run.drawn and again.losses == run.losses  # deterministic


def test_no_arrival_leaves_the_fraction_undefined():
    s = small()
    run = edge_of_stability_run(copy.deepcopy(s.model), "mse", s.X, s.Y, eta=1e-3, samples=4, max_steps=20, stride=10)
    assert run.arrival is None and not run.drawn
    with pytest.raises(ValueError, match="did not reach"):
        fraction_in_band(run)
