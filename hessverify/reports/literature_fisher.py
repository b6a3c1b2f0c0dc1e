"""1905.12558: the Fisher, the GGN and the empirical Fisher (EF) of small MLPs on MNIST, formed densely
(:mod:`hessverify.literature.fisher_definition` for the definitions, :mod:`hessverify.operators` for the GGN, the
Hessian and the EF), at initialisation and after training:

- the identity Fisher = GGN (largest entrywise difference);
- the spectra of the Fisher and the EF, and the cosine between the damped preconditioned directions
  ``(F + lambda I)^{-1} g`` and ``(F~ + lambda I)^{-1} g`` over the damping ``lambda``;
- ``||F~ - F||_F / ||F||_F`` against the number of samples, with the observed labels and with labels drawn from
  the model (the condition under which the EF approaches the Fisher);
- under squared error on a teacher network's outputs (a realizable regression), along gradient descent towards the
  fit: ``||F~||_F / ||F||_F`` and ``||H - F||_F / ||F||_F``.
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from hessverify.cache import ResultCache
from hessverify.literature.data import class_subset, source_name
from hessverify.literature.descent import flat_gradient, gradient_descent, sgd
from hessverify.literature.fisher_definition import (empirical_fisher_by_definition, fisher_by_definition,
                                                     preconditioned_cosine, relative_distance, spectrum)
from hessverify.literature.runs import seeded_network, single_thread
from hessverify.operators import ggn, hessian
from hessverify.reports._common import Profile, Progress, plt, save_figure, write_report

NAME = "fisher_1905_12558"
SIZES = {"quick": dict(per_class=100, hidden=16, epochs=30, ns=(25, 50, 100, 250, 500, 1000), draws=4, mse_n=100,
                       mse_steps=(0, 30, 100, 300, 1000, 3000)),
         "paper": dict(per_class=300, hidden=16, epochs=30, ns=(25, 50, 100, 250, 500, 1000, 3000), draws=8, mse_n=100,
                       mse_steps=(0, 30, 100, 300, 1000, 3000, 10000)),
         "test": dict(per_class=6, hidden=4, epochs=5, ns=(10, 20, 60), draws=2, mse_n=20, mse_steps=(0, 20, 100))}
POOL, LR, BATCH, MSE_LR = 4, 0.5, 20, 0.5
#: the seed of the teacher network whose outputs are the regression's targets (realizable: a fit exists)
TEACHER_SEED = 99
DAMPINGS = tuple(10.0 ** np.arange(-5, 1))
#: slopes of log ||EF - F|| against log n that count as "approaches" (labels from the model) and "stays apart"
SLOPE_MODEL, SLOPE_OBSERVED = -0.25, -0.15
CACHE_VERSION = 1


def _model_labels(model: torch.nn.Module, X: torch.Tensor, seed: int) -> torch.Tensor:
    with torch.no_grad():
        p = torch.softmax(model(X), dim=1)
    return torch.multinomial(p, 1, generator=torch.Generator().manual_seed(seed))[:, 0]


def classification_state(model, X, labels, ns, seed, draws) -> dict:
    """Fisher (definition) against the GGN; spectra, preconditioned cosines and distances against n (with the
    observed labels, and the mean over ``draws`` label draws from the model)."""
    F, bound = fisher_by_definition(model, "cross_entropy", X)
    G = ggn(model, "cross_entropy", X, labels).dense().double()
    EF = empirical_fisher_by_definition(model, "cross_entropy", X, labels)
    g = flat_gradient(model, "cross_entropy", X, labels).double()
    top = float(spectrum(F)[0])
    dist_observed, dist_model = [], []
    for n in ns:
        idx = torch.arange(n)
        Fn = fisher_by_definition(model, "cross_entropy", X[idx])[0]
        dist_observed.append(relative_distance(empirical_fisher_by_definition(model, "cross_entropy", X[idx],
                                                                              labels[idx]), Fn))
        dist_model.append(float(np.mean([relative_distance(empirical_fisher_by_definition(
            model, "cross_entropy", X[idx], _model_labels(model, X[idx], seed + 1000 * j + n)), Fn) for j in range(draws)])))
    with torch.no_grad():
        out = model(X)
    return {"identity_error": float((F - G).abs().max() / G.abs().max()), "identity_bound": float(bound.max() /
                                                                                                   G.abs().max()),
            "fisher_spectrum": spectrum(F)[:200].tolist(), "ef_spectrum": spectrum(EF)[:200].tolist(),
            "cosines": [preconditioned_cosine(F, EF, g, lam * top) for lam in DAMPINGS],
            "distance": relative_distance(EF, F), "dist_observed": dist_observed, "dist_model": dist_model,
            "loss": float(torch.nn.functional.cross_entropy(out, labels)),
            "accuracy": float((out.argmax(1) == labels).double().mean())}


def regression_states(X, hidden, seed, steps) -> list[dict]:
    """Squared error on the outputs of a teacher network (same architecture, seed ``TEACHER_SEED``), gradient
    descent from the seed's network: ||EF|| / ||F|| and ||H - F|| / ||F|| at ``steps``."""
    widths = (X.shape[1], hidden, 10)
    with torch.no_grad():
        Y = seeded_network(widths, "tanh", TEACHER_SEED)(X)
    model = seeded_network(widths, "tanh", seed + 1)
    rows = []

    def on_step(step, net):
        if step in steps:
            F = fisher_by_definition(net, "mse", X)[0]
            EF = empirical_fisher_by_definition(net, "mse", X, Y)
            H = hessian(net, "mse", X, Y).dense().double()
            with torch.no_grad():
                loss = float(0.5 * ((net(X) - Y) ** 2).sum() / X.shape[0])
            rows.append({"step": step, "loss": loss, "ef_over_f": float(torch.linalg.matrix_norm(EF) /
                                                                       torch.linalg.matrix_norm(F)),
                         "h_minus_f": relative_distance(H, F)})

    gradient_descent(model, "mse", X, Y, lr=MSE_LR, steps=max(steps), on_step=on_step)
    return rows


