"""004's remaining CPU-sized exercises, each as the notebook states it: Exercise 0.2 (an fp32 solve against the
condition number), 4.2 (Ritz values after k = 5, 10, 20, 40 steps), 5.1-5.3 (orthogonality loss of the notebook's
three Lanczos variants on a 40 x 40 matrix in fp32, in the infinity norm) and 6.1 (the top 10 Hessian eigenvalues of
a tiny MLP on 7x7 MNIST at initialisation and after 200 SGD steps).

The Lanczos of Exercises 4-5 is the notebook's own algorithm, written out here as it specifies it (three-term
recurrence; "full": subtract the projection on every previous vector twice; "selective": reorthogonalise once when
``||r_{j+1}|| < 0.717 ||A q_j||``), because the exercises are about that algorithm in float32; Exercise 6.1 uses the
package's certified ``lanczos`` against ``eigvalsh`` of the dense Hessian.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hessverify.estimators import lanczos
from hessverify.models import linear_network
from hessverify.operators import hessian
from hessverify.reports._common import Profile, Progress, plt, save_figure, write_report
from hessverify.reports.datasets import classification_data, installed
from hessverify.training import load_checkpoint, snapshot

KAPPAS = np.logspace(0, 8, 9)
RITZ_STEPS = (5, 10, 20, 40)
ORTH_N = 40
#: Exercise 6.1: the tiny MLP (about 2,000 parameters: 49-32-10, tanh, 1,930), 500 images, 200 SGD steps
TINY_HIDDEN, TINY_N, TINY_STEPS, TINY_LR, TINY_BATCH = 32, 500, 200, 0.1, 64


def conditioned_spd(n: int, kappa: float, seed: int) -> np.ndarray:
    """Exercise 0.2: ``Q diag(1, ..., 1, 1/kappa) Q^T`` with a random orthogonal ``Q``."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    eigs = np.ones(n)
    eigs[-1] = 1.0 / kappa
    return (Q * eigs) @ Q.T


def solve_study(seed: int) -> dict:
    """Exercise 0.2 in float32: relative residual ``||A x - b|| / ||b||`` (what 004 plots) and relative error
    ``||x - x_true|| / ||x_true||`` of ``numpy.linalg.solve`` for each condition number."""
    rng = np.random.default_rng(seed + 1)
    res, err = [], []
    for kappa in KAPPAS:
        A = conditioned_spd(30, kappa, seed).astype(np.float32)
        x = rng.normal(size=30).astype(np.float32)
        b = A @ x
        xh = np.linalg.solve(A, b)
        res.append(float(np.linalg.norm(A.astype(np.float64) @ xh - b) / np.linalg.norm(b)))
        err.append(float(np.linalg.norm(xh.astype(np.float64) - x) / np.linalg.norm(x)))
    return {"kappa": KAPPAS.tolist(), "residual": res, "error": err, "eps": float(np.finfo(np.float32).eps)}


def notebook_lanczos(A: np.ndarray, k: int, reorth: str, seed: int) -> tuple[np.ndarray, list[float], np.ndarray]:
    """004 Exercises 4.1 and 5.1-5.3: ``k`` Lanczos steps in ``A``'s dtype; returns the Ritz values (ascending),
    ``||Q_j^T Q_j - I||_inf`` after each step and the residual estimates ``|beta_k s_{k,i}|`` of the Ritz values."""
    rng = np.random.default_rng(seed)
    n = A.shape[0]
    Q = np.zeros((n, k), A.dtype)
    q = rng.normal(size=n).astype(A.dtype)
    Q[:, 0] = q / np.linalg.norm(q)
    alpha, beta, orth = [], [], []
    for j in range(k):
        w = A @ Q[:, j]
        norm_aq = np.linalg.norm(w)
        a = Q[:, j] @ w
        w = w - a * Q[:, j] - (beta[-1] * Q[:, j - 1] if j else 0)
        if reorth == "full":
            for _ in range(2):
                w = w - Q[:, :j + 1] @ (Q[:, :j + 1].T @ w)
        elif reorth == "selective" and np.linalg.norm(w) < 0.717 * norm_aq:
            w = w - Q[:, :j + 1] @ (Q[:, :j + 1].T @ w)
        alpha.append(a)
        G = Q[:, :j + 1].T.astype(np.float64) @ Q[:, :j + 1].astype(np.float64)
        orth.append(float(np.abs(G - np.eye(j + 1)).sum(1).max()))
        b = np.linalg.norm(w)
        if j + 1 < k:
            beta.append(b)
            Q[:, j + 1] = w / b
    T = np.diag(np.asarray(alpha, np.float64)) + np.diag(np.asarray(beta, np.float64), 1) \
        + np.diag(np.asarray(beta, np.float64), -1)
    theta, S = np.linalg.eigh(T)
    return theta, orth, np.abs(float(b) * S[-1, :])


