"""003 Fig 1 (left, middle), Fig 3 (trace along training) and Fig 4 (top-10 along training), reproduced."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hessverify.cache import ResultCache
from hessverify.data import gaussian_inputs, whiten
from hessverify.estimators import exact, hutchinson, lobpcg
from hessverify.models import balanced_weights, get_weights, linear_network
from hessverify.operators import ggn, hessian
from hessverify.reports._common import Profile, Progress, device_key, plt, save_figure, write_report
from hessverify.reports.datasets import ablation_data, feasible_n, primary_dataset
from hessverify.training import TrainConfig, load_checkpoint, train_full_batch
from theory.linear import balanced_spectrum, ggn_trace, shallow_spectrum, singular_values_from_labels

CACHE_VERSION = 2  # bump when fig3/fig4's computation changes
FIG4_VERSION = 3  # fig4 alone: the top 10 of eq (15) as printed is stored too


def fig1_left(out: Path, seed: int) -> dict:
    """003 App. C, Fig 1 left: X' 20x100 N(0,1) whitened with sigma_x = 3, 20 singular values U[0,1], L = 5,
    Y = W_5...W_1 X (zero loss). The GGN's eigenvalues against eq (9) with singular values from eq (13)."""
    g = torch.Generator().manual_seed(seed)
    d, n, L, sigma_x = 20, 100, 5, 3.0
    X = whiten(gaussian_inputs(n, d, generator=g), sigma_x)
    s = torch.rand(d, generator=g, dtype=torch.float64).sort(descending=True).values
    widths = (d,) * (L + 1)
    model = linear_network(widths, weights=balanced_weights(widths, s, generator=g))
    with torch.no_grad():
        Y = model(X)
    r = exact(ggn(model, "mse", X, Y))
    s13 = singular_values_from_labels(Y.numpy(), L, sigma_x)  # eq (13) from the labels alone
    theory = balanced_spectrum(widths, s13, sigma_x)
    measured = r.eigenvalues.numpy()
    top = theory > 1e-8 * theory[0]
    rel = np.abs(measured[top] - theory[top]) / theory[top]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.loglog(theory[top], measured[top], ".", ms=3, label="eigenvalue pairs")
    lim = [theory[top].min(), theory[top].max()]
    ax.loglog(lim, lim, "k-", lw=0.7, label="y = x")
    ax.set_xlabel("theory: eq (9) with eq (13) singular values")
    ax.set_ylabel("numerical GGN eigenvalue (dense eigh)")
    ax.legend(fontsize=8)
    d_ = out / "fig1_left"
    d_.mkdir(parents=True, exist_ok=True)
    png = save_figure(fig, d_ / "theory_vs_numerics.png")
    verdict = (f"fig1_left: all {int(top.sum())} non-negligible eigenvalues match eq (9)+(13) to max relative error "
               f"{rel.max():.1e} (certificate {float(r.residuals.max()):.1e})")
    body = [f"![theory vs numerics]({png})", "", "*Figure: every GGN eigenvalue above 1e-8 of the largest, "
            "numerical against the closed form; points on the diagonal mean exact agreement (zero loss, whitened, "
            "balanced: all assumptions hold).*"]
    ok = rel.max() <= 1e-6
    return write_report(d_, title="003 Fig 1 left: eigenvalues from the labels (eq 9, 13)", verdict=verdict,
                        status="reproduced" if ok else "deviates",
                        summary=f"{int(top.sum())} eigenvalues match eq (9)+(13) to {rel.max():.1e} (relative)",
                        body=body, data={"theory": theory.tolist(), "measured": measured.tolist(),
                                         "max_rel_error": float(rel.max())},
                        config={"d": d, "n": n, "L": L, "sigma_x": sigma_x, "seed": seed},
                        command="hessverify reports --only seed_figures")


