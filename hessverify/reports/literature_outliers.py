"""1611.07476 / 1706.04454 / 2008.11865: the number of outliers of a trained classifier's Hessian against the number
of classes C, by the stated largest-gap rule (:mod:`hessverify.literature.outliers`), on the SGD runs of the claims
(tests/conjectures/test_outliers_1706_04454.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hessverify.cache import ResultCache
from hessverify.literature.classifier_runs import EPOCHS, SAMPLES, classifier_run
from hessverify.literature.data import source_name
from hessverify.literature.outliers import largest_gap_count, spectrum_at_zero_error
from hessverify.literature.runs import sgd_run
from hessverify.reports._common import Profile, Progress, plt, save_figure, write_report

NAME = "outliers_1706_04454"
#: the classes measured per profile, and the images per class
CLASSES = {"quick": tuple(range(2, 11)), "paper": tuple(range(2, 11)), "test": (2, 3)}
PER_CLASS = {"quick": 50, "paper": 50, "test": 20}
#: the sgd_run recipe of the claims
RECIPE = dict(hidden=32, lr=0.1, batch_size=32, pool=2)
CACHE_VERSION = 2  # 2: the certificate of issue 24 reuses the search (failure probabilities change)


def measure(num_classes: int, seed: int, per_class: int) -> dict:
    """The run's zero-error epoch, its top ``2C + 1`` Hessian eigenvalues there and the count interval."""
    s = sgd_run(num_classes, seed, per_class=per_class, **RECIPE)
    run = classifier_run(s, SAMPLES)
    result = spectrum_at_zero_error(s)
    if result is None:
        return {"C": num_classes, "zero_error_epoch": None}
    theta = result.eigenvalues.double().numpy()
    res = result.residuals.double().numpy()
    lo, hi = largest_gap_count(theta[: 2 * num_classes], res[: 2 * num_classes])
    return {"C": num_classes, "zero_error_epoch": run.zero_error_epoch, "eigenvalues": theta.tolist(),
            "residuals": res.tolist(), "count": [lo, hi], "failure_probability": result.multiplicity_failure_probability,
            "loss": run.losses[run.zero_error_epoch - 1], "parameters": s.num_params, "n": s.n}


def _list(values) -> str:
    return ", ".join(str(v) for v in values) if values else "none"