#: a Ritz value of Exercise 4.2 counts as converged when its residual estimate is at most this times ||A||
RITZ_TOL = 1e-3


def ritz_study(seed: int) -> dict:
    """Exercise 4.2: Ritz values after k steps (no reorthogonalisation) on 004's 60 x 60 matrix; for each k which
    Ritz values have converged (residual estimate ``|beta_k s_{k,i}| <= RITZ_TOL ||A||``) and whether they are the
    outermost ones (every converged value lies outside every unconverged one: the extremes first), and the distance
    of the largest and smallest Ritz value to the true extremes."""
    A = np.random.default_rng(42).normal(size=(60, 60))
    A = A + A.T
    true = np.linalg.eigvalsh(A)
    norm = float(np.abs(true).max())
    rows = {}
    for k in RITZ_STEPS:
        ritz, _, res = notebook_lanczos(A, k, "none", seed)
        conv = res <= RITZ_TOL * norm
        inner = ritz[~conv]
        outer = bool(inner.size == 0 or all(t < inner.min() or t > inner.max() for t in ritz[conv]))
        rows[str(k)] = {"ritz": ritz.tolist(), "residual_estimates": res.tolist(), "converged": int(conv.sum()),
                        "converged_are_outermost": outer,
                        "extreme_error": float(max(abs(ritz[-1] - true[-1]), abs(ritz[0] - true[0])))}
    return {"true": true.tolist(), "rows": rows}


def orthogonality_study(seed: int) -> dict:
    """Exercises 5.1-5.3: ``||Q^T Q - I||_inf`` per step for the three variants on 004's 40 x 40 matrix in fp32."""
    A = np.random.default_rng(7).normal(size=(ORTH_N, ORTH_N))
    A = (A + A.T).astype(np.float32)
    out = {}
    for variant in ("none", "full", "selective"):
        _, orth, _ = notebook_lanczos(A, ORTH_N, variant, seed)
        big = [j + 1 for j, o in enumerate(orth) if o > 1e-2]
        out[variant] = {"orthogonality": orth, "first_step_above_1e-2": big[0] if big else None, "final": orth[-1]}
    return out


def tiny_mlp_study(profile: Profile, seed: int, progress) -> dict:
    """Exercise 6.1: top-10 |lambda| of the cross-entropy Hessian of a 49-32-10 tanh MLP on 500 MNIST images averaged
    to 7x7 (pixels in [0, 1]) at initialisation and after 200 SGD steps (lr 0.1, batch 64), by Lanczos and by
    eigvalsh of the dense Hessian; the largest gap among the top 30 of the dense spectrum."""
    test = profile.name == "test"  # seconds, for the test suite
    source = "mnist_5k" if installed("mnist_5k") and not test else "digits"
    X, y = classification_data(source, 100 if test else TINY_N, seed, pool=4 if source == "mnist_5k" else 1)
    torch.manual_seed(seed)
    model = linear_network((X.shape[1], 8 if test else TINY_HIDDEN, 10), activation="tanh", bias=True)
    states = {"initialisation": snapshot(model)}
    opt = torch.optim.SGD(model.parameters(), lr=TINY_LR)
    g = torch.Generator().manual_seed(seed + 1)
    for _ in range(TINY_STEPS):  # the notebook's loop: 200 steps of random batches (with replacement)
        idx = torch.randint(0, X.shape[0], (TINY_BATCH,), generator=g)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(X[idx]), y[idx]).backward()
        opt.step()
    states["trained"] = snapshot(model)
    out = {"source": source, "parameters": sum(p.numel() for p in model.parameters())}
    for name, params in states.items():
        load_checkpoint(model, params)
        H = hessian(model, "cross_entropy", X, y)
        dense = np.linalg.eigvalsh(H.dense().numpy())
        mags = np.sort(np.abs(dense))[::-1]
        r = lanczos(H, k=10, which="LM", seed=seed, tol=1e-8)
        top = mags[:31]
        with torch.no_grad():
            loss = float(torch.nn.functional.cross_entropy(model(X), y))
        out[name] = {"dense_top": top.tolist(), "lanczos_top": np.sort(np.abs(r.eigenvalues.numpy()))[::-1].tolist(),
                     "residuals": r.residuals.numpy().tolist(), "loss": loss,
                     "max_gap": float(np.max(top[:-1] / top[1:])), "gap_after": int(np.argmax(top[:-1] / top[1:]) + 1)}
        progress(f"ex 6.1 {name}: top |lambda| {top[0]:.4g}, largest gap {out[name]['max_gap']:.2f}x after "
                 f"#{out[name]['gap_after']}")
    return out