def fig1_middle(out: Path, seed: int) -> dict:
    """003 Fig 1 middle: lambda_max = L sigma_x^2 sigma^{2(L-1)} (eq 9b, i = j = 1) over depth and spectral norm,
    with numerical checks at grid points."""
    depths = np.arange(1, 11)
    norms = np.linspace(0.5, 1.3, 81)
    Lg, Sg = np.meshgrid(depths, norms)
    lam = Lg * Sg ** (2 * (Lg - 1))
    checks = []
    g = torch.Generator().manual_seed(seed)
    for L in (2, 4, 8):
        for s in (0.8, 1.0, 1.2):
            widths = (3,) * (L + 1)
            model = linear_network(widths, weights=balanced_weights(widths, [s, 0.5 * s, 0.25 * s], generator=g))
            X = whiten(gaussian_inputs(6, 3, generator=g), 1.0)
            with torch.no_grad():
                Y = model(X)
            num = float(exact(ggn(model, "mse", X, Y)).eigenvalues[0])
            checks.append({"depth": L, "norm": s, "numerical": num, "theory": L * s ** (2 * (L - 1))})
    fig, ax = plt.subplots(figsize=(5.5, 4))
    cs = ax.contourf(Lg, Sg, np.log10(lam), levels=30, cmap="viridis")
    fig.colorbar(cs, ax=ax, label=r"$\log_{10} \lambda_{max}$ ($\sigma_x = 1$)")
    ax.plot([c["depth"] for c in checks], [c["norm"] for c in checks], "w+", label="checked numerically")
    ax.set_xlabel("depth L")
    ax.set_ylabel(r"spectral norm $\sigma_1(W_l)$")
    ax.legend(fontsize=7, loc="lower left")
    d_ = out / "fig1_middle"
    d_.mkdir(parents=True, exist_ok=True)
    png = save_figure(fig, d_ / "depth_norm_contour.png")
    err = max(abs(c["numerical"] - c["theory"]) / c["theory"] for c in checks)
    verdict = (f"fig1_middle: sharpness grows like L sigma^(2(L-1)); {len(checks)} grid points checked numerically, "
               f"max relative error {err:.1e}")
    body = [f"![contour]({png})", "", "*Figure: log10 of the predicted sharpness; above sigma = 1 depth amplifies it, "
            "below it shrinks it. Crosses: dense GGN spectra that agree with the contour.*"]
    return write_report(d_, title="003 Fig 1 middle: depth and spectral norm", verdict=verdict, body=body,
                        status="reproduced" if err <= 1e-6 else "deviates",
                        summary=f"L sigma^(2(L-1)) checked at {len(checks)} grid points to {err:.1e}",
                        data={"checks": checks}, config={"seed": seed}, command="hessverify reports --only seed_figures")


#: the rate and epochs of the Fig 3 / Fig 4 reproductions (003 App. C: 0.003 for Fig 3 and 0.001 for Fig 4, width
#: 256, 10,000 epochs); a larger rate and fewer epochs keep them within a minute each on 2 CPU cores
SEED_LR = 0.05
SEED_EPOCHS = 4000
SEED_SETTINGS = ("ours: rate {lr}, {epochs} epochs, width {width}, {data}, whitened, alpha_max 0.4; 003 App. C: "
                 "rate {source_lr}, 10,000 epochs, width 256, MNIST/Fashion-MNIST/CIFAR-10 (n = 5000). The claim is "
                 "about every point of training, so the schedule changes which points are visited, not what is "
                 "checked at each")
ALPHA = 0.4  # majority label proportion of the Fig 3 / Fig 4 data


def _seed_data(profile: Profile, seed: int):
    """Whitened real images (the ablations' first installed data set; the Gaussian mixture if none is)."""
    source, _ = primary_dataset(profile)
    source = source or "synthetic"
    n = feasible_n(source, profile.real_n if source != "synthetic" else profile.n, [ALPHA])
    X, Y, _ = ablation_data(source, ALPHA, n, True, profile.d0, seed)
    return X, Y, f"{source}, n={n}, d0={X.shape[1]}"


def _settings_line(profile, widths, source_lr, data) -> str:
    return "- " + SEED_SETTINGS.format(lr=SEED_LR, epochs=min(SEED_EPOCHS, profile.epochs), width=widths[1],
                                       data=data, source_lr=source_lr)


