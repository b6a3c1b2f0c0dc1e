"""2103.00065: sharpness along full-batch gradient descent against ``2/eta`` (progressive sharpening, then the edge of
stability), on the runs of the claims (tests/conjectures/test_edge_of_stability_2103_00065.py), read every 10 steps
(:func:`hessverify.literature.edge_of_stability.edge_of_stability_run`)."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from hessverify.cache import ResultCache
from hessverify.literature.data import source_name
from hessverify.literature.edge_of_stability import BAND, MAX_STEPS, STRIDE, WINDOW, edge_of_stability_run
from hessverify.literature.runs import cached, gd_run
from hessverify.reports._common import Profile, Progress, plt, save_figure, write_report

NAME = "edge_of_stability_2103_00065"
NETWORKS = {"mse": dict(n=300, hidden=(32, 32)), "cross_entropy": dict(n=2500, hidden=(16,))}
#: (activation, loss, eta) per profile
RUNS = {"quick": (("tanh", "mse", 0.5), ("relu", "mse", 0.3), ("tanh", "cross_entropy", 4.0),
                  ("relu", "cross_entropy", 6.0)),
        "paper": tuple((a, "mse", e) for a in ("tanh", "relu") for e in (0.5, 0.3))
        + tuple((a, "cross_entropy", e) for a in ("tanh", "relu") for e in (4.0, 6.0)),
        "test": (("tanh", "mse", 0.5),)}
TEST_NETWORK = dict(n=60, hidden=(8,))
CACHE_VERSION = 1


def trajectory(activation: str, loss: str, eta: float, seed: int, network: dict, window: int) -> dict:
    """Sharpness every ``STRIDE`` steps until ``window`` steps after the arrival at ``2/eta`` (one drawn step only:
    the claim's certified statistic is computed by the claims)."""
    s = gd_run(activation, loss, eta, seed, network["n"], network["hidden"])
    T = s.Y if loss == "mse" else s.labels

    def compute():
        return edge_of_stability_run(copy.deepcopy(s.model), loss, s.X, T, eta=eta, samples=1, seed=seed,
                                     window=window)

    run = cached("edge_of_stability_report", s, compute, window=window)
    steps, theta, res = (np.array(v) for v in zip(*run.trajectory))
    lo, hi = BAND[0] * 2 / eta, BAND[1] * 2 / eta
    after = steps >= run.arrival if run.arrival is not None else np.zeros(steps.size, bool)
    in_band = (theta >= lo) & (theta + res <= hi)
    return {"activation": activation, "loss": loss, "eta": eta, "n": network["n"], "hidden": list(network["hidden"]),
            "steps": steps.tolist(), "sharpness": theta.tolist(), "residuals": res.tolist(),
            "losses": run.losses[::STRIDE], "arrival": run.arrival, "initial_sharpness": float(theta[0]),
            "readings_after_arrival": int(after.sum()), "in_band_after_arrival": int((in_band & after).sum()),
            "final_loss": run.losses[-1] if run.losses else None}


def _sharpening_line(loss: str, runs: list[dict]) -> str:
    """How much progressive sharpening the runs of one loss show: initial sharpness and arrival steps."""
    ratios = [r["initial_sharpness"] * r["eta"] / 2 for r in runs]
    arrivals = [r["arrival"] for r in runs if r["arrival"] is not None]
    return (f"- {loss} here: the sharpness starts at {min(ratios):.2f}-{max(ratios):.2f} x 2/eta and "
            + (f"arrives after {min(arrivals)}-{max(arrivals)} steps" if arrivals else "does not arrive")
            + (f" ({len(runs) - len(arrivals)} run(s) do not arrive within {MAX_STEPS})" if arrivals and
               len(arrivals) < len(runs) else ""))


def edge_of_stability_report(out: Path, profile: Profile, seed: int, cache: ResultCache) -> dict:
    progress = Progress(NAME)
    window = WINDOW if profile.name != "test" else 100
    runs = []
    for act, loss, eta in RUNS.get(profile.name, RUNS["quick"]):
        network = NETWORKS[loss] if profile.name != "test" else TEST_NETWORK
        config = {"report": NAME, "version": CACHE_VERSION, "activation": act, "loss": loss, "eta": eta, "seed": seed,
                  **network, "window": window, "stride": STRIDE, "max_steps": MAX_STEPS, "source": source_name(4)}
        runs.append(cache.get_or_compute(config, lambda a=act, l=loss, e=eta, nw=network: trajectory(
            a, l, e, seed, nw, window)))
        r = runs[-1]
        progress(f"{act}, {loss}, eta {eta}: arrival {r['arrival']}, {r['in_band_after_arrival']} of "
                 f"{r['readings_after_arrival']} readings in the band")
    fig, axes = plt.subplots(2, len(runs), figsize=(4.2 * len(runs), 6.4), squeeze=False)
    for j, r in enumerate(runs):
        top, bottom = axes[0, j], axes[1, j]
        thr = 2 / r["eta"]
        top.plot(r["steps"], r["sharpness"], "-", color="C0", lw=1, label="sharpness (Lanczos)")
        top.axhline(thr, color="k", ls="--", lw=1, label="2 / eta")
        top.axhspan(BAND[0] * thr, BAND[1] * thr, color="C2", alpha=0.15, label=f"band [{BAND[0]}, {BAND[1]}] x 2/eta")
        if r["arrival"] is not None:
            top.axvline(r["arrival"], color="C3", lw=0.8, ls=":", label="arrival")
        top.set_title(f"{r['activation']}, {r['loss']}, eta = {r['eta']}", fontsize=9)
        top.set_xlabel("step")
        top.set_ylabel("sharpness")
        top.set_ylim(0, max(max(r["sharpness"]), BAND[1] * thr) * 1.1)
        bottom.semilogy(np.arange(len(r["losses"])) * STRIDE, r["losses"], color="C1", lw=1)
        bottom.set_xlabel("step")
        bottom.set_ylabel("training loss")
        if j == 0:
            top.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"2103.00065: full-batch gradient descent on {source_name(4)} (MSE: {NETWORKS['mse']['n']} images, "
                 f"49-32-32-10; cross-entropy: {NETWORKS['cross_entropy']['n']} images, 49-16-10)", fontsize=9)
    fig.tight_layout()
    d = out / NAME
    d.mkdir(parents=True, exist_ok=True)
    png = save_figure(fig, d / "sharpness_vs_step.png")
    arrived = [r for r in runs if r["arrival"] is not None]
    share = {id(r): r["in_band_after_arrival"] / max(r["readings_after_arrival"], 1) for r in arrived}
    hovering = [r for r in arrived if share[id(r)] >= 0.8]
    status = ("reproduced" if arrived and len(hovering) == len(runs) else "deviates" if hovering else
              "not reproduced" if arrived else "no verdict")
    describe = "; ".join(f"{r['activation']}/{r['loss']}/eta {r['eta']}: initial sharpness "
                         f"{r['initial_sharpness'] * r['eta'] / 2:.2f} x 2/eta, "
                         + (f"arrival at step {r['arrival']}, {r['in_band_after_arrival']} of "
                            f"{r['readings_after_arrival']} readings after it in the band" if r["arrival"] is not None
                            else f"no arrival in {MAX_STEPS} steps") for r in runs)
    summary = (f"sharpness reaches 2/eta and stays within a factor {BAND[1]} of it (>= 80% of readings) in "
               f"{len(hovering)} of {len(runs)} runs")
    verdict = (f"{describe}. Readings every {STRIDE} steps (Ritz value and residual, not certified: the certified "
               f"statistic of the claims, 100 iterates drawn at random per run, is in verification.md)")
    body = [f"![sharpness]({png})", "",
            f"*Top: the sharpness (lambda_max of the training loss Hessian, Lanczos every {STRIDE} steps) against the "
            "step, with 2/eta (dashed), the band of the claims (green) and the arrival (the first reading at or above "
            f"2/eta, dotted); training continues {window} steps after it. Bottom: the training loss.*", "",
            "| activation | loss | eta | images | initial sharpness x eta/2 | arrival step | readings in the band after "
            "arrival | final loss |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    body += [f"| {r['activation']} | {r['loss']} | {r['eta']} | {r['n']} | {r['initial_sharpness'] * r['eta'] / 2:.2f} | "
             f"{r['arrival']} | {r['in_band_after_arrival']} / {r['readings_after_arrival']} | "
             f"{r['final_loss']:.3g} |" for r in runs]
    body += ["", "- the source (abstract and introduction; we could not read its experiments or its own discussion of "
             "cross-entropy): 'the maximum eigenvalue of the training loss Hessian hovers just above the value "
             "2/(step size)'",
             *[_sharpening_line(loss, [r for r in runs if r["loss"] == loss]) for loss in ("mse", "cross_entropy")
               if any(r["loss"] == loss for r in runs)],
             "- the raw-input ablation (../raw_inputs/report.md) reports edge-of-stability cells of deep linear "
             "networks under the same definition of sharpness"]
    return write_report(d, title="2103.00065: sharpness against 2/eta under full-batch gradient descent",
                        verdict=verdict, body=body, data={"runs": runs, "band": list(BAND)}, status=status,
                        summary=summary,
                        config={"seed": seed, "runs": [list(r) for r in RUNS.get(profile.name, RUNS["quick"])],
                                "networks": NETWORKS, "stride": STRIDE, "window": window, "max_steps": MAX_STEPS,
                                "profile": {"name": profile.name, "device": "cpu"}},
                        command=f"hessverify reports --profile {profile.name} --only edge_of_stability")
