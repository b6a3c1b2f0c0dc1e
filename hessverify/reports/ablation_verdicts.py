"""Verdict text of the 003 ablations: the summary of a sweep, its verdict line and its table.

Two rules say which cells a verdict reads. Converged (:func:`hessverify.training.convergence`): the loss is within
0.1% of the reducible loss above the least-squares floor (linear cells) or the run is stationary (tanh). Settled
(the plateau rule, :func:`sharpness_change`): the quantity the verdict is about, lambda_max, changed by at most
``SETTLED_CHANGE`` over the last part of training (from the last checkpoint at or before ``SETTLED_AT`` of the
epochs run to the end). A sweep with fewer than ``MIN_CONVERGED`` converged cells is read from its settled cells,
and says so; eq (14)'s zero-loss forms are compared with converged cells only.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

MIN_CONVERGED = 3
#: the plateau rule: lambda_max settled when it changed by at most this (relative) since the checkpoint at or before
#: this fraction of the epochs run
SETTLED_CHANGE, SETTLED_AT = 0.01, 0.8
#: a cell whose final sharpness is at least this fraction of 2 / lr trained at the edge of stability
EOS_FRACTION = 0.9


def relative_error(a, b) -> np.ndarray:
    return np.abs(np.asarray(a) - np.asarray(b)) / np.abs(np.asarray(b))


def converged(rows) -> list[dict]:
    return [r for r in rows if r["convergence"]["converged"]]


def sharpness_change(row) -> dict:
    """The plateau rule on one cell: lambda_max (the top Lanczos value at each checkpoint) at the end against the
    last checkpoint at or before ``SETTLED_AT`` of the epochs run; ``settled`` when the relative change is at most
    ``SETTLED_CHANGE``."""
    cps = row["along_training"]
    end = cps[-1]
    earlier = [c for c in cps if c["epoch"] <= SETTLED_AT * end["epoch"]]
    if not earlier or end["epoch"] == 0:
        return {"from_epoch": None, "change": None, "settled": False}
    ref = earlier[-1]
    change = abs(end["top"][0] - ref["top"][0]) / abs(end["top"][0])
    return {"from_epoch": ref["epoch"], "change": float(change), "settled": bool(change <= SETTLED_CHANGE)}


def settled(rows) -> list[dict]:
    """Cells that did not converge but whose lambda_max settled by the plateau rule."""
    return [r for r in rows if not r["convergence"]["converged"] and sharpness_change(r)["settled"]]


def _along_summary(rows) -> dict:
    """Final top-10 error and how often eq (7) falls inside the trace interval, over the given rows' checkpoints."""
    if not rows:
        return {"final_top10_max_rel_error": None, "trace_eq7_covered": 0, "checkpoints": 0}
    final = [float(np.max(relative_error(r["along_training"][-1]["top"], r["along_training"][-1]["top_theory"]))) for r in rows]
    cps = [c for r in rows for c in r["along_training"]]
    return {"final_top10_max_rel_error": max(final),
            "trace_eq7_covered": int(sum(c["trace_ci"][0] <= c["trace_eq7"] <= c["trace_ci"][1] for c in cps)),
            "checkpoints": len(cps)}