def _train_with_checkpoints(widths, X, Y, profile, seed, lr):
    g = torch.Generator().manual_seed(seed)
    model = linear_network(widths, weights=balanced_weights(widths, [0.3] * min(widths), generator=g))
    model, X, Y = model.to(profile.device), X.to(profile.device), Y.to(profile.device)
    epochs = min(SEED_EPOCHS, profile.epochs)
    every = max(1, epochs // profile.num_checkpoints)
    res = train_full_batch(model, X, Y, TrainConfig(epochs=epochs, lr=lr, checkpoint_every=every, stop_gap=None))
    return model, X, Y, res


def fig3_trace(out: Path, profile: Profile, seed: int, cache: ResultCache) -> dict:
    """003 Fig 3: Hutchinson's trace of the Hessian (100 Gaussian probes, 95% interval) against eq (7) along training."""
    progress = Progress("fig3_trace")
    X, Y, data = _seed_data(profile, seed)
    widths = (X.shape[1], profile.trace_width, profile.trace_width, profile.trace_width, 10)

    def compute():
        model, X_, Y_, res = _train_with_checkpoints(widths, X, Y, profile, seed, lr=SEED_LR)
        rows = []
        for epoch, params in sorted(res.checkpoints.items()):
            load_checkpoint(model, params)
            t = hutchinson(hessian(model, "mse", X_, Y_), 100, distribution="gaussian", seed=seed)
            lo, hi = t.ci(0.95)
            rows.append({"epoch": epoch, "hutchinson": t.value, "ci_low": lo, "ci_high": hi,
                         "eq7": ggn_trace([w.cpu().numpy() for w in get_weights(model)], 1.0),
                         "loss": res.losses[min(epoch, res.epochs - 1)]})
            progress(f"epoch {epoch}: Hutchinson {t.value:.3f} [{lo:.3f}, {hi:.3f}], eq 7 {rows[-1]['eq7']:.3f}")
        return {"rows": rows}

    rows = cache.get_or_compute({"report": "fig3", "version": CACHE_VERSION, "profile": profile.name, "seed": seed,
                                 "widths": widths, "data": data,
                                 "epochs": min(SEED_EPOCHS, profile.epochs), "lr": SEED_LR, **device_key(profile)},
                           compute)["rows"]
    ep = [r["epoch"] for r in rows]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    hut = np.array([r["hutchinson"] for r in rows])
    ax.errorbar(ep, hut, yerr=[hut - [r["ci_low"] for r in rows], [r["ci_high"] for r in rows] - hut], fmt="o", ms=7,
                capsize=3, label="Hutchinson (100 probes), Hessian, 95% CI")
    ax.plot(ep, [r["eq7"] for r in rows], "kx", ms=9, mew=1.5, label="eq (7), GGN closed form")
    ax.set_xscale("symlog", linthresh=max(1, ep[1] if len(ep) > 1 else 1))
    ax.set_xlabel("epoch (symlog: linear up to the first checkpoint, so epoch 0 shows)")
    ax.set_ylabel("trace of the loss Hessian")
    ax.set_title(f"003 Fig 3: {data}, widths {'-'.join(map(str, widths[1:]))}, rate {SEED_LR}", fontsize=9)
    ax.legend(fontsize=8)
    d_ = out / "fig3_trace"
    d_.mkdir(parents=True, exist_ok=True)
    png = save_figure(fig, d_ / "trace_along_training.png")
    covered = sum(r["ci_low"] <= r["eq7"] <= r["ci_high"] for r in rows)
    worst = max(rows, key=lambda r: abs(r["hutchinson"] - r["eq7"]) / r["eq7"])
    worst_dev = abs(worst["hutchinson"] - worst["eq7"]) / worst["eq7"]
    verdict = (f"fig3_trace: eq (7) lies inside Hutchinson's 95% interval at {covered}/{len(rows)} checkpoints "
               f"(max |diff|/eq7 = {worst_dev:.1%}, at epoch {worst['epoch']})")
    body = [f"![trace]({png})", "", f"*Figure: {len(widths) - 1}-layer linear network of width {profile.trace_width}, "
            f"{data}, whitened, balanced init; the trace of the Hessian (not only the GGN) "
            "along training. The closed form should fall inside the band even while the loss is high.*", "",
            _settings_line(profile, widths, 0.003, data)]
    return write_report(d_, title="003 Fig 3: trace along training", verdict=verdict, body=body, data={"rows": rows},
                        status="reproduced" if covered == len(rows) else "deviates",
                        summary=f"eq (7) inside the 95% interval at {covered}/{len(rows)} checkpoints (largest "
                                f"deviation {worst_dev:.1%}, epoch {worst['epoch']})",
                        config={"widths": widths, "profile": profile.__dict__, "seed": seed},
                        command="hessverify reports --only seed_figures")


def fig4_top10(out: Path, profile: Profile, seed: int, cache: ResultCache) -> dict:
    """003 Fig 4: LOBPCG top-10 of the Hessian of a 2-layer linear network against eq (15), along training."""
    progress = Progress("fig4_top10")
    X, Y, data = _seed_data(profile, seed)
    widths = (X.shape[1], profile.trace_width, 10)

    def compute():
        model, X_, Y_, res = _train_with_checkpoints(widths, X, Y, profile, seed, lr=SEED_LR)
        rows = []
        for epoch, params in sorted(res.checkpoints.items()):
            load_checkpoint(model, params)
            r = lobpcg(hessian(model, "mse", X_, Y_), k=10, seed=seed, tol=1e-8)
            W1, W2 = (w.cpu().numpy() for w in get_weights(model))
            theory = shallow_spectrum(W1, W2, 1.0)[:10]
            printed = shallow_spectrum(W1, W2, 1.0, as_printed=True)[:10]
            err = (100 * np.abs(r.eigenvalues.cpu().numpy() - theory) / theory).tolist()
            rows.append({"epoch": epoch, "lobpcg": r.eigenvalues.tolist(), "residuals": r.residuals.tolist(),
                         "eq15": theory.tolist(), "eq15_printed": printed.tolist(), "percent_error": err})
            progress(f"epoch {epoch}: max % error {max(err):.3f}")
        return {"rows": rows}

    rows = cache.get_or_compute({"report": "fig4", "version": FIG4_VERSION, "profile": profile.name, "seed": seed,
                                 "widths": widths, "data": data,
                                 "epochs": min(SEED_EPOCHS, profile.epochs), "lr": SEED_LR, **device_key(profile)},
                           compute)["rows"]
    ep = [r["epoch"] for r in rows]
    errs = np.array([r["percent_error"] for r in rows])
    fig, ax = plt.subplots(figsize=(5.5, 4))
    markers = "os^vD<>ph*"
    for i in range(errs.shape[1]):
        ax.semilogy(np.asarray(ep) * (1 + 0.03 * (i - 4.5) / 4.5), np.maximum(errs[:, i], 1e-12), markers[i], ms=5,
                    mfc="none", label=f"$\\lambda_{{{i + 1}}}$")
    ax.set_xlabel("epoch (points of one checkpoint spread slightly for legibility)")
    ax.set_ylabel("% error of eq (15) vs LOBPCG (Hessian)")
    ax.set_title(f"003 Fig 4: {data}, widths {'-'.join(map(str, widths[1:]))}, rate {SEED_LR}", fontsize=9)
    ax.legend(fontsize=8, ncol=2)
    d_ = out / "fig4_top10"
    d_.mkdir(parents=True, exist_ok=True)
    png = save_figure(fig, d_ / "top10_percent_error.png")
    same = all(np.allclose(r["eq15"], r["eq15_printed"], rtol=1e-12, atol=0) for r in rows)
    verdict = (f"fig4_top10: the error of eq (15) (derived form over all singular vectors, which corrects eq 15 as "
               f"printed: claims eq15_* in verification.md) on the top 10 falls from {errs[0].max():.2f}% at "
               f"initialisation to {errs[-1].max():.2g}% at the end of training; the top 10 of the printed form "
               + ("are the same at every checkpoint" if same else "differ at some checkpoints"))
    body = [f"![top10]({png})", "", f"*Figure: 2-layer linear network {widths} on {data}; percentage error of each of the top "
            "10 Hessian eigenvalues (LOBPCG, certified) against the pairwise sums of eq (15) in its derived form (all singular "
            "vectors of W1 and W2, zero singular values included; it corrects eq 15 as printed, whose top 10 are "
            "stored next to it in data.json). The error is the Hessian's second-order term, which vanishes as the "
            "loss falls.*", "", _settings_line(profile, widths, 0.001, data)]
    return write_report(d_, title="003 Fig 4: top-10 along training (eq 15)", verdict=verdict, body=body,
                        status="reproduced" if errs[-1].max() <= 1.0 else "deviates",
                        summary=f"eq (15) (derived form) error on the top 10: {errs[0].max():.0f}% at init, "
                                f"{errs[-1].max():.2g}% at the end",
                        data={"rows": rows}, config={"widths": widths, "profile": profile.__dict__, "seed": seed},
                        command="hessverify reports --only seed_figures")