def notebook_findings(data: dict) -> dict:
    """The verdict's numbers, from the stored results."""
    s, r, o, t = data["solve"], data["ritz"], data["orthogonality"], data["tiny_mlp"]
    k_last = str(RITZ_STEPS[-1])
    return {
        "residual_max": max(s["residual"]), "error_at_max_kappa": s["error"][-1],
        "error_over_kappa_eps": max(e / (k * s["eps"]) for e, k in zip(s["error"], s["kappa"])),
        "extremes_first": all(v["converged_are_outermost"] for v in r["rows"].values()),
        "converged_by_k": [r["rows"][str(k)]["converged"] for k in RITZ_STEPS],
        "extreme_error_last": r["rows"][k_last]["extreme_error"],
        "none_blowup_step": o["none"]["first_step_above_1e-2"], "full_final": o["full"]["final"],
        "selective_final": o["selective"]["final"],
        "lanczos_matches_dense": max(max(abs(a - b) / b for a, b in zip(t[k]["lanczos_top"], t[k]["dense_top"][:10]))
                                     for k in ("initialisation", "trained")),
        "gap_init": t["initialisation"]["max_gap"], "gap_trained": t["trained"]["max_gap"],
        "top_init": t["initialisation"]["dense_top"][0], "top_trained": t["trained"]["dense_top"][0]}


def notebook_report(out: Path, profile: Profile, seed: int) -> dict:
    progress = Progress("notebook_004")
    data = {"solve": solve_study(seed), "ritz": ritz_study(seed), "orthogonality": orthogonality_study(seed),
            "tiny_mlp": tiny_mlp_study(profile, seed, progress)}
    f = notebook_findings(data)
    data["findings"] = f
    d = out / "notebook_004"
    d.mkdir(parents=True, exist_ok=True)
    png = save_figure(_figure(data), d / "exercises.png")
    verdict = (f"notebook_004: ex 0.2: the fp32 solve's relative residual stays at most {f['residual_max']:.1e} for "
               f"kappa up to 1e8 (004 expects it to blow up; a backward-stable solve keeps it near eps), while the "
               f"relative error grows to {f['error_at_max_kappa']:.1e} at kappa 1e8, at most "
               f"{f['error_over_kappa_eps']:.2g} x kappa eps (004's 'loses about log10 kappa digits' is the error's "
               f"law); ex 4.2: at k = {'/'.join(map(str, RITZ_STEPS))} steps "
               f"{'/'.join(map(str, f['converged_by_k']))} Ritz values have converged (residual estimate <= "
               f"{RITZ_TOL:g} ||A||), and they are the outermost ones at every k "
               f"({'yes' if f['extremes_first'] else 'NO'}): the extremes converge first; at k = 40 the extreme Ritz "
               f"values are within {f['extreme_error_last']:.1e} of the true extremes; "
               f"ex 5.1-5.3 (40 x 40, fp32, infinity norm): without reorthogonalisation ||Q^T Q - I|| passes 1e-2 at "
               f"step {f['none_blowup_step']} (004: around 20-30), full ends at {f['full_final']:.1e}, 004's selective "
               f"rule at {f['selective_final']:.1e}; ex 6.1 ({data['tiny_mlp']['parameters']} parameters, "
               f"{data['tiny_mlp']['source']}): Lanczos's top 10 match eigvalsh to {f['lanczos_matches_dense']:.1e}; "
               f"the largest gap among the top 30 is {f['gap_init']:.2f}x at initialisation and {f['gap_trained']:.2f}x "
               f"after {TINY_STEPS} SGD steps (top |lambda| {f['top_init']:.3g} -> {f['top_trained']:.3g})")
    blowup = f["none_blowup_step"]
    status = "deviates"  # ex 0.2: the residual does not blow up, the error does
    summary = (f"fp32 solve: residual stays <= {f['residual_max']:.0e} (004: blows up), error ~ kappa eps; extremes "
               f"converge first; no-reorth orthogonality passes 1e-2 at step {blowup}; tiny MLP gap "
               f"{f['gap_init']:.2f}x -> {f['gap_trained']:.2f}x")
    body = [f"![exercises]({png})", "",
            "*Top left, Exercise 0.2: float32 solve of A x = b against kappa(A), relative residual (what 004 plots) "
            "and relative error, with kappa eps. Top right, Exercise 4.2: the true eigenvalues of 004's 60 x 60 "
            "matrix and the Ritz values after k = 5, 10, 20, 40 steps (no reorthogonalisation). Bottom left, "
            "Exercises 5.1-5.3: ||Q^T Q - I||_inf per step on 004's 40 x 40 matrix in float32 for the notebook's "
            "three variants, float32 eps dotted. Bottom right, Exercise 6.1: top 30 |lambda| of the tiny MLP's "
            "Hessian (eigvalsh) at initialisation and after 200 SGD steps, Lanczos's top 10 as crosses.*", "",
            "- settings as the notebook states them; where it leaves them open: the tiny MLP is 49-32-10 tanh (004: "
            "`tiny_mlp`, about 2,000 parameters), the 7x7 images are MNIST 5k averaged over 4x4 blocks (004: "
            "`load_mnist_7x7(n=500)`), and the matrices use numpy's generator with 004's seeds (42, 7), not torch's"]
    return write_report(d, title="004 Exercises 0.2, 4.2, 5.1-5.3, 6.1", verdict=verdict, status=status,
                        summary=summary, body=body, data=data,
                        config={"seed": seed, "kappas": KAPPAS.tolist(), "ritz_steps": list(RITZ_STEPS),
                                "orth_n": ORTH_N, "tiny": [TINY_HIDDEN, TINY_N, TINY_STEPS, TINY_LR, TINY_BATCH]},
                        command=f"hessverify reports --profile {profile.name} --only krylov")