def compute(profile_name: str, seed: int) -> dict:
    size = SIZES.get(profile_name, SIZES["quick"])
    with single_thread():
        X, labels = class_subset(10, size["per_class"], seed, pool=POOL)
        order = torch.randperm(X.shape[0], generator=torch.Generator().manual_seed(seed))
        X, labels = X[order], labels[order]  # so that the first n samples mix the classes
        model = seeded_network((X.shape[1], size["hidden"], 10), "tanh", seed)
        init = classification_state(model, X, labels, size["ns"], seed, size["draws"])
        trained = copy.deepcopy(model)
        sgd(trained, "cross_entropy", X, labels, lr=LR, batch_size=BATCH, epochs=size["epochs"],
            generator=torch.Generator().manual_seed(seed + 1))
        end = classification_state(trained, X, labels, size["ns"], seed, size["draws"])
        regression = regression_states(X[: size["mse_n"]], size["hidden"], seed, size["mse_steps"])
    return {"init": init, "trained": end, "regression": regression, "n": int(X.shape[0]),
            "parameters": sum(p.numel() for p in model.parameters()), "ns": list(size["ns"])}


def slope(ns, values) -> float:
    """Least-squares slope of ``log values`` against ``log n``."""
    return float(np.polyfit(np.log(ns), np.log(values), 1)[0])


