"""003 §4-5 ablation cells: train a 4-layer network on one-hot labels with majority proportion ``alpha_max``
(003 App. C recipe, :mod:`hessverify.training`) until converged or out of rates, and measure its final sharpness
(Lanczos, certified by its residual) of the Hessian and the GGN, its top 10 and trace along training, and the
two eq (14) predictions. Cached by configuration.

The learning rates of ``profile.lrs`` are tried in turn: a cell one leaves unconverged after the epoch budget is
retrained from the same initialisation with the next (all below the edge of stability 2 / eq 14 of these
settings), and the row says which converged. The paper profile tries 003 App. C's 0.01, then 0.05; the quick
profile uses 0.05 alone, because 0.01 needs 7,000-10,000 epochs on MNIST 5k where 0.05 needs 2,000-3,000
(measured in an earlier run of this report), and a second attempt doubles the time of every cell that does not
converge.
"""
from __future__ import annotations

import numpy as np
import torch

from hessverify.cache import ResultCache
from hessverify.estimators import hutchinson, lanczos
from hessverify.models import balanced_weights, get_weights, kaiming_uniform_weights, linear_network
from hessverify.operators import ggn, hessian
from hessverify.reports._common import Profile, device_key
from hessverify.reports.datasets import NUM_CLASSES, ablation_data
from hessverify.training import TrainConfig, convergence, load_checkpoint, train_full_batch
from theory.linear import (balanced_spectrum, ggn_trace, least_squares_floor, sharpness_from_labels,
                           sharpness_from_labels_singular_value)

DEPTH = 4
INIT_SCALE = 0.3  # singular value of every layer at balanced initialisation
#: part of every cache key: bump it when a cell's computation changes, so stale cached cells are not reused
CACHE_VERSION = 5  # 5: the certificate of issue 24 reuses the search
TOP_K = 10  # eigenvalues followed along training (003 Fig 4)
TRACE_PROBES = 30  # Hutchinson probes per checkpoint (003 Fig 3 uses 100)
SOURCE_SETTINGS = ("003 App. C: MNIST, Fashion-MNIST and CIFAR-10 subsets of n = 5000, 4-layer width-64 networks, "
                   "eta_max = 0.01 halved on < 0.1% improvement per 100 epochs, 10,000 epochs")
CURVE_POINTS = 200  # points of a stored loss curve
CELLS = {
    "whitened": dict(whiten=True, init="balanced", activation=None, title="Whitened inputs, balanced init (Fig 1 right)"),
    # raw pixels are far sharper than whitened inputs: at 0.05 they sit at the edge of stability (lambda_max ~ 2/0.05
    # = 40, measured), so they keep 003 App. C's 0.01 in every profile
    "raw_inputs": dict(whiten=False, init="balanced", activation=None, title="Raw inputs (Fig 2 left)", lrs=(0.01,)),
    "kaiming_init": dict(whiten=True, init="kaiming", activation=None, title="Kaiming-uniform init (Fig 2 middle)"),
    "tanh": dict(whiten=True, init="balanced", activation="tanh", title="Tanh MLP, balanced init (Fig 2 right)"),
}


def projected_prediction(X: torch.Tensor, Y: torch.Tensor) -> float:
    """Derived eq (14) at the least-squares solution: labels projected on the column space of X."""
    Q, _ = torch.linalg.qr(X)
    proj = Q @ (Q.T @ Y)
    return sharpness_from_labels_singular_value(float(torch.linalg.matrix_norm(proj, 2)), X.shape[0], DEPTH, 1.0)


def along_training(model, checkpoints: dict, X, Y, seed: int) -> list[dict]:
    """Top-10 (Lanczos, certified) and trace (Hutchinson, 95% interval) of the Hessian at each checkpoint, next
    to the balanced-network predictions: eq (9) with the end-to-end singular values and eq (7) from the weights.
    Leaves ``model`` at the last checkpoint."""
    rows = []
    for epoch, params in sorted(checkpoints.items()):
        load_checkpoint(model, params)
        H = hessian(model, "mse", X, Y)
        top = lanczos(H, k=TOP_K, seed=seed, tol=1e-6)
        tr = hutchinson(H, TRACE_PROBES, distribution="gaussian", seed=seed)
        weights = [w.cpu().numpy() for w in get_weights(model)]
        widths = (weights[0].shape[1], *(w.shape[0] for w in weights))
        end_to_end = np.linalg.multi_dot(weights[::-1])
        s = np.linalg.svd(end_to_end, compute_uv=False)[: min(widths)] ** (1 / len(weights))
        theory = balanced_spectrum(widths, s, 1.0)[:TOP_K]
        lo, hi = tr.ci(0.95)
        rows.append({"epoch": epoch, "top": top.eigenvalues.tolist(), "top_residuals": top.residuals.tolist(),
                     "top_theory": theory.tolist(), "trace": tr.value, "trace_ci": [lo, hi],
                     "trace_eq7": ggn_trace(weights, 1.0)})
    return rows


