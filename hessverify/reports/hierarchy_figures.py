"""Figures of the 002 hierarchy report, drawn from the stored (``data.json``) measurements only."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hessverify.reports._common import plt, save_figure

C = 10
#: 002 Fig 7 draws log(G + 1e-5 I): eigenvalues below 1e-5 are not drawn (the titles count them)
BULK_FLOOR = 1e-5


def _index(values) -> np.ndarray:
    return np.arange(1, len(values) + 1)


def _positive(values) -> np.ndarray:
    return np.maximum(np.asarray(values, float), 1e-12)


def _mark_classes(ax) -> None:
    ax.axvline(C - 0.5, color="0.6", lw=0.7, ls=":")
    ax.axvline(C + 0.5, color="0.6", lw=0.7, ls="--")


def attribution_figure(path: Path, run: dict, epochs: list[int], title: str) -> str:
    """002 Fig 1: the top of G, of G - A1 and of B2 = G - (A1 + A2 + B1) (Lanczos), and the exact nonzero spectra of
    A1 (C values) and A1 + A2 + B1 (C^2 values), one panel per epoch."""
    fig, axes = plt.subplots(1, len(epochs), figsize=(6.2 * len(epochs), 4.6), squeeze=False, sharey=True)
    states = [run["states"][str(e)] for e in epochs]
    lo, hi = max(1e-4, min(min(st["G"]) for st in states) / 30), max(max(st["G"]) for st in states) * 2
    for ax, epoch in zip(axes[0], epochs):
        s = run["states"][str(epoch)]
        ax.semilogy(_index(s["A1A2B1"]), _positive(s["A1A2B1"]), "-", color="0.75", lw=2.5,
                    label=f"A1 + A2 + B1, exact ({C}^2 values)")
        ax.semilogy(_index(s["G"]), s["G"], "o", ms=6, color="C0", label="G (Lanczos)")
        ax.semilogy(_index(s["A1"]), _positive(s["A1"]), "s", ms=10, mfc="none", color="C1", label="A1, exact (C values)")
        ax.semilogy(_index(s["G_minus_A1"]), _positive(s["G_minus_A1"]), "^", ms=6, color="C2",
                    label="G - A1 (Lanczos)")
        if "B2" in s:
            ax.semilogy(_index(s["B2"]), _positive(s["B2"]), "v", ms=6, color="C3", label="B2 = G - (A1+A2+B1)")
        _mark_classes(ax)
        ax.set_xlim(0, 41)
        ax.set_ylim(lo, hi)
        ax.set_xlabel("eigenvalue index (dotted: C - 1 = 9, dashed: C = 10)")
        ax.set_title(f"epoch {epoch}: training error {s['error']:.3f}, loss {s['loss']:.3g}; largest gap of G "
                     f"{s['largest_gap']:.2f}x after #{s['gap_after']}", fontsize=9)
        ax.legend(fontsize=8, loc="upper right")
    axes[0][0].set_ylabel("eigenvalue")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def hess_g_h_figure(path: Path, run: dict, epochs: list[int], title: str) -> str:
    """002 Fig 3 and 6: the top of Hess, G and H = Hess - G, and |bottom| of Hess and H, one panel per epoch."""
    fig, axes = plt.subplots(1, len(epochs), figsize=(5.6 * len(epochs), 4.4), squeeze=False, sharey=True)
    for ax, epoch in zip(axes[0], epochs):
        s = run["states"][str(epoch)]
        ax.semilogy(_index(s["Hess"]), _positive(s["Hess"]), "o", ms=7, mfc="none", color="C3", label="Hess, top")
        ax.semilogy(_index(s["G"][:len(s["Hess"])]), s["G"][:len(s["Hess"])], ".", ms=7, color="C2", label="G, top")
        ax.semilogy(_index(s["H"]), _positive(s["H"]), "s", ms=5, color="C0", label="H = Hess - G, top")
        ax.semilogy(_index(s["Hess_bottom"]), _positive(np.abs(s["Hess_bottom"])), "x", ms=7, color="C3",
                    label="|Hess, bottom|")
        ax.semilogy(_index(s["H_bottom"]), _positive(np.abs(s["H_bottom"])), "+", ms=8, color="C0",
                    label="|H, bottom|")
        _mark_classes(ax)
        ax.set_xlabel("index (top: largest first; bottom: most negative first)")
        ax.set_title(f"epoch {epoch}: error {s['error']:.3f}; top H / 9th of G = "
                     f"{s['H'][0] / s['G'][C - 2]:.2f}", fontsize=9)
    axes[0][0].set_ylabel("eigenvalue (log; negative ones by magnitude)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return save_figure(fig, path)


def overtraining_figure(path: Path, run: dict, title: str) -> str:
    """Left: training loss and error per epoch (log x). Right: G's gap after the 9th and 10th eigenvalue, the
    share of G's top 9 that A1 carries and the overlap of G's top-9 eigenspace with A1's range, per measured
    epoch; the epoch of zero training error marked."""
    t = run["trace"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.2))
    ep = np.arange(len(t["losses"]))
    a1.loglog(ep + 1, t["losses"], "-", color="C0", label="training loss")
    a1.loglog(ep + 1, np.maximum(t["errors"], 1e-4), "-", color="C3", label="training error (0 drawn at 1e-4)")
    a1.axvline(t["first_zero"] + 1, color="k", ls="--", lw=0.8, label=f"zero training error, epoch {t['first_zero']}")
    a1.set_xlabel("epoch + 1")
    a1.set_ylabel("full training set")
    a1.legend(fontsize=8)
    epochs = sorted(map(int, run["states"]))
    x = np.asarray(epochs) + 1
    st = [run["states"][str(e)] for e in epochs]
    a2.semilogx(x, [s["ratios"][C - 2] for s in st], "o-", color="C0", label="G: lambda_9 / lambda_10")
    a2.semilogx(x, [s["ratios"][C - 1] for s in st], "s:", color="C0", mfc="none", label="G: lambda_10 / lambda_11")
    a2.semilogx(x, [s["A1_share"][str(C - 1)] for s in st], "D-", color="C1",
                label="A1's share: sum of its top 9 / G's top 9")
    a2.semilogx(x, [s["overlap_A1"][str(C - 1)] for s in st], "^-", color="C2",
                label="overlap of G's top-9 eigenvectors with A1's range")
    a2.axhline(1.5, color="0.5", lw=0.7, ls=":")
    a2.axvline(t["first_zero"] + 1, color="k", ls="--", lw=0.8)
    a2.set_xlabel("epoch + 1")
    a2.set_ylabel("ratio / share / overlap")
    a2.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def bulks_figure(path: Path, runs: dict, kinds: list[str], title: str) -> str:
    """002 Fig 7: per sample size (columns) and epoch (rows), the exact eigenvalues of A1 + A2 + B1 coloured by the
    part 002 assigns them to (top C: A1; next C^2 - 2C: B1; last C: A2), B1's own spectrum, and the top of B2."""
    sizes = sorted(runs, key=int)
    fig, axes = plt.subplots(len(kinds), len(sizes), figsize=(4.6 * len(sizes), 3.2 * len(kinds)), squeeze=False,
                             sharey=True)
    for j, n in enumerate(sizes):
        run = runs[n]
        for i, kind in enumerate(kinds):
            ax = axes[i][j]
            epoch = epoch_of(run, kind)
            s = run["states"][str(epoch)]
            v = _positive(s["A1A2B1"])
            idx = _index(v)
            ax.semilogy(idx[:C], v[:C], "o", ms=4, color="gold", label="A1+A2+B1: top C (A1)")
            ax.semilogy(idx[C:C * C - C], v[C:C * C - C], "o", ms=3, color="C2", label="next C^2 - 2C (B1)")
            ax.semilogy(idx[C * C - C:], v[C * C - C:], "o", ms=3, color="teal", label="last C (A2)")
            ax.set_ylim(BULK_FLOOR, None)
            ax.semilogy(_index(s["B2"]), _positive(s["B2"]), "v", ms=4, color="C3", label="B2, top (Lanczos)")
            ax.axhline(v[C], color="C2", lw=0.7, ls="--")
            below = int(np.sum(v < BULK_FLOOR))
            ax.set_title(f"n={n}, epoch {epoch} ({kind}), error {s['error']:.3f}: B1 group top / B2 top "
                         f"{v[C] / s['B2'][0]:.2f}; {below} below 1e-5", fontsize=8)
            if i == len(kinds) - 1:
                ax.set_xlabel("eigenvalue index")
            if j == 0:
                ax.set_ylabel("eigenvalue")
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def epoch_of(run: dict, kind: str) -> int:
    """The epoch a kind names: ``early3`` (3), ``E0`` (first zero training error), ``end``."""
    return {"early3": 3, "E0": run["trace"]["first_zero"], "end": run["trace"]["epochs"], "init": 0}[kind]