def summarize(rows) -> dict:
    """Everything a verdict says, from the converged rows only (the plotted filled markers)."""
    ok = converged(rows)
    gaps = [r["convergence"]["gap"] for r in rows if not r["convergence"]["converged"]
            and r["convergence"].get("gap") is not None]
    out = {"cells": len(rows), "converged": len(ok), "max_final_loss": float(max(r["final_loss"] for r in rows)),
           "unconverged_gap_range": [float(min(gaps)), float(max(gaps))] if gaps else None,
           "edge_of_stability": sum(r["lambda_max_hessian"] >= EOS_FRACTION * 2 / r["lr"] for r in rows),
           "spearman_alpha_vs_sharpness": None, "max_rel_dev_printed": None, "max_rel_dev_projected": None,
           "min_final_loss_converged": None, **_along_summary(ok),
           "settled": len(settled(rows)), "spearman_settled": None,
           "max_sharpness_change_unconverged": max((sharpness_change(r)["change"] or 0.0 for r in rows
                                                    if not r["convergence"]["converged"]), default=None)}
    usable = ok + settled(rows)
    if len(ok) < MIN_CONVERGED and len(usable) >= MIN_CONVERGED:
        out["spearman_settled"] = float(stats.spearmanr([r["alpha_actual"] for r in usable],
                                                        [r["lambda_max_hessian"] for r in usable]).statistic)
    if not ok:
        return out
    meas = [r["lambda_max_hessian"] for r in ok]
    projected = [r["pred_projected"] for r in ok]
    out.update(max_rel_dev_printed=float(relative_error(meas, [r["pred_printed"] for r in ok]).max()),
               max_rel_dev_projected=float(relative_error(meas, projected).max()) if None not in projected else None,
               min_final_loss_converged=float(min(r["final_loss"] for r in ok)))
    if len(ok) >= MIN_CONVERGED:
        out["spearman_alpha_vs_sharpness"] = float(stats.spearmanr([r["alpha_actual"] for r in ok], meas).statistic)
    return out


#: which of 003's assumptions a cell drops, said in its verdict (the eq 14 forms are derived under all three)
DROPPED = {"raw_inputs": "inputs not whitened: Assumption 2 does not hold",
           "kaiming_init": "Kaiming-uniform init is not balanced: Assumption 3 does not hold at initialisation, so "
                           "neither eq 14 form is derived for these cells",
           "tanh": "a tanh network: the linear-network derivation does not apply"}


def conditions(rows) -> str:
    """Data, sizes and widths of a sweep, for its verdict line."""
    r = rows[0]
    d0 = sorted({x["d0"] for x in rows})
    return (f"{r['source']}, n={r['n']}, d0={d0[0] if len(d0) == 1 else f'{d0[0]}..{d0[-1]}'}, "
            f"widths {'-'.join(str(w) for w in r['widths'][1:])}")


def cell_verdict(name: str, rows, s: dict) -> str:
    """The verdict line, read from ``s = summarize(rows)`` (converged cells only), with its conditions."""
    head = f"{name} ({conditions(rows)}): {s['converged']}/{s['cells']} cells converged"
    if s.get("unconverged_gap_range"):
        lo, hi = s["unconverged_gap_range"]
        head += (f" (the unconverged end {100 * lo:.2g}-{100 * hi:.2g}% of the reducible loss above the least-squares "
                 f"floor after {max(r['convergence']['epochs'] for r in rows)} epochs)")
    if name in DROPPED:
        head += f"; {DROPPED[name]}"
    if s["edge_of_stability"]:
        head += (f", {s['edge_of_stability']} at the edge of stability (final sharpness >= {EOS_FRACTION} x 2/lr: the "
                 "rate, not the data, sets it)")
    if s["converged"] < MIN_CONVERGED:
        head += _plateau_clause(rows, s)
    if s["converged"] == 0:
        return head
    rho = s["spearman_alpha_vs_sharpness"]
    trend = (f"cannot tell whether sharpness grows with alpha_max (fewer than {MIN_CONVERGED} converged cells)"
             if rho is None else f"sharpness {'increases' if rho > 0.8 else 'does not increase monotonically'} with "
             f"alpha_max (Spearman {rho:.2f} over the converged cells)")
    if name == "tanh":
        return f"{head}; {trend} (eq 14 and eq 9 are linear-network forms: not compared)"
    loss = s["min_final_loss_converged"]
    assumption = (f"the final loss is at least {loss:.2g} > 0, so Assumption 1 (zero loss) does not hold and eq 14 as "
                  f"printed is off by up to {100 * s['max_rel_dev_printed']:.0f}%" if loss > 1e-8 else
                  f"the loss reaches zero (Assumption 1 holds) and eq 14 as printed is off by up to "
                  f"{100 * s['max_rel_dev_printed']:.2g}%")
    projected = ("the projected-label form does not apply (inputs not whitened, Assumption 2)"
                 if s["max_rel_dev_projected"] is None else
                 f"the projected-label form (exact at the least-squares solution) by up to "
                 f"{100 * s['max_rel_dev_projected']:.2g}%")
    along = (f"; at the end of training the top 10 match eq 9 to {100 * s['final_top10_max_rel_error']:.2g}% and eq 7 "
             f"is inside the trace interval at {s['trace_eq7_covered']}/{s['checkpoints']} checkpoints")
    return f"{head}; {trend}; {assumption}; {projected}{along}"


