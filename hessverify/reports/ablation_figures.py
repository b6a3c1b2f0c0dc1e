"""Figures of the 003 ablations: sharpness against alpha_max, the training runs behind it, and the networks along
training."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hessverify.reports._common import plt, save_figure
from hessverify.reports.ablation_cells import DEPTH
from hessverify.reports.ablation_verdicts import relative_error
from theory.linear import sharpness_from_labels

def panel(ax, rows, title, linear: bool = True):
    """Measured sharpness (Hessian: dots, GGN: open squares around them; hollow dots: not converged) and, for linear
    networks (``linear``), eq 14."""
    for conv in (True, False):
        sel = [r for r in rows if r["convergence"]["converged"] == conv]
        if not sel:
            continue
        a = [r["alpha_actual"] for r in sel]
        ax.errorbar(a, [r["lambda_max_hessian"] for r in sel], yerr=[r["residual_hessian"] for r in sel], fmt="o",
                    ms=7, color="C0", mfc="C0" if conv else "white", zorder=3,
                    label="Hessian, Lanczos" + ("" if conv else " (not converged)"))
    ax.plot([r["alpha_actual"] for r in rows], [r["lambda_max_ggn"] for r in rows], "s", ms=12, mfc="none",
            color="C1", zorder=2, label="GGN, Lanczos")
    grid = np.linspace(min(r["alpha_actual"] for r in rows), 1.0, 100)
    if linear:
        ax.plot(grid, [sharpness_from_labels(a, DEPTH, 1.0) for a in grid], "k-", lw=1, label="eq (14) as printed")
    if linear and all(r["pred_projected"] is not None for r in rows):
        ax.plot([r["alpha_actual"] for r in rows], [r["pred_projected"] for r in rows], "D", ms=4, color="C2",
                zorder=4, label="eq (14), projected labels")
    ax.set_xlabel(r"max. label proportion $\alpha_{max}$")
    ax.set_ylabel(r"final sharpness $\lambda_{max}$")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)


def loss_figure(rows, path: Path, title: str) -> str:
    """Left: loss above the floor, relative to the initial excess (or the loss, without a floor); right: the
    gradient norm relative to its initial value. One colour per alpha_max; the dashed line is the rule."""
    from hessverify.training import CONVERGED_GAP, CONVERGED_GRAD

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    has_floor = rows[0]["convergence"]["floor"] is not None
    for i, r in enumerate(rows):
        ep, loss = np.array(r["loss_curve"]).T
        c = r["convergence"]
        y = (loss - c["floor"]) / max(c["initial_loss"] - c["floor"], 1e-300) if has_floor else loss
        style = "-" if c["converged"] else ":"
        lab = f"alpha_max={r['alpha_actual']:.2f}, lr {r['lr']}" + ("" if c["converged"] else " (not converged)")
        a1.semilogy(ep + 1, np.maximum(y, 1e-12), style, color=f"C{i}", label=lab)
        ge, gn = np.array(r["grad_curve"]).T
        a2.semilogy(ge + 1, gn / gn[0], style, color=f"C{i}")
    if has_floor:
        a1.axhline(CONVERGED_GAP, color="k", ls="--", lw=0.8)
        a1.set_ylabel("(loss - floor) / (initial loss - floor)")
    else:
        a1.set_ylabel("loss (no floor known)")
        a2.axhline(CONVERGED_GRAD, color="k", ls="--", lw=0.8)
    for ax in (a1, a2):
        ax.set_xscale("log")
        ax.set_xlabel("epoch")
    a2.set_ylabel("gradient norm / initial")
    a1.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def along_figure(rows, path: Path, title: str, linear: bool = True) -> str:
    """Points per checkpoint, one colour per alpha_max (converged cells filled, others hollow): lambda_max against
    the epoch (every cell: has it settled?), and for linear networks the top 10 against eq (9) and the trace against
    eq (7)."""
    from hessverify.reports.ablation_verdicts import SETTLED_AT

    fig, axes = plt.subplots(1, 3 if linear else 1, figsize=(15 if linear else 5.6, 3.9), squeeze=False)
    a0 = axes[0][0]
    for i, r in enumerate(rows):
        ep = [c["epoch"] for c in r["along_training"]]
        conv = r["convergence"]["converged"]
        style = dict(color=f"C{i}", mfc=f"C{i}" if conv else "white")
        lab = f"alpha_max={r['alpha_actual']:.2f}" + ("" if conv else " (not converged)")
        a0.plot(ep, [c["top"][0] for c in r["along_training"]], "o-", ms=5, lw=0.8, label=lab, **style)
        if not linear:
            continue
        err = [float(np.max(relative_error(c["top"], c["top_theory"]))) for c in r["along_training"]]
        axes[0][1].semilogy(ep, np.maximum(err, 1e-16), "o", ms=5, **style)
        dev = [(c["trace"] - c["trace_eq7"]) / c["trace_eq7"] for c in r["along_training"]]
        half = [(c["trace_ci"][1] - c["trace_ci"][0]) / 2 / c["trace_eq7"] for c in r["along_training"]]
        axes[0][2].errorbar(ep, dev, yerr=half, fmt="o", ms=5, capsize=2, **style)
    a0.set_yscale("log")
    a0.set_xlabel("epoch")
    a0.set_ylabel("lambda_max (Lanczos)")
    a0.set_title(f"sharpness along training (the plateau rule compares the end with {SETTLED_AT:.0%} of it)",
                 fontsize=8)
    a0.legend(fontsize=7)
    if linear:
        axes[0][1].set_xlabel("epoch")
        axes[0][1].set_ylabel("max relative error of the top 10 vs eq (9)")
        axes[0][2].axhline(0, color="k", lw=0.7)
        axes[0][2].set_xlabel("epoch")
        axes[0][2].set_ylabel("(Hutchinson trace - eq 7) / eq 7")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)
