"""002 Fig 1, 3, 6, 7, 10 and the over-training question: the outliers of G, their attribution to A1 (the class
means of the per-sample gradients), Hess against G and H = Hess - G, the B1/B2 bulks against sample size and
epoch, on one-hidden-layer MLPs trained by SGD on 28x28 MNIST 5k until zero training error and beyond.

Findings are read from the stored measurements by :func:`findings`; the verdict is written from them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hessverify.cache import ResultCache
from hessverify.reports._common import Profile, Progress, write_report
from hessverify.reports.hierarchy_figures import (attribution_figure, bulks_figure, epoch_of, error_figure,
                                                  hess_g_h_figure, overtraining_figure, settings_figure)
from hessverify.reports.hierarchy_runs import SETTINGS, run_setting
from hessverify.reports.hierarchy_spectra import BOTTOM_K, OTHER_K, TOP_K

C = 10
#: a gap at least this large (ratio of consecutive eigenvalues of G) counts as outliers
OUTLIER_GAP = 1.5
#: G's top eigenvectors "lie in A1's range" when their mean squared cosine with it is at least this
OVERLAP = 0.8
#: the epochs of 002 Fig 7's rows
BULK_KINDS = ["early3", "E0", "end"]


def outliers(state: dict) -> dict:
    """Whether ``state`` (one measured epoch) shows outliers of G attributed to A1: the largest gap among G's top 30
    is at least ``OUTLIER_GAP``, it follows eigenvalue C - 1 or C, and G's top eigenvectors up to it lie in A1's
    range (overlap at least ``OVERLAP``)."""
    k = state["gap_after"]
    overlap = state["overlap_A1"].get(str(k))
    present = state["largest_gap"] >= OUTLIER_GAP and k in (C - 1, C) and overlap is not None and overlap >= OVERLAP
    deflated = np.asarray(state["G_minus_A1"])
    return {"present": bool(present), "count": k, "gap": state["largest_gap"], "overlap": overlap,
            "gap_after_9": state["ratios"][C - 2], "gap_after_10": state["ratios"][C - 1],
            "deflated_gap_after_9": float(deflated[C - 2] / deflated[C - 1]),
            "a1_share": state["A1_share"][str(C - 1)], "a1_ratio_10_9": state["A1"][C - 1] / state["A1"][C - 2]}


def reference_epoch(run: dict) -> int:
    """The epoch a setting is judged at: first zero training error, else the end of training."""
    first = run["trace"]["first_zero"]
    return first if first is not None else run["trace"]["epochs"]


def findings(data: dict) -> dict:
    """Everything the verdict states, from the stored measurements."""
    main = data["main"]
    e0, end = main["trace"]["first_zero"], main["trace"]["epochs"]
    out = {"settings": {}}
    for name, run in data["settings"].items():
        epoch = reference_epoch(run)
        out["settings"][name] = {"epoch": epoch, "error": run["states"][str(epoch)]["error"],
                                 **outliers(run["states"][str(epoch)])}
    if e0 is None:
        return out
    s0, s_end = main["states"][str(e0)], main["states"][str(end)]
    out["main"] = {"E0": e0, "end": end, **outliers(s0)}
    out["hess"] = {"gap": s0["Hess_gaps"]["largest_gap"], "gap_after": s0["Hess_gaps"]["gap_after"],
                   "h_top_over_g9": s0["H"][0] / s0["G"][C - 2],
                   "g_over_h": {kind: main["states"][str(epoch_of(main, kind))]["G"][0]
                                / main["states"][str(epoch_of(main, kind))]["H"][0] for kind in ("init", "E0", "end")}}
    after = [int(e) for e in main["states"] if int(e) >= e0]
    out["overtraining"] = {
        "epochs": sorted(after), "gap_after_9": [main["states"][str(e)]["ratios"][C - 2] for e in sorted(after)],
        "a1_share": [main["states"][str(e)]["A1_share"][str(C - 1)] for e in sorted(after)],
        "overlap": [main["states"][str(e)]["overlap_A1"][str(C - 1)] for e in sorted(after)],
        "G_top": [main["states"][str(e)]["G"][0] for e in sorted(after)],
        "persists": bool(outliers(s_end)["present"]), "end_loss": s_end["loss"], "end": outliers(s_end)}
    sizes = sorted(data["sizes"], key=int)
    sep = {n: {kind: _separation(data["sizes"][n], kind) for kind in BULK_KINDS} for n in sizes}
    out["bulks"] = {"separation": sep,
                    "separate_with_epochs": [bool(sep[n]["E0"] > sep[n]["early3"]) for n in sizes],
                    "closer_after_E0": [bool(sep[n]["end"] < sep[n]["E0"]) for n in sizes],
                    "closer_with_n": {k: bool(np.all(np.diff([sep[n][k] for n in sizes]) < 0)) for k in BULK_KINDS},
                    "a2_below_floor": {n: {k: int(np.sum(np.asarray(data["sizes"][n]["states"][str(
                        epoch_of(data["sizes"][n], k))]["A1A2B1"]) < 1e-5)) for k in BULK_KINDS} for n in sizes}}
    return out


def _separation(run: dict, kind: str) -> float:
    """How far apart the two bulks' upper edges are at an epoch kind: ``|log10(b1 / b2)|`` with ``b1`` the top of the
    B1 group of A1 + A2 + B1 as 002 Fig 7 colours it (its eigenvalue C + 1) and ``b2`` B2's top eigenvalue (decades
    between them; 0 where they meet)."""
    s = run["states"][str(epoch_of(run, kind))]
    return float(abs(np.log10(s["A1A2B1"][C] / s["B2"][0])))


def status_and_summary(f: dict) -> tuple[str, str]:
    """The index line: status and a one-line verdict. Reproduced: some setting shows C outliers of G in A1's range;
    deviates: it shows C - 1; not reproduced: no setting shows them."""
    present = {k: v for k, v in f["settings"].items() if v["present"]}
    if not present:
        tried = ", ".join(f"{k} {v['gap']:.2f}x" for k, v in f["settings"].items())
        return "not reproduced", f"no setting shows outliers of G in A1's range (largest gaps: {tried})"
    name, m = next(iter(present.items()))
    line = (f"{name}: {m['count']} outliers of G (gap {m['gap']:.2f}x), in A1's range (overlap {m['overlap']:.2f})"
            + ("; C - 1, where 002 says C" if m["count"] != C else ""))
    if "overtraining" in f:
        times = f["main"]["end"] // f["main"]["E0"]
        line += f"; {'still there' if f['overtraining']['persists'] else 'gone'} after {times}x the epochs to zero error"
    return ("reproduced" if m["count"] == C else "deviates"), line


def verdict_text(f: dict, data: dict) -> str:
    """The full verdict, every number from :func:`findings`."""
    main = data["main"]
    if "main" not in f:
        return (f"hierarchy: the main network ({SETTINGS['main']['label']}) did not reach zero training error in "
                f"{main['trace']['epochs']} epochs; " + _settings_clause(f))
    m, h, o = f["main"], f["hess"], f["overtraining"]
    text = (f"hierarchy ({data['source']}, n={main['n']}, {SETTINGS['main']['label']}, zero training error at epoch "
            f"{m['E0']}): " + (
                f"G has {m['count']} outliers (gap {m['gap']:.2f}x after eigenvalue {m['count']}; 002: 'arguably' C = "
                f"{C}), their eigenvectors lie in A1's range (overlap {m['overlap']:.2f}) and deflating A1 shrinks the "
                f"gap after #9 from {m['gap_after_9']:.2f}x to {m['deflated_gap_after_9']:.2f}x, though A1 carries only "
                f"{m['a1_share']:.0%} of the top 9's sum; A1's 10th eigenvalue is {m['a1_ratio_10_9']:.2g} of its 9th"
                if m["present"] else
                f"no outliers of G attributed to A1 (largest gap {m['gap']:.2f}x after #{m['count']}, overlap "
                f"{m['overlap']})")
            + f"; the Hessian has the same gap ({h['gap']:.2f}x after #{h['gap_after']}) and H = Hess - G has no "
            f"outliers (its top is {h['h_top_over_g9']:.2f} of G's 9th); G's top over H's top is "
            + "/".join(f"{h['g_over_h'][k]:.2g}" for k in ("init", "E0", "end")) + " at init/E0/end"
            + f"; over-training to epoch {m['end']} (loss {o['end_loss']:.2g}): the gap after #9 goes "
            + " -> ".join(f"{g:.2f}x" for g in o["gap_after_9"]) + ", A1's share "
            + " -> ".join(f"{a:.2f}" for a in o["a1_share"])
            + f" (outliers {'persist' if o['persists'] else 'disappear'}); the two bulks (eigenvalue C + 1 of "
            f"A1 + A2 + B1, the top of 002's B1 group, against B2's top, in decades) separate from epoch 3 to zero "
            f"training error at {sum(f['bulks']['separate_with_epochs'])} of {len(f['bulks']['separate_with_epochs'])} "
            f"sample sizes (002: they separate with epochs) and come closer again by the end at "
            f"{sum(f['bulks']['closer_after_E0'])}; with more samples they draw closer at "
            + (", ".join(k for k, v in f["bulks"]["closer_with_n"].items() if v) or "none")
            + f" of the epochs {'/'.join(BULK_KINDS)} (002: they draw closer); "
            + _settings_clause(f))
    return text


def _settings_clause(f: dict) -> str:
    return "settings tried: " + "; ".join(
        f"{name}: {'outliers' if s['present'] else 'no class outliers'} (largest gap {s['gap']:.2f}x after "
        f"#{s['count']}, overlap "
        f"{s['overlap'] if s['overlap'] is None else round(s['overlap'], 2)}, epoch {s['epoch']})"
        for name, s in f["settings"].items())


def hierarchy_report(out: Path, profile: Profile, seed: int, cache: ResultCache) -> dict:
    """Train and measure every setting, draw 002's figures for the main one, and write the report."""
    progress = Progress("hierarchy")
    n = profile.hierarchy_n
    main = run_setting("main", n, profile, seed, cache, progress,
                       levels={"full": {"init", "E0", "end"}, "bulks": set(BULK_KINDS)})
    sizes = {str(n): main}
    for size in profile.hierarchy_sizes:
        if size != n:
            sizes[str(size)] = run_setting("main", size, profile, seed, cache, progress,
                                           levels={"bulks": set(BULK_KINDS)})
    settings = {"main": main, **{name: run_setting(name, n, profile, seed, cache, progress,
                                                   only={"init", "E0", "end"}, overtrain=1)
                                 for name in SETTINGS if name != "main"}}
    data = {"source": main["source"], "main": main, "sizes": sizes, "settings": settings}
    f = findings(data)
    data["findings"] = f
    status, summary = status_and_summary(f)
    d = out / "hierarchy"
    d.mkdir(parents=True, exist_ok=True)
    label = f"{main['source']}, n={n}, {SETTINGS['main']['label']}"
    body = []
    if "main" in f:
        e0, end = f["main"]["E0"], f["main"]["end"]
        pngs = {
            "attribution": attribution_figure(d / "attribution.png", main, [e0, end],
                                              f"002 Fig 1 and 5: G, its A1 part and what is left ({label})"),
            "hess": hess_g_h_figure(d / "hess_g_h.png", main, [0, e0, end],
                                    f"002 Fig 3 and 6: Hess, G and H = Hess - G along training ({label})"),
            "overtraining": overtraining_figure(d / "overtraining.png", main,
                                                f"Over-training: the outliers past zero training error ({label})"),
            "bulks": bulks_figure(d / "bulks.png", sizes, BULK_KINDS,
                                  f"002 Fig 7: A1 + A2 + B1 (exact) and B2 (Lanczos) by sample size and epoch "
                                  f"({SETTINGS['main']['label']})"),
            "errors": error_figure(d / "training_error.png", sizes, "002 Fig 10: training error by sample size"),
        }
        body += _figures_text(pngs, f, data)
    rows = [(name, run["states"][str(reference_epoch(run))]) for name, run in settings.items()]
    title = "The top 30 of G in every setting tried, at zero training error (Adam: end)"
    body += [f"![settings]({settings_figure(d / 'settings_tried.png', rows, title)})",
             "", "*Every setting tried: the top 30 eigenvalues of G divided by the largest. A gap after the "
             "9th or 10th eigenvalue is the outlier structure of 002.*", "", *_settings_table(f, data), "",
             *_source_lines(profile)]
    verdict = verdict_text(f, data)
    return write_report(d, title="002 Fig 1, 3, 6, 7, 10: outliers of G, their class-mean attribution, over-training",
                        verdict=verdict, body=body, data=data, status=status, summary=summary,
                        config={"seed": seed, "n": n, "sizes": list(profile.hierarchy_sizes),
                                "overtrain": profile.overtrain, "max_epochs": profile.hierarchy_max_epochs,
                                "settings": SETTINGS, "top_k": TOP_K, "other_k": OTHER_K,
                                "outlier_gap": OUTLIER_GAP, "overlap": OVERLAP},
                        command=f"hessverify reports --profile {profile.name} --only hierarchy")