def _plateau_clause(rows, s: dict) -> str:
    """For sweeps with too few converged cells: what the plateau rule on lambda_max says, precisely."""
    used = s["converged"] + s["settled"]
    changes = [sharpness_change(r) for r in rows if not r["convergence"]["converged"]]
    worst = max((c["change"] for c in changes if c["change"] is not None), default=None)
    text = (f"; by the plateau rule (lambda_max changed by <= {100 * SETTLED_CHANGE:g}% over the last "
            f"{100 * (1 - SETTLED_AT):.0f}%+ of training) {s['settled']} of the unconverged cells settled")
    if worst is not None:
        text += f" (largest change {100 * worst:.2g}%)"
    if s["spearman_settled"] is not None:
        rho = s["spearman_settled"]
        return text + (f"; over the {used} converged or settled cells sharpness "
                       f"{'increases' if rho > 0.8 else 'does not increase monotonically'} with alpha_max "
                       f"(Spearman {rho:.2f}; the eq 14 forms need zero loss and are not compared)")
    epochs = max(r["convergence"]["epochs"] for r in rows)
    return text + (f"; no verdict: {used} converged or settled cells, fewer than {MIN_CONVERGED}: after {epochs} "
                   "epochs (003 App. C's budget is 10,000) lambda_max is still moving, so 003 Fig 2's final sharpness "
                   "for this setting depends on when training stops")