def curve(values: list[float]) -> list[list[float]]:
    """``[epoch, value]`` at about ``CURVE_POINTS`` epochs (log-spaced, last included)."""
    idx = np.unique(np.geomspace(1, len(values), CURVE_POINTS).astype(int) - 1)
    return [[int(i), float(values[i])] for i in idx]


def train_until_converged(widths, spec, X, Y, floor, profile: Profile, seed: int):
    """Train from the same initialisation with each rate of ``profile.lrs`` until converged (or all tried). A rate
    that diverges ends the ladder; the last run that did not diverge is the one measured. Returns ``(model,
    result, convergence, lr, attempts)``; raises ``FloatingPointError`` if every rate tried diverged."""
    attempts, kept = [], None
    for lr in spec.get("lrs", profile.lrs):
        g = torch.Generator().manual_seed(seed + 1)
        weights = (balanced_weights(widths, [INIT_SCALE] * min(widths), generator=g) if spec["init"] == "balanced"
                   else kaiming_uniform_weights(widths, generator=g))
        model = linear_network(widths, activation=spec["activation"], weights=weights).to(profile.device)
        every = max(1, profile.epochs // profile.num_checkpoints)
        try:
            result = train_full_batch(model, X, Y, TrainConfig(epochs=profile.epochs, lr=lr, checkpoint_every=every),
                                      floor=floor)
        except FloatingPointError:
            attempts.append({"lr": lr, "diverged": True, "converged": False})
            break
        conv = convergence(result)
        attempts.append({"lr": lr, "diverged": False, **{k: conv[k] for k in ("converged", "gap", "epochs")}})
        kept = (model, result, conv, lr)
        if conv["converged"]:
            break
    if kept is None:
        raise FloatingPointError(f"training diverged at every learning rate tried ({[a['lr'] for a in attempts]}) "
                                 f"for widths {widths}; give the cell a smaller rate (CELLS[...]['lrs'])")
    return (*kept, attempts)


def run_cell(cell: str, alpha: float, n: int, source: str, profile: Profile, seed: int, cache: ResultCache) -> dict:
    """Train one cell to convergence (or say it did not), measure its final sharpness and its top-10 and trace
    along training (cached by configuration)."""
    spec = CELLS[cell]
    config = {"report": "ablation", "version": CACHE_VERSION, "cell": cell, "alpha": alpha, "n": n, "source": source,
              "seed": seed, "depth": DEPTH, "width": profile.width, "epochs": profile.epochs,
              "lrs": list(spec.get("lrs", profile.lrs)),
              "init_scale": INIT_SCALE, "d0": profile.d0, "checkpoints": profile.num_checkpoints, **device_key(profile)}

    def compute() -> dict:
        X, Y, labels = ablation_data(source, alpha, n, spec["whiten"], profile.d0, seed)
        widths = (X.shape[1], *[profile.width] * (DEPTH - 1), NUM_CLASSES)
        linear = spec["activation"] is None
        floor = least_squares_floor(X.numpy(), Y.numpy(), min(widths)) if linear else None
        X, Y = X.to(profile.device), Y.to(profile.device)
        model, result, conv, lr, attempts = train_until_converged(widths, spec, X, Y, floor, profile, seed)
        along = along_training(model, result.checkpoints, X, Y, seed)
        rh = lanczos(hessian(model, "mse", X, Y), k=1, seed=seed, tol=1e-8)
        rg = lanczos(ggn(model, "mse", X, Y), k=1, seed=seed, tol=1e-8)
        alpha_actual = float(torch.bincount(labels, minlength=NUM_CLASSES).max()) / n
        return {"alpha_actual": alpha_actual, "n": n, "d0": X.shape[1], "widths": list(widths), "source": source,
                "convergence": conv, "attempts": attempts, "lr": lr,
                "loss_curve": curve(result.losses), "grad_curve": curve(result.grad_norms),
                "final_loss": result.losses[-1], "lambda_max_hessian": float(rh.eigenvalues[0]),
                "residual_hessian": float(rh.residuals[0]), "lambda_max_ggn": float(rg.eigenvalues[0]),
                "residual_ggn": float(rg.residuals[0]), "pred_printed": sharpness_from_labels(alpha_actual, DEPTH, 1.0),
                # the derived form needs Assumption 2 (whitened inputs); not defined for raw inputs
                "pred_projected": projected_prediction(X.cpu(), Y.cpu()) if spec["whiten"] else None,
                "along_training": along}

    return cache.get_or_compute(config, compute)


def sweep(cell, source, n, profile, seed, cache, progress, alphas) -> list[dict]:
    rows = []
    for i, alpha in enumerate(alphas):
        r = run_cell(cell, alpha, n, source, profile, seed, cache)
        rows.append(r)
        c = r["convergence"]
        progress(f"{cell}/{source} n={n} alpha={alpha:.2f} ({i + 1}/{len(alphas)}): lambda_max="
                 f"{r['lambda_max_hessian']:.4f} printed={r['pred_printed']:.4f} lr={r['lr']} epochs={c['epochs']} "
                 f"{'converged' if c['converged'] else 'NOT converged'}")
    return rows