def _figure(data: dict):
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.4))
    s = data["solve"]
    ax = axes[0][0]
    floor = 1e-17
    ax.loglog(s["kappa"], np.maximum(s["residual"], floor), "o-", label="relative residual ||Ax - b|| / ||b||")
    ax.loglog(s["kappa"], np.maximum(s["error"], floor), "s-", label="relative error ||x - x_true|| / ||x_true||")
    ax.set_ylim(floor / 3, None)
    ax.loglog(s["kappa"], np.asarray(s["kappa"]) * s["eps"], "k:", label="kappa x eps(float32)")
    ax.set_xlabel("kappa(A)")
    ax.set_ylabel("relative size")
    ax.set_title("Ex 0.2: float32 solve, n = 30 (exact zeros drawn at 1e-17)", fontsize=9)
    ax.legend(fontsize=8)
    r = data["ritz"]
    ax = axes[0][1]
    ax.plot(np.zeros(len(r["true"])), r["true"], "_", ms=14, color="k", label="true")
    norm = float(np.abs(r["true"]).max())
    for j, k in enumerate(RITZ_STEPS):
        row = r["rows"][str(k)]
        conv = np.asarray(row["residual_estimates"]) <= RITZ_TOL * norm
        ritz = np.asarray(row["ritz"])
        ax.plot(np.full(int((~conv).sum()), j + 1), ritz[~conv], "x", ms=5, color=f"C{j}",
                label="not converged" if j == 0 else None)
        ax.plot(np.full(int(conv.sum()), j + 1), ritz[conv], "o", ms=7, mfc="none", color="k",
                label=f"converged (residual <= {RITZ_TOL:g} ||A||)" if k == RITZ_STEPS[-1] else None)
    ax.legend(fontsize=7, loc="center left")
    ax.set_xticks(range(len(RITZ_STEPS) + 1), ["true"] + [f"k = {k}" for k in RITZ_STEPS])
    ax.set_ylabel("eigenvalue / Ritz value")
    ax.set_title("Ex 4.2: Ritz values converge to the extremes first (60 x 60)", fontsize=9)
    o = data["orthogonality"]
    ax = axes[1][0]
    for v, st in o.items():
        ax.semilogy(np.arange(1, ORTH_N + 1), np.maximum(st["orthogonality"], 1e-12), label=v)
    ax.axhline(float(np.finfo(np.float32).eps), color="k", ls=":", lw=0.8, label="float32 eps")
    ax.set_xlabel("Lanczos step")
    ax.set_ylabel("||Q^T Q - I||_inf")
    ax.set_title("Ex 5.1-5.3: orthogonality loss, 40 x 40, float32", fontsize=9)
    ax.legend(fontsize=8)
    t = data["tiny_mlp"]
    ax = axes[1][1]
    for j, name in enumerate(("initialisation", "trained")):
        ax.semilogy(np.arange(1, 31), t[name]["dense_top"][:30], "o-", ms=4, color=f"C{j}",
                    label=f"{name} (loss {t[name]['loss']:.3f}): largest gap {t[name]['max_gap']:.2f}x after "
                          f"#{t[name]['gap_after']}")
        ax.semilogy(np.arange(1, 11), t[name]["lanczos_top"], "x", ms=8, color=f"C{j}")
    ax.set_xlabel("rank")
    ax.set_ylabel("|lambda| (eigvalsh; crosses: Lanczos)")
    ax.set_title(f"Ex 6.1: tiny MLP ({t['parameters']} parameters) on 7x7 images", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
