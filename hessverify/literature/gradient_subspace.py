"""The overlap of the gradient with the top Hessian eigenspace (Gur-Ari, Roberts, Dyer 2018, arXiv 1812.04754):
``||P_top g||^2 / ||g||^2`` with ``P_top`` the orthogonal projector on the eigenvectors of the ``k`` largest
eigenvalues of the training loss Hessian and ``g`` the full-batch gradient, at the same iterate.

Certificate. The eigenvectors come from :func:`hessverify.estimators.lanczos` (``k + 1`` values, certified
multiplicities). By the Davis-Kahan sin-theta theorem (Davis and Kahan, SIAM J. Numer. Anal. 7, 1970), for the
orthonormal Ritz vectors ``Q`` (values ``theta_1 >= ... >= theta_k``) and the rest of the spectrum below
``lambda_{k+1} <= theta_{k+1} + r_{k+1}`` (unless an eigenvalue was missed: Kuczynski-Wozniakowski probability),
``||P_top - Q Q^T||_2 = sin(Theta_max) <= ||H Q - Q diag(theta)||_F / delta`` with
``delta = theta_k - theta_{k+1} - r_{k+1}`` (no bound when ``delta <= 0``). Since
``|g^T (P_top - Q Q^T) g| <= ||P_top - Q Q^T||_2 ||g||^2``, the overlap lies within ``sin(Theta_max)`` of the
computed ``||Q^T g||^2 / ||g||^2``.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch

from hessverify._validation import as_float, as_int
from hessverify.claims.proportion import sampled_fraction
from hessverify.claims.sequential import ALPHA
from hessverify.claims.verdict import Measurement
from hessverify.estimators import lanczos
from hessverify.estimators.result import SpectralResult
from hessverify.literature.classifier_runs import classifier_run
from hessverify.literature.descent import flat_gradient, restore
from hessverify.literature.runs import RunSetting, cached, single_thread
from hessverify.operators import hessian

#: residual tolerance of the Lanczos runs (relative to the top eigenvalue)
TOL = 1e-6


@dataclass(frozen=True)
class Overlap:
    """``value`` = ``||Q^T g||^2 / ||g||^2``; the true overlap lies within ``bound`` of it (module docstring)."""

    value: float
    bound: float
    #: the relative gap ``delta / theta_k`` after the k-th eigenvalue (how well the subspace is defined)
    gap: float
    failure_probability: float

    def status(self, threshold: float) -> str:
        """``"in"`` (overlap >= threshold for certain), ``"out"`` (< threshold for certain) or ``"unresolved"``."""
        if self.value - self.bound >= threshold:
            return "in"
        if self.value + self.bound < threshold:
            return "out"
        return "unresolved"


def top_subspace_overlap(result: SpectralResult, g: torch.Tensor, k: int) -> Overlap:
    """The overlap of ``g`` with the span of the top ``k`` eigenvectors in ``result`` (which must hold at least
    ``k + 1`` eigenpairs, descending, with eigenvectors), with its Davis-Kahan bound.

    Parameters
    ----------
    result : SpectralResult
        From ``lanczos(H, k=k + 1, return_eigenvectors=True)``.
    g : torch.Tensor
        The gradient, flattened as the operator's parameters.
    k : int
        The dimension of the subspace.

    Returns
    -------
    Overlap
    """
    k = as_int("k", k, minimum=1)
    if result.eigenvectors is None or result.eigenvalues.numel() < k + 1:
        raise ValueError(f"result must hold at least k + 1 = {k + 1} eigenpairs with eigenvectors (lanczos(..., "
                         f"k={k + 1}, return_eigenvectors=True))")
    g = g.reshape(-1).to(result.eigenvectors.dtype)
    if g.numel() != result.eigenvectors.shape[0]:
        raise ValueError(f"g has {g.numel()} entries but the eigenvectors have {result.eigenvectors.shape[0]}")
    norm2 = float(g @ g)
    if norm2 == 0:
        raise ValueError("g is zero: its overlap with a subspace is undefined")
    theta = result.eigenvalues.double().cpu().numpy()
    res = result.residuals.double().cpu().numpy()
    Q = result.eigenvectors[:, :k]
    value = float(((Q.T @ g) ** 2).sum()) / norm2
    delta = theta[k - 1] - theta[k] - res[k]
    p = result.multiplicity_failure_probability
    certified = p is not None and result.multiplicities_guaranteed
    bound = min(1.0, float(np.sqrt((res[:k] ** 2).sum())) / delta) if delta > 0 and certified else 1.0
    return Overlap(min(max(value, 0.0), 1.0), bound, float(delta / abs(theta[k - 1])) if theta[k - 1] else 0.0,
                   float(p) if certified else 1.0)


def overlap_at(model: torch.nn.Module, X: torch.Tensor, labels: torch.Tensor, k: int, *, seed: int = 0) -> Overlap:
    """The overlap of the full-batch cross-entropy gradient with the top-``k`` Hessian eigenspace at ``model``."""
    H = hessian(model, "cross_entropy", X, labels)
    result = lanczos(H, k=k + 1, seed=seed, tol=TOL, return_eigenvectors=True)
    return top_subspace_overlap(result, flat_gradient(model, "cross_entropy", X, labels), k)


def overlaps_of(setting: RunSetting, samples: int) -> dict[int, Overlap]:
    """The overlap with the top-``C`` eigenspace at every distinct drawn step of the setting's SGD run (cached)."""
    run = classifier_run(setting, samples)

    def compute() -> dict[int, Overlap]:
        model = copy.deepcopy(setting.model)
        C = setting.spec["num_classes"]
        out = {}
        for i, step in enumerate(sorted(run.params)):
            out[step] = overlap_at(restore(model, run.params[step]), setting.X, setting.labels, C,
                                   seed=setting.spec["seed"] + 7919 * (i + 1))
        return out

    return cached("overlaps", setting, compute, samples=samples)