def _figures_text(pngs: dict, f: dict, data: dict) -> list[str]:
    m = f["main"]
    return [f"![attribution]({pngs['attribution']})", "",
            f"*002 Fig 1 and 5. At zero training error (epoch {m['E0']}, left) and after over-training (epoch "
            f"{m['end']}, right): the top {TOP_K} eigenvalues of G (Lanczos, residual <= 1e-6 of the largest), the "
            f"C = {C} nonzero eigenvalues of A1 and the {C}^2 of A1 + A2 + B1 (exact: eigenvalues of the Gram "
            "matrices of the class-mean gradient vectors), and the top of G - A1 and of B2 = G - (A1 + A2 + B1) "
            "(Lanczos on the deflated operator: 002 Fig 5's deflation, by A1 instead of by subspace iteration).*", "",
            f"![Hess, G, H]({pngs['hess']})", "",
            f"*002 Fig 3 and 6. The top {OTHER_K} of the Hessian, of G and of H = Hess - G, and the {BOTTOM_K} most "
            "negative eigenvalues of Hess and H (by magnitude; Lanczos, residual <= 1e-3 of the largest), at "
            "initialisation, at zero training error and at the end. "
            "The outliers of the Hessian are those of G; H's top stays in the bulk.*", "",
            f"![over-training]({pngs['overtraining']})", "",
            "*The over-training question. Left: the training loss and error. Right: the gap after G's 9th and 10th "
            "eigenvalue, A1's share of G's top 9 (sum of A1's top 9 over sum of G's top 9) and the overlap of G's "
            "top-9 eigenvectors with A1's range, at every measured epoch; dashed: zero training error.*", "",
            f"![bulks]({pngs['bulks']})", "",
            "*002 Fig 7. Columns: sample size; rows: epoch 3, zero training error, the end. The exact eigenvalues of "
            "A1 + A2 + B1 coloured as 002 assigns them (top C: A1, next C^2 - 2C: B1, last C: A2; values below 1e-5, "
            "as in 002's log(G + 1e-5 I), not drawn and counted in the title) and the top of B2 (red, Lanczos). 002: "
            "with epochs the two bulks separate, with more samples they draw closer; the titles give the top of the "
            "B1 group (dashed green) over B2's top, the table below the decades between them.*", "",
            f"![training error]({pngs['errors']})", "",
            "*002 Fig 10: the training error per epoch for each sample size; circles mark the measured epoch where "
            "G's top eigenvalue was largest.*", "",
            "| sample size | epoch 3 | zero error | end | separates by zero error |", "| ---: | ---: | ---: | ---: | --- |",
            *[f"| {n} | " + " | ".join(f"{f['bulks']['separation'][n][k]:.2f}" for k in BULK_KINDS)
              + f" | {'yes' if sep else 'no'} |"
              for n, sep in zip(sorted(data["sizes"], key=int), f["bulks"]["separate_with_epochs"])],
            "", "*Decades between the top of the B1 group (eigenvalue C + 1 of A1 + A2 + B1) and B2's top eigenvalue, "
            "|log10 ratio|.*", ""]


