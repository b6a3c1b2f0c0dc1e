"""Sharpness along full-batch gradient descent (Cohen, Kaur, Li, Kolter, Talwalkar 2021, arXiv 2103.00065).

The *sharpness* is ``lambda_max`` of the training loss Hessian. It is measured by :func:`hessverify.estimators.lanczos`
(``k = 1``): the Ritz value ``theta`` is a Rayleigh quotient, so ``theta <= lambda_max`` always (a certain lower
bound), and ``lambda_max <= theta + r`` (``r`` the explicit residual) once a certification restart found nothing
above ``theta`` (Kuczynski-Wozniakowski failure probability at most ``failure_probability``).

A run (:func:`edge_of_stability_run`):

1. every ``stride`` steps, the sharpness (one uncertified Lanczos run, warm-started from the last top vector) is
   recorded for the figure and to detect the **arrival**: the first measured step whose Ritz value reaches
   ``2/eta`` (progressive sharpening done); a run that does not arrive within ``max_steps`` stops there;
2. at arrival, ``samples`` steps are drawn uniformly with replacement from the ``window`` iterates
   ``arrival, ..., arrival + window - 1`` (seeded; fixed before any of them is measured) and the parameters at
   those steps are kept; training stops at the end of the window;
3. the sharpness at every drawn step is measured with a certificate, and each is **certainly in** the band
   (``theta >= lo`` and ``theta + r <= hi``), **certainly out** (``theta > hi`` or ``theta + r < lo``) or
   unresolved.

The fraction of the window's iterates in the band is then judged by a Clopper-Pearson interval
(:mod:`hessverify.claims.proportion`).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch

from hessverify._validation import as_float, as_int
from hessverify.claims.proportion import sampled_fraction
from hessverify.claims.sequential import ALPHA
from hessverify.claims.verdict import Measurement
from hessverify.estimators import lanczos
from hessverify.estimators.certificates import DEFAULT_FAILURE_PROBABILITY
from hessverify.literature.descent import gradient_descent, restore, snapshot
from hessverify.literature.runs import RunSetting, cached
from hessverify.operators import hessian

#: the band around ``2/eta`` (relative): a factor 1.25 either way, i.e. symmetric in ``log(sharpness eta / 2)``
BAND = (0.8, 1.25)
#: steps between sharpness readings (arrival detection and the figure)
STRIDE = 10
#: the most steps allowed for progressive sharpening to reach the band
MAX_STEPS = 3000
#: the iterates after arrival whose fraction in the band is the claim's statistic
WINDOW = 1000
#: residual tolerance of every Lanczos run (relative to the largest Ritz value seen)
TOL = 1e-6


@dataclass(frozen=True)
class Sharpness:
    """``theta <= lambda_max`` (Ritz value), its residual, and the chance that a larger eigenvalue was missed
    (1.0: not certified, so only the lower bound is certain)."""

    theta: float
    residual: float
    failure_probability: float

    @property
    def upper(self) -> float:
        """``theta + residual``: an upper bound on ``lambda_max`` unless an eigenvalue was missed."""
        return self.theta + self.residual


def sharpness(model: torch.nn.Module, loss: str, X: torch.Tensor, T: torch.Tensor, *, seed: int = 0,
              certify: bool = True, v0: torch.Tensor | None = None,
              failure_probability: float = DEFAULT_FAILURE_PROBABILITY) -> tuple[Sharpness, torch.Tensor]:
    """``lambda_max`` of the Hessian of ``loss`` at ``model`` on ``(X, T)`` by Lanczos (module docstring).

    Parameters
    ----------
    model, loss, X, T
        As for :func:`hessverify.operators.hessian`.
    seed : int
        Seeds the Lanczos start (and restarts).
    certify : bool
        Run certification restarts (an upper bound with a failure probability); else one run (lower bound only).
    v0 : torch.Tensor, optional
        Start vector (a warm start from the previous top eigenvector).

    Returns
    -------
    (Sharpness, torch.Tensor)
        The reading and the top Ritz vector.
    """
    H = hessian(model, loss, X, T)
    r = lanczos(H, k=1, seed=seed, tol=TOL, v0=v0, return_eigenvectors=True, certify_multiplicities=certify,
                failure_probability=failure_probability)
    p = r.multiplicity_failure_probability
    reading = Sharpness(float(r.eigenvalues[0]), float(r.residuals[0]),
                        1.0 if not certify or p is None or not r.multiplicities_guaranteed else float(p))
    return reading, r.eigenvectors[:, 0]


def band_status(s: Sharpness, eta: float, band: tuple[float, float] = BAND) -> str:
    """``"in"``, ``"out"`` or ``"unresolved"``: where ``lambda_max`` lies relative to ``[band[0], band[1]] * 2/eta``,
    as far as the reading can tell (an upper bound counts only when certified)."""
    lo, hi = band[0] * 2 / eta, band[1] * 2 / eta
    certified = s.failure_probability < 1.0
    if s.theta > hi or (certified and s.upper < lo):
        return "out"
    if certified and s.theta >= lo and s.upper <= hi:
        return "in"
    return "unresolved"


@dataclass
class EdgeOfStabilityRun:
    """What :func:`edge_of_stability_run` measured."""

    eta: float
    #: ``(step, theta, residual)`` every ``stride`` steps (uncertified: ``theta`` is a lower bound)
    trajectory: list[tuple[int, float, float]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    #: first measured step with ``theta >= 2/eta``; None if not within ``max_steps``
    arrival: int | None = None
    window: int = WINDOW
    #: the steps drawn from the window (with replacement, in drawing order)
    drawn: list[int] = field(default_factory=list)
    #: certified reading at every distinct drawn step
    readings: dict[int, Sharpness] = field(default_factory=dict)

    @property
    def threshold(self) -> float:
        return 2 / self.eta

    def counts(self, band: tuple[float, float] = BAND) -> tuple[int, int, float]:
        """``(certainly in, possibly in, summed certificate failure probability)`` over the drawn steps, each
        counted as often as it was drawn."""
        status = {t: band_status(s, self.eta, band) for t, s in self.readings.items()}
        certain = sum(status[t] == "in" for t in self.drawn)
        possible = sum(status[t] != "out" for t in self.drawn)
        failure = sum(s.failure_probability for s in self.readings.values() if s.failure_probability < 1.0)
        return certain, possible, failure


def edge_of_stability_run(model: torch.nn.Module, loss: str, X: torch.Tensor, T: torch.Tensor, *, eta: float,
                          samples: int, seed: int = 0, max_steps: int = MAX_STEPS, window: int = WINDOW,
                          stride: int = STRIDE, band: tuple[float, float] = BAND) -> EdgeOfStabilityRun:
    """Gradient descent with step ``eta`` from ``model`` (trained in place), the sharpness every ``stride`` steps,
    arrival in the band, and certified sharpness at ``samples`` steps drawn from the ``window`` after arrival
    (module docstring).

    Parameters
    ----------
    model, loss, X, T
        The network (trained in place), ``"mse"`` or ``"cross_entropy"``, inputs, targets.
    eta : float
        Step size.
    samples : int
        Steps drawn from the window (with replacement).
    seed : int
        Seeds the draw and the Lanczos starts.
    max_steps, window, stride : int
        See the module docstring.

    Returns
    -------
    EdgeOfStabilityRun
    """
    eta = as_float("eta", eta, minimum=0, min_inclusive=False)
    samples = as_int("samples", samples, minimum=1)
    window, stride = as_int("window", window, minimum=1), as_int("stride", stride, minimum=1)
    max_steps = as_int("max_steps", max_steps, minimum=1)
    run = EdgeOfStabilityRun(eta=eta, window=window)
    kept: dict[int, list[torch.Tensor]] = {}
    state = {"v0": None, "stop": max_steps}

    def on_step(step: int, net: torch.nn.Module) -> bool:
        if step % stride == 0:
            reading, state["v0"] = sharpness(net, loss, X, T, seed=seed + step, certify=False, v0=state["v0"])
            run.trajectory.append((step, reading.theta, reading.residual))
            if run.arrival is None and reading.theta >= 2 / eta:
                run.arrival = step
                rng = np.random.default_rng([seed, step])
                run.drawn = [step + int(o) for o in rng.integers(0, window, size=samples)]
                state["stop"] = step + window - 1
        if step in run.drawn:
            kept[step] = snapshot(net)
        return step >= state["stop"]

    run.losses = gradient_descent(model, loss, X, T, lr=eta, steps=max_steps + window, on_step=on_step)
    for i, step in enumerate(sorted(kept)):
        restore(model, kept[step])
        run.readings[step], _ = sharpness(model, loss, X, T, seed=seed + 7919 * (i + 1), certify=True)
    return run


def run_of(setting: RunSetting, samples: int) -> EdgeOfStabilityRun:
    """The run of a :func:`hessverify.literature.runs.gd_run` setting (its network copied, so the setting stays at
    initialisation), cached in-process by its spec and ``samples``."""
    def compute() -> EdgeOfStabilityRun:
        T = setting.Y if setting.loss == "mse" else setting.labels
        return edge_of_stability_run(copy.deepcopy(setting.model), setting.loss, setting.X, T, eta=setting.spec["eta"],
                                     samples=samples, seed=setting.spec["seed"])

    return cached("edge_of_stability", setting, compute, samples=samples)


def fraction_in_band(run: EdgeOfStabilityRun, band: tuple[float, float] = BAND, alpha: float = ALPHA) -> Measurement:
    """The fraction of the window's iterates whose sharpness lies in ``band * 2/eta``, as a Clopper-Pearson
    interval from the drawn steps (:func:`hessverify.claims.proportion.sampled_fraction`)."""
    if run.arrival is None:
        raise ValueError("the run did not reach 2/eta: the fraction after arrival is undefined")
    certain, possible, failure = run.counts(band)
    return sampled_fraction(certain, possible, len(run.drawn), alpha=alpha, certificate_failure=failure,
                            method=f"fraction of the {run.window} iterates after arrival (step {run.arrival}) with "
                                   f"sharpness in [{band[0]:g}, {band[1]:g}] x 2/eta",
                            size=run.window)
