import importlib
import os

import pytest
import torch
from torch.func import functional_call

from hessverify.models import linear_network


@pytest.fixture(params=[0, 1])
def tanh_problem(request):
    """A random tanh network with biases, inputs, MSE targets and class labels."""
    g = torch.Generator().manual_seed(request.param)
    widths = [(3, 5, 4, 3), (4, 6, 2)][request.param]
    torch.manual_seed(request.param)
    model = linear_network(widths, activation="tanh", bias=True)
    n = 9
    X = torch.randn(n, widths[0], generator=g, dtype=torch.float64)
    Y = torch.randn(n, widths[-1], generator=g, dtype=torch.float64)
    labels = torch.randint(widths[-1], (n,), generator=g)
    return model, X, Y, labels


def targets(problem, loss):
    model, X, Y, labels = problem
    return Y if loss == "mse" else labels


def peer(name: str):
    """The peer library ``name`` for a side-by-side test: skipped where it is not installed, but an import error
    under ``nox -s crosscheck`` (``HESSVERIFY_CROSSCHECK=1``), which must compare something."""
    if os.environ.get("HESSVERIFY_CROSSCHECK"):
        return importlib.import_module(name)
    return pytest.importorskip(name)


def flat_model(model):
    """``(theta0, f)``: every parameter of ``model`` flattened in ``named_parameters()`` order, and
    ``f(theta, X)`` the model as a function of that vector (for dense autograd references)."""
    named = list(model.named_parameters())
    theta0 = torch.cat([p.detach().reshape(-1) for _, p in named])

    def f(theta, X):
        parts = torch.split(theta, [p.numel() for _, p in named])
        return functional_call(model, {n: t.view(p.shape) for (n, p), t in zip(named, parts)}, (X,))

    return theta0, f