def fisher_report(out: Path, profile: Profile, seed: int, cache: ResultCache) -> dict:
    progress = Progress(NAME)
    size = SIZES.get(profile.name, SIZES["quick"])
    config = {"report": NAME, "version": CACHE_VERSION, "seed": seed, **{k: list(v) if isinstance(v, tuple) else v
                                                                       for k, v in size.items()},
              "pool": POOL, "lr": LR, "batch": BATCH, "mse_lr": MSE_LR, "source": source_name(POOL)}
    r = cache.get_or_compute(config, lambda: compute(profile.name, seed))
    init, end, reg, ns = r["init"], r["trained"], r["regression"], np.array(r["ns"])
    progress(f"trained: accuracy {end['accuracy']:.3f}, ||EF - F|| / ||F|| {end['distance']:.2f}")
    fig, axes = plt.subplots(1, 4, figsize=(21, 4.3))
    a1, a2, a3, a4 = axes
    k = np.arange(1, len(end["fisher_spectrum"]) + 1)
    for state, style, label in ((init, ":", "initialisation"), (end, "-", "trained")):
        a1.semilogy(k, np.maximum(state["fisher_spectrum"], 1e-16), style, color="C0", label=f"Fisher = GGN, {label}")
        a1.semilogy(k, np.maximum(state["ef_spectrum"], 1e-16), style, color="C3", label=f"empirical Fisher, {label}")
        a2.semilogx(DAMPINGS, state["cosines"], style, marker="o", color="C2", label=label)
    a1.set_xlabel("eigenvalue index")
    a1.set_ylabel("eigenvalue")
    shown = np.concatenate([state[k] for state in (init, end) for k in ("ef_spectrum", "fisher_spectrum")])
    a1.set_ylim(bottom=0.5 * max(shown[shown > 0].min(), 1e-16))
    a1.set_title("top 200 eigenvalues (cross-entropy, observed labels)", fontsize=9)
    a1.legend(fontsize=7)
    a2.set_xlabel("damping lambda / lambda_max(F)")
    a2.set_ylabel("cosine")
    a2.set_ylim(-0.05, 1.05)
    a2.set_title("cosine of (F + lambda I)^-1 g and (EF + lambda I)^-1 g", fontsize=9)
    a2.legend(fontsize=7)
    a3.loglog(ns, end["dist_observed"], "o-", color="C3", label="observed labels")
    a3.loglog(ns, end["dist_model"], "s-", color="C0", label=f"labels drawn from the model (mean of {size['draws']})")
    a3.loglog(ns, end["dist_model"][-1] * (ns / ns[-1]) ** -0.5, "k:", lw=0.8, label="n^(-1/2)")
    dists = np.concatenate([end["dist_model"], end["dist_observed"]])
    a3.set_yticks([t for t in (0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0) if dists.min() / 1.5 <= t <= dists.max() * 1.5],
                  [f"{t:g}" for t in (0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0)
                   if dists.min() / 1.5 <= t <= dists.max() * 1.5])
    a3.set_xticks(ns, [str(n) for n in ns])
    a3.minorticks_off()
    a3.set_xlabel("samples n")
    a3.set_ylabel("||EF - F||_F / ||F||_F")
    a3.set_title("trained network: EF against the Fisher on the first n samples", fontsize=9)
    a3.legend(fontsize=7)
    losses = [row["loss"] for row in reg]
    a4.loglog(losses, [row["ef_over_f"] for row in reg], "o-", color="C3", label="||EF||_F / ||F||_F")
    a4.loglog(losses, [row["h_minus_f"] for row in reg], "s-", color="C0", label="||H - F||_F / ||F||_F")
    a4.invert_xaxis()
    a4.set_xlabel("training loss (squared error, decreasing ->)")
    a4.set_title(f"squared error on a teacher's outputs ({size['mse_n']} images), gradient descent", fontsize=9)
    a4.legend(fontsize=7)
    fig.suptitle(f"1905.12558 on {source_name(POOL)} ({r['n']} images, 10 classes, pixels in [0, 1]), a 49-"
                 f"{size['hidden']}-10 tanh MLP ({r['parameters']} parameters), every matrix dense", fontsize=9)
    fig.tight_layout()
    d = out / NAME
    d.mkdir(parents=True, exist_ok=True)
    png = save_figure(fig, d / "fisher_and_empirical_fisher.png")
    s_model, s_observed = slope(ns, end["dist_model"]), slope(ns, end["dist_observed"])
    identity = max(init["identity_error"], end["identity_error"])
    ef_falls = reg[-1]["ef_over_f"] < reg[0]["ef_over_f"]
    #: the paper's picture: the EF approaches the Fisher with n only for labels from the model (the slope of a
    #: Monte-Carlo error is -1/2; we ask for at most SLOPE_MODEL) and stays apart with the observed labels (a slope
    #: above SLOPE_OBSERVED: flat to within the noise of these sizes)
    reproduced = (identity <= 1e-12 and s_model <= SLOPE_MODEL and s_observed >= SLOPE_OBSERVED and ef_falls)
    status = "reproduced" if reproduced else "deviates"
    summary = (f"Fisher = GGN to {identity:.0e}; EF vs Fisher {end['distance']:.2f} apart (trained, observed labels), "
               f"approaching as n^{s_model:.2f} only with labels from the model; EF -> 0 as the squared error falls")
    verdict = (f"Fisher (definition) = GGN to {identity:.1e} relative (rounding bound {end['identity_bound']:.1e}); "
               f"||EF - F|| / ||F|| = {init['distance']:.2f} at initialisation and {end['distance']:.2f} after training "
               f"(accuracy {end['accuracy']:.3f}, loss {end['loss']:.3g}); the damped preconditioned directions have "
               f"cosine {min(end['cosines']):.2f}-{max(end['cosines']):.2f} over damping {DAMPINGS[0]:g}-{DAMPINGS[-1]:g} "
               f"x lambda_max; against n ({ns[0]}-{ns[-1]}) the distance falls as n^{s_model:.2f} with labels drawn "
               f"from the model (mean of {size['draws']} draws) and as n^{s_observed:.2f} with the observed labels "
               f"({end['dist_observed'][-1]:.2f} vs "
               f"{end['dist_model'][-1]:.2f} at n = {ns[-1]}; 'approaches' needs a slope <= {SLOPE_MODEL}, 'stays apart' "
               f">= {SLOPE_OBSERVED}); under squared error ||EF|| / ||F|| goes {reg[0]['ef_over_f']:.2g} -> "
               f"{reg[-1]['ef_over_f']:.2g} as the loss goes {reg[0]['loss']:.3g} -> {reg[-1]['loss']:.3g}, while "
               f"||H - F|| / ||F|| goes {reg[0]['h_minus_f']:.2g} -> {reg[-1]['h_minus_f']:.2g}")
    body = [f"![fisher]({png})", "",
            "*1: the top 200 eigenvalues of the Fisher (= the GGN) and of the empirical Fisher at the observed labels, "
            "at initialisation (dotted) and after training (solid). 2: cosine between the damped preconditioned "
            "gradients. 3: distance of the EF from the Fisher on the first n samples of the trained network, with the "
            "observed labels and with labels drawn from the model's own predictive distribution (one draw per n). "
            "4: squared error on the outputs of a teacher network of the same shape (a fit exists), along gradient "
            "descent: the EF shrinks with the residuals while the Hessian approaches the Fisher.*", "",
            "- the source (abstract and introduction; we could not read its sections 3-4): 'the empirical Fisher—unlike "
            "the Fisher—does not generally capture second-order information'; 'the conditions under which the "
            "empirical Fisher approaches the Fisher (and the Hessian) are unlikely to be met in practice'",
            "- the claims (tests/conjectures/test_fisher_1905_12558.py; verdicts in verification.md): Fisher = GGN "
            "on every MLP the strategies draw, the EF unbiased for labels from the model, EF = 0 and H = F at a "
            "perfect fit, and the disputed EF = F refuted",
            f"- ours: {r['n']} images, SGD (lr {LR}, batch {BATCH}, {size['epochs']} epochs) for the classifier, "
            f"gradient descent (lr {MSE_LR}, {max(size['mse_steps'])} steps) on the first {size['mse_n']} images for the "
            "regression"]
    return write_report(d, title="1905.12558: the Fisher, the GGN and the empirical Fisher", verdict=verdict,
                        body=body, data={**r, "dampings": list(DAMPINGS), "slope_model": s_model,
                                         "slope_observed": s_observed}, status=status, summary=summary,
                        config={**config, "profile": {"name": profile.name, "device": "cpu"}},
                        command=f"hessverify reports --profile {profile.name} --only fisher")
