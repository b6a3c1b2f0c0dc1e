"""Runs as claims settings (hessverify.literature.runs), their data and training loops."""
import torch

import hessverify
import hessverify.literature.runs  # noqa: F401 - reproduce() names it
from hessverify.claims import build_setting
from hessverify.literature.data import class_subset
from hessverify.literature.descent import gradient_descent, sgd
from hessverify.literature.runs import gd_run, sgd_run


def test_reproduce_rebuilds_the_same_run_without_touching_the_global_rng():
    before = torch.random.get_rng_state()
    for s in (gd_run("relu", "cross_entropy", 4.0, 1, n=50, hidden=(8,)), sgd_run(3, 2, per_class=5, hidden=4)):
        again = eval(s.reproduce(), {"hessverify": hessverify})
        assert again.spec == s.spec and torch.equal(again.X, s.X) and torch.equal(again.labels, s.labels)
        assert all(torch.equal(p, q) for p, q in zip(again.model.parameters(), s.model.parameters()))
    assert torch.equal(torch.random.get_rng_state(), before)


def test_class_subset_labels_and_pixels():
    X, y = class_subset(4, 7, seed=5)
    assert X.shape[0] == 28 and torch.equal(torch.bincount(y), torch.full((4,), 7))
    assert float(X.min()) >= 0 and float(X.max()) <= 1


def test_gradient_descent_step_is_theta_minus_eta_grad():
    s = build_setting(kind="linear", widths=(3, 2), n=6, targets="teacher", seed=1)
    W0 = s.model[0].weight.detach().clone()
    gradient_descent(s.model, "mse", s.X, s.Y, lr=0.1, steps=1)
    grad = (W0 @ s.X.T - s.Y.T) @ s.X / s.n  # d/dW of 1/(2n) ||W X^T - Y^T||^2
    assert torch.allclose(s.model[0].weight, W0 - 0.1 * grad, atol=1e-14)


def test_sgd_is_deterministic_given_the_generator():
    runs = []
    for _ in range(2):
        s = sgd_run(3, 0, per_class=5, hidden=4)
        sgd(s.model, "cross_entropy", s.X, s.labels, lr=0.1, batch_size=4, epochs=2,
            generator=torch.Generator().manual_seed(9))
        runs.append(torch.cat([p.detach().reshape(-1) for p in s.model.parameters()]))
    assert torch.equal(runs[0], runs[1])