def error_figure(path: Path, runs: dict, title: str) -> str:
    """002 Fig 10: training error against epoch per sample size (log x), with a circle at the measured epoch where
    G's top eigenvalue peaked."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for j, n in enumerate(sorted(runs, key=int)):
        run = runs[n]
        err = np.asarray(run["trace"]["errors"])
        ep = np.arange(err.size)
        ax.semilogx(ep + 1, err, "-", color=f"C{j}", label=f"n={n}")
        peak = max(run["states"], key=lambda e: run["states"][e]["G"][0])
        ax.plot(int(peak) + 1, err[int(peak)], "o", ms=12, mfc="none", color=f"C{j}")
    ax.set_xlabel("epoch + 1 (log)")
    ax.set_ylabel("training error")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, title="circle: epoch of G's largest top eigenvalue (measured epochs)", title_fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def settings_figure(path: Path, rows: list[tuple[str, dict]], title: str) -> str:
    """The top 30 of G, divided by its largest, for each setting tried (at zero training error, or at the end of
    the Adam run): where a gap is, and where none is."""
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    for j, (label, s) in enumerate(rows):
        g = np.asarray(s["G"])
        ax.semilogy(_index(g), g / g[0], "o-", ms=4, lw=0.8, color=f"C{j}",
                    label=f"{label}: gap {s['largest_gap']:.2f}x after #{s['gap_after']}")
    _mark_classes(ax)
    ax.set_xlabel("eigenvalue index of G")
    ax.set_ylabel("eigenvalue / largest")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return save_figure(fig, path)