def rows_table(rows) -> list[str]:
    out = ["| alpha_max | lambda_max (Hessian) | residual | GGN | eq 14 printed | projected | final loss | floor | "
           "converged | lr (epochs) |", "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for r in rows:
        c = r["convergence"]
        floor = "n/a" if c["floor"] is None else f"{c['floor']:.4e}"
        tried = ", ".join(f"{a['lr']}" + (" diverged" if a["diverged"] else f" ({a['epochs']})") for a in r["attempts"])
        out.append(f"| {r['alpha_actual']:.3f} | {r['lambda_max_hessian']:.5f} | {r['residual_hessian']:.1e} | "
                   f"{r['lambda_max_ggn']:.5f} | {r['pred_printed']:.5f} | "
                   f"{'n/a' if r['pred_projected'] is None else format(r['pred_projected'], '.5f')} | "
                   f"{r['final_loss']:.4e} | {floor} | {'yes' if c['converged'] else '**no**'} | {tried} |")
    return out


def convergence_rule(rows) -> str:
    return rows[0]["convergence"]["rule"]


#: eq 14 as printed "holds" for a converged sweep within this relative deviation
PRINTED_AGREE = 0.05


def cell_status(s: dict, linear: bool = True) -> str:
    """A sweep's status: read from converged cells (at least ``MIN_CONVERGED``), else from converged or settled
    ones; no verdict with fewer. Reproduced when sharpness rises with alpha_max (Spearman > 0.8) and, for the linear
    cells read from converged ones, eq 14 as printed is within ``PRINTED_AGREE``; deviates otherwise."""
    rho = s["spearman_alpha_vs_sharpness"] if s["converged"] >= MIN_CONVERGED else s["spearman_settled"]
    if rho is None:
        return "no verdict"
    if rho <= 0.8:
        return "deviates"
    if not linear or s["converged"] < MIN_CONVERGED:
        return "reproduced"
    return "reproduced" if s["max_rel_dev_printed"] <= PRINTED_AGREE else "deviates"


def cell_summary(s: dict, linear: bool = True) -> str:
    """The index line of a sweep."""
    head = f"{s['converged']}/{s['cells']} cells converged"
    if s["converged"] < MIN_CONVERGED:
        used = s["converged"] + s["settled"]
        if s["spearman_settled"] is None:
            return head + (f", {s['settled']} more settled (lambda_max within {100 * SETTLED_CHANGE:g}%): no verdict "
                           f"(fewer than {MIN_CONVERGED})")
        rho = s["spearman_settled"]
        return head + (f", {s['settled']} more settled; over those {used}: sharpness "
                       f"{'rises' if rho > 0.8 else 'does not rise'} with alpha_max (Spearman {rho:.2f})")
    if not linear:
        rho = s["spearman_alpha_vs_sharpness"]
        return head + f"; sharpness {'rises' if rho > 0.8 else 'does not rise'} with alpha_max (Spearman {rho:.2f})"
    rho = s["spearman_alpha_vs_sharpness"]
    line = (f"{head}; sharpness {'rises' if rho > 0.8 else 'does not rise'} with alpha_max (Spearman {rho:.2f}); eq 14 "
            f"as printed off by up to {100 * s['max_rel_dev_printed']:.2g}%")
    if s["max_rel_dev_projected"] is not None:
        line += f", projected-label form by {100 * s['max_rel_dev_projected']:.2g}%"
    return line


def imbalance_findings(by_n: dict) -> dict:
    """Per sample size: the input width d0 (it changes with the subset), whether n <= d0 (zero loss is possible,
    Assumption 1), and the signed relative deviation of the converged cells from eq 14 as printed."""
    out = {}
    for n, rows in by_n.items():
        ok = converged(rows)
        dev = [(r["lambda_max_hessian"] - r["pred_printed"]) / r["pred_printed"] for r in ok]
        d0 = [r["d0"] for r in rows]
        out[str(n)] = {"n": int(n), "d0": [min(d0), max(d0)], "n_le_d0": int(n) <= min(d0), "converged": len(ok),
                       "cells": len(rows), "deviation": [min(dev), max(dev)] if dev else None}
    return out


def imbalance_verdict(source: str, f: dict) -> tuple[str, str, str]:
    """Status, index line and verdict of the label-imbalance sweep, from :func:`imbalance_findings`."""
    parts = []
    for v in f.values():
        where = f"n={v['n']} {'<=' if v['n_le_d0'] else '>'} d0={v['d0'][0]}..{v['d0'][1]}"
        if v["deviation"] is None:
            parts.append(f"{where}: no converged cell")
            continue
        lo, hi = (100 * x for x in v["deviation"])
        parts.append(f"{where} ({v['converged']}/{v['cells']} converged): sharpness {lo:+.2g}% to {hi:+.2g}% from eq 14 "
                     "as printed")
    usable = [v for v in f.values() if v["deviation"] is not None]
    exact_small = all(max(abs(x) for x in v["deviation"]) <= PRINTED_AGREE for v in usable if v["n_le_d0"])
    status = ("no verdict" if not usable else "reproduced" if all(
        max(abs(x) for x in v["deviation"]) <= PRINTED_AGREE for v in usable) else "deviates")
    summary = ("; ".join(f"n={v['n']} ({'<=' if v['n_le_d0'] else '>'} d0): "
                         + ("-" if v["deviation"] is None else
                            f"{100 * v['deviation'][0]:+.2g}..{100 * v['deviation'][1]:+.2g}% from eq 14")
                         for v in f.values()))
    verdict = (f"label_imbalance ({source}, whitened): " + "; ".join(parts) + "; eq 14 says the sharpness does not "
               "depend on n, but it assumes zero loss (Assumption 1), which a linear network can reach only where n <= d0"
               + ("" if not usable else f": {'within' if exact_small else 'NOT within'} {100 * PRINTED_AGREE:.0f}% "
                  "where n <= d0"))
    return status, summary, verdict