def outliers_report(out: Path, profile: Profile, seed: int, cache: ResultCache) -> dict:
    progress = Progress(NAME)
    per_class = PER_CLASS.get(profile.name, 50)
    rows = []
    for C in CLASSES.get(profile.name, CLASSES["quick"]):
        config = {"report": NAME, "version": CACHE_VERSION, "C": C, "seed": seed, "per_class": per_class, **RECIPE,
                  "epochs": EPOCHS, "source": source_name(RECIPE["pool"])}
        rows.append(cache.get_or_compute(config, lambda C=C: measure(C, seed, per_class)))
        progress(f"C={C}: count {rows[-1].get('count')}")
    measured = [r for r in rows if r.get("count") is not None]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.2))
    Cs = np.array([r["C"] for r in measured])
    a1.plot(Cs, Cs, "k--", lw=0.8, label="C")
    a1.plot(Cs, Cs - 1, "k:", lw=0.8, label="C - 1")
    lo = np.array([r["count"][0] for r in measured])
    hi = np.array([r["count"][1] for r in measured])
    a1.errorbar(Cs, (lo + hi) / 2, yerr=(hi - lo) / 2, fmt="o", color="C3", ms=7, capsize=4,
                label="outlier count (largest gap among the top 2C)")
    a1.set_xlabel("number of classes C")
    a1.set_ylabel("outliers")
    never = [str(r["C"]) for r in rows if r.get("count") is None]
    a1.set_title("outlier count at zero training error"
                 + (f" (C = {', '.join(never)}: no zero training error in {EPOCHS} epochs)" if never else ""), fontsize=9)
    a1.set_xticks(range(2, 11))
    a1.legend(fontsize=8)
    for j, r in enumerate([r for r in measured if r["C"] in (3, 6, 10)] or measured[-2:]):
        C = r["C"]
        ev = np.array(r["eigenvalues"][: 2 * C])
        a2.semilogy(np.arange(1, 2 * C + 1), ev / ev[0], "o-", ms=4, color=f"C{j}", label=f"C={C}")
        k = r["count"][1]
        a2.axvline(k + 0.5, color=f"C{j}", lw=0.8, ls="--")
    a2.set_xticks(range(1, 2 * max(r["C"] for r in measured) + 1, 2) if measured else [])
    a2.set_xlabel("eigenvalue index k (top 2C)")
    a2.set_ylabel("lambda_k / lambda_1")
    a2.set_title("top 2C Hessian eigenvalues; dashed: the largest relative gap", fontsize=9)
    a2.legend(fontsize=8)
    fig.suptitle(f"Hessian outliers of {RECIPE['hidden']}-unit tanh MLPs trained by SGD to zero training error "
                 f"({source_name(RECIPE['pool'])}, {per_class} images per class, pixels in [0, 1])", fontsize=9)
    fig.tight_layout()
    d = out / NAME
    d.mkdir(parents=True, exist_ok=True)
    png = save_figure(fig, d / "outliers_vs_classes.png")
    exact_c_minus_1 = [r["C"] for r in measured if r["count"] == [r["C"] - 1, r["C"] - 1]]
    exact_c = [r["C"] for r in measured if r["count"] == [r["C"], r["C"]]]
    within = all(r["C"] - 1 <= r["count"][0] and r["count"][1] <= r["C"] for r in measured)
    missing = [r["C"] for r in rows if r.get("count") is None]
    #: "about C" read as C - 1..C; within C - 2..C the outliers still follow the classes, one fewer than read
    near = all(r["C"] - 2 <= r["count"][0] and r["count"][1] <= r["C"] for r in measured)
    status = ("no verdict" if not measured else "reproduced" if within else "deviates" if near else "not reproduced")
    counts = ", ".join(f"C={r['C']}: {r['count'][0]}" + (f"..{r['count'][1]}" if r["count"][1] > r["count"][0] else "")
                       for r in measured)
    summary = (f"C - 1 outliers at {len(exact_c_minus_1)} of {len(measured)} class counts, C at {len(exact_c)}"
               + ("; every count within 'about C'" if within else
                  "; every count within C - 2..C" if near else "; some counts outside C - 2..C")
               + (f"; no zero training error at C = {_list(missing)}" if missing else ""))
    verdict = (f"outlier count by the largest relative gap among the top 2C Hessian eigenvalues, at the first epoch "
               f"with zero training error: {counts}; read as 'about C' (C - 1 <= count <= C): "
               + ("every count is within it" if within else "some count is outside it")
               + f"; the count is C - 1 at C = {_list(exact_c_minus_1)} and C at C = {_list(exact_c)}"
               + (f"; runs without zero training error in {EPOCHS} epochs (not counted): C = {_list(missing)}"
                  if missing else ""))
    body = [f"![outliers]({png})", "",
            "*Left: the outlier count (the position of the largest relative gap lambda_k / lambda_(k+1) among the top "
            "2C eigenvalues; bars: counts possible within the Lanczos residuals, none here) against the number of "
            "classes. Right: the top 2C eigenvalues of three of the networks, divided by the largest; the dashed line "
            "marks the largest gap.*", "",
            "| C | images | parameters | zero training error at epoch | loss there | count | largest gap | "
            "gap after C-1 | gap after C |", "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in measured:
        ev = np.array(r["eigenvalues"])
        ratios = ev[:-1] / ev[1:]
        body.append(f"| {r['C']} | {r['n']} | {r['parameters']} | {r['zero_error_epoch']} | {r['loss']:.3g} | "
                    f"{r['count'][0]}" + (f"..{r['count'][1]}" if r["count"][1] > r["count"][0] else "")
                    + f" | {ratios[: 2 * r['C'] - 1].max():.2f}x | {ratios[r['C'] - 2]:.2f}x | {ratios[r['C'] - 1]:.2f}x |")
    body += ["", "- the sources: Sagun et al. 2016/2017 observe a bulk near zero and outliers that depend on the data; "
             "Papyan 2020 traces the outliers to class means (his talk on 1901.08244: 'Number of outliers ≈ number of "
             "classes'). None of them gives a counting rule, so ours is stated here and in the claims "
             "(tests/conjectures/test_outliers_1706_04454.py, verdicts in verification.md)",
             "- ours: one hidden layer of 32 tanh units, plain SGD, raw pixels (per-pixel standardisation removes the "
             "outliers: ../shared/DATA.md and the hierarchy report); VGG/ResNet-scale networks are not attempted",
             "- a possible reason for C - 1 rather than C (not checked here): the per-sample output Hessian of softmax "
             "cross-entropy, diag(p) - p p^T, has rank C - 1 (the all-ones direction is in its null space); the "
             "hierarchy report finds the same C - 1 on 784-70-10 networks"]
    data = {"rows": rows, "rule": "argmax_k lambda_k / lambda_(k+1), k = 1..2C-1"}
    return write_report(d, title="1706.04454 / 2008.11865: Hessian outliers against the number of classes",
                        verdict=verdict, body=body, data=data, status=status, summary=summary,
                        config={"seed": seed, "classes": list(CLASSES.get(profile.name, CLASSES["quick"])),
                                "per_class": per_class, **RECIPE, "epochs": EPOCHS, "profile": {"name": profile.name,
                                                                                                "device": "cpu"}},
                        command=f"hessverify reports --profile {profile.name} --only outliers")