def fraction_mostly_in_top_subspace(setting: RunSetting, samples: int, threshold: float = 0.5,
                                    alpha: float = ALPHA) -> Measurement:
    """The fraction of the window's iterates whose gradient has at least ``threshold`` of its squared norm in the
    top-``C`` Hessian eigenspace, as a Clopper-Pearson interval from the drawn steps
    (:func:`hessverify.claims.proportion.sampled_fraction`)."""
    threshold = as_float("threshold", threshold, minimum=0, maximum=1)
    run = classifier_run(setting, samples)
    overlaps = overlaps_of(setting, samples)
    status = {t: o.status(threshold) for t, o in overlaps.items()}
    certain = sum(status[t] == "in" for t in run.drawn)
    possible = sum(status[t] != "out" for t in run.drawn)
    failure = sum(o.failure_probability for o in overlaps.values() if o.failure_probability < 1.0)
    return sampled_fraction(certain, possible, len(run.drawn), alpha=alpha, certificate_failure=failure,
                            method=f"fraction of SGD steps {run.window[0]}..{run.window[1] - 1} with ||P_top g||^2 / "
                                   f"||g||^2 >= {threshold:g}", size=run.window[1] - run.window[0])


def overlap_trajectory(setting: RunSetting, *, every: int, epochs: int, optimizer: str = "sgd") -> dict:
    """The overlap with the top-``C`` eigenspace every ``every`` updates of a fresh run of the setting (``"sgd"``:
    its SGD recipe; ``"gd"``: full-batch gradient descent at the same learning rate), with the training error at
    each reading and the first step with zero training error (None if never).

    Returns
    -------
    dict
        ``steps``, ``overlaps``, ``bounds``, ``gaps`` (relative gap after the C-th value), ``errors`` (lists), and
        ``zero_error_step``.
    """
    from hessverify.literature.descent import gradient_descent, sgd

    every, epochs = as_int("every", every, minimum=1), as_int("epochs", epochs, minimum=1)
    spec, C = setting.spec, setting.spec["num_classes"]
    model = copy.deepcopy(setting.model)
    out: dict = {"steps": [], "overlaps": [], "bounds": [], "gaps": [], "errors": [], "zero_error_step": None}

    def on_step(step: int, net: torch.nn.Module) -> None:
        if step % every:
            return
        with torch.no_grad():
            error = float((net(setting.X).argmax(1) != setting.labels).double().mean())
        o = overlap_at(net, setting.X, setting.labels, C, seed=spec["seed"] + step)
        for key, value in (("steps", step), ("overlaps", o.value), ("bounds", o.bound), ("gaps", o.gap),
                           ("errors", error)):
            out[key].append(value)
        if out["zero_error_step"] is None and error == 0.0:
            out["zero_error_step"] = step

    with single_thread():
        if optimizer == "sgd":
            sgd(model, "cross_entropy", setting.X, setting.labels, lr=spec["lr"], batch_size=spec["batch_size"],
                epochs=epochs, generator=torch.Generator().manual_seed(spec["seed"] + 1), on_step=on_step)
        elif optimizer == "gd":
            steps = epochs * math.ceil(setting.n / spec["batch_size"])
            gradient_descent(model, "cross_entropy", setting.X, setting.labels, lr=spec["lr"], steps=steps,
                             on_step=on_step)
        else:
            raise ValueError(f"optimizer={optimizer!r} must be 'sgd' or 'gd'")
    return out
