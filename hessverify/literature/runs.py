"""A training run as a claims :class:`~hessverify.claims.Setting`: the data, the network at initialisation and
the recipe, built deterministically from plain values, so that a counterexample prints as a call that can be
pasted back (``hessverify.literature.runs.gd_run(...)``).

The expensive part (training, then the statistic) is computed by the quantity of each claim and cached
in-process by the run's spec (:func:`cached`): hypothesis may draw the same run twice, and the claims of one paper
share their runs (the outlier count and the gradient overlap read the same SGD runs).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from hessverify._validation import as_float, as_int, check_choice
from hessverify.claims.settings import Setting
from hessverify.literature.data import class_subset, regression_subset
from hessverify.models import get_weights, linear_network

ACTIVATIONS = ("tanh", "relu")
LOSSES = ("mse", "cross_entropy")


@dataclass(frozen=True)
class RunSetting(Setting):
    """A :class:`Setting` whose ``model`` is the network at initialisation and whose ``spec`` is the run's recipe;
    ``builder`` names the function that rebuilds it."""

    builder: str = ""

    def reproduce(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.spec.items())
        return f"{self.builder}({args})"

    @property
    def key(self) -> tuple:
        """The spec as a hashable key (for caches)."""
        return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in self.spec.items()))


def seeded_network(widths, activation: str, seed: int) -> torch.nn.Module:
    """PyTorch's default initialisation of ``linear_network(widths, activation, bias=True)`` under ``seed``,
    without touching the caller's global random state (float64)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return linear_network(widths, activation=activation, bias=True)


def _setting(spec: dict, builder: str, widths, X, Y, labels, loss, model) -> RunSetting:
    return RunSetting(spec=spec, widths=tuple(widths), weights=[w.double().numpy() for w in get_weights(model)], X=X,
                      Y=Y, labels=labels, loss=loss, sigma_x=None, singular_values=None, model=model, builder=builder)


def gd_run(activation: str = "tanh", loss: str = "mse", eta: float = 0.5, seed: int = 0, n: int = 500,
           hidden=(32, 32), pool: int = 4) -> RunSetting:
    """A full-batch gradient-descent run of the edge-of-stability claims: ``n`` MNIST images (pixels in [0, 1]
    less their mean; :func:`hessverify.literature.data.regression_subset`), a ``d - hidden - 10`` MLP with biases
    (PyTorch's default initialisation under ``seed``), one-hot targets under ``"mse"``, labels under
    ``"cross_entropy"``, step size ``eta``."""
    check_choice("activation", activation, ACTIVATIONS)
    check_choice("loss", loss, LOSSES)
    eta = as_float("eta", eta, minimum=0, min_inclusive=False)
    seed, n, pool = as_int("seed", seed, minimum=0), as_int("n", n, minimum=1), as_int("pool", pool, minimum=1)
    hidden = tuple(as_int("hidden", h, minimum=1) for h in hidden)
    X, labels, Y = regression_subset(n, seed, pool=pool)
    widths = (X.shape[1], *hidden, Y.shape[1])
    model = seeded_network(widths, activation, seed)
    spec = dict(activation=activation, loss=loss, eta=eta, seed=seed, n=n, hidden=list(hidden), pool=pool)
    return _setting(spec, "hessverify.literature.runs.gd_run", widths, X, Y, labels, loss, model)


def sgd_run(num_classes: int = 10, seed: int = 0, per_class: int = 50, hidden: int = 32, lr: float = 0.1,
            batch_size: int = 32, pool: int = 2, activation: str = "tanh") -> RunSetting:
    """A mini-batch SGD run of the classifier claims (outliers, gradient subspace): ``per_class`` images of each of
    ``num_classes`` digits (pixels in [0, 1]; :func:`hessverify.literature.data.class_subset`), a ``d - hidden - C``
    MLP with biases under softmax cross-entropy, SGD with ``lr`` and ``batch_size``."""
    check_choice("activation", activation, ACTIVATIONS)
    C = as_int("num_classes", num_classes, minimum=2, maximum=10)
    seed, pool = as_int("seed", seed, minimum=0), as_int("pool", pool, minimum=1)
    hidden = as_int("hidden", hidden, minimum=1)
    lr = as_float("lr", lr, minimum=0, min_inclusive=False)
    batch_size = as_int("batch_size", batch_size, minimum=1)
    X, labels = class_subset(C, as_int("per_class", per_class, minimum=1), seed, pool=pool)
    widths = (X.shape[1], hidden, C)
    model = seeded_network(widths, activation, seed)
    spec = dict(num_classes=C, seed=seed, per_class=per_class, hidden=hidden, lr=lr, batch_size=batch_size,
                pool=pool, activation=activation)
    Y = torch.nn.functional.one_hot(labels, C).double()
    return _setting(spec, "hessverify.literature.runs.sgd_run", widths, X, Y, labels, "cross_entropy", model)


_CACHE: dict[tuple, object] = {}


@contextmanager
def single_thread() -> Iterator[None]:
    """One intra-op thread while inside (restored after): these networks are tiny, and on 2 shared cores two
    threads made a gradient-descent run 5x slower (113 s against 22 s, measured under load)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cached(kind: str, setting: RunSetting, compute: Callable[[], object], **options):
    """``compute()`` once per ``(kind, setting.key, options)`` in this process, on one thread."""
    key = (kind, setting.key, tuple(sorted(options.items())))
    if key not in _CACHE:
        with single_thread():
            _CACHE[key] = compute()
    return _CACHE[key]