def _settings_table(f: dict, data: dict) -> list[str]:
    rows = ["| setting | parameters | epochs (zero error at) | judged at | training error | largest gap of G (after #) | "
            "overlap with A1 | A1's share of top 9 | outliers |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for name, s in f["settings"].items():
        run = data["settings"][name]
        t = run["trace"]
        rows.append(f"| {SETTINGS[name]['label']} | {run['parameters']} | {t['epochs']} {t['unit']}s "
                    f"({t['first_zero'] if t['first_zero'] is not None else '-'}) | {s['epoch']} | {s['error']:.3f} | "
                    f"{s['gap']:.2f}x ({s['count']}) | {_number(s['overlap'])} | "
                    f"{s['a1_share']:.2f} | {'yes' if s['present'] else 'no'} |")
    return rows


def _number(x) -> str:
    return "-" if x is None else f"{x:.2f}"


def _source_lines(profile: Profile) -> list[str]:
    return ["## Settings", "",
            "- the source: 002 trains VGG11/ResNet18 on MNIST, Fashion-MNIST, CIFAR-10/100 by SGD (momentum 0.9, "
            "weight decay 5e-4, batch 128, 200-350 epochs, 20 sample sizes from 10 to 5,000 per class) and cites "
            "Sagun et al.'s outliers on one-hidden-layer MNIST networks with 70 hidden units",
            f"- ours: one-hidden-layer MLPs on MNIST 5k (28x28, pixels in [0, 1] unless stated), n = "
            f"{profile.hierarchy_n} class-balanced images for the settings and {list(profile.hierarchy_sizes)} for "
            f"Fig 7 and 10, plain SGD to zero training error and on to {profile.overtrain}x that many epochs (at most "
            f"{profile.hierarchy_max_epochs}); G's top {TOP_K} by Lanczos on the matrix-free GGN, A1, A2, B1 exactly "
            "from the class-mean gradients (Gram matrices of C and C^2 vectors), the rest by Lanczos on deflated "
            "operators. No p x p matrix is formed",
            "- not attempted: VGG/ResNet-scale networks, CIFAR (not installable offline) and 002's SLQ densities of "
            "the deflated operators (Fig 5's bulk panels): the deflated top eigenvalues are drawn instead",
            "- preprocessing: per-pixel standardisation removes the mean image, and with it the outliers "
            "(../shared/DATA.md measured the same on digits); the previous version of this report standardised its "
            "inputs and reported no outliers"]
