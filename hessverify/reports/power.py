"""004 §2-3: power iteration against the spectral gap (Exercise 2.2) and the error of successive deflation
(Exercise 3.2), on matrices whose spectra are known.

004 states that the Rayleigh quotient converges "at rate |lambda_2/lambda_1|^k". For a symmetric matrix the
eigenvector error decays like that, and the Rayleigh quotient's error like its square,
``|lambda_2/lambda_1|^(2k)``: the report fits both slopes. 004 also warns that "after ~5 deflations,
accumulated orthogonality error in the found eigenvectors makes the deflated operator drift"; the report
measures the relative error of each deflated eigenvalue and the orthogonality of the found vectors.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hessverify.models import linear_network
from hessverify.operators import hessian
from hessverify.reports._common import Profile, plt, save_figure, write_report

GAPS = {"wide gap (0.1)": [10.0] + [1.0] * 49, "narrow gap (0.95)": [10.0, 9.5] + [1.0] * 48,
        "tied (1.0)": [10.0, 10.0] + [1.0] * 48}
ITERATIONS = 120
DEFLATIONS = 10
ITERS_PER_DEFLATION = 300


def _rotated(eigs, seed: int) -> np.ndarray:
    """``Q diag(eigs) Q^T`` with a Haar-random ``Q`` (so the start vector is not aligned with the axes)."""
    rng = np.random.default_rng(seed)
    Q, R = np.linalg.qr(rng.normal(size=(len(eigs), len(eigs))))
    Q = Q * np.sign(np.diag(R))
    return Q @ np.diag(eigs) @ Q.T


def power_history(A: np.ndarray, iterations: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rayleigh quotients and eigenvector errors ``sin angle(v_k, v_1)`` of plain power iteration."""
    rng = np.random.default_rng(seed + 1)
    w, V = np.linalg.eigh(A)
    top = V[:, np.argmax(np.abs(w))]
    v = rng.normal(size=A.shape[0])
    v /= np.linalg.norm(v)
    quotients, angles = [], []
    for _ in range(iterations):
        v = A @ v
        v /= np.linalg.norm(v)
        quotients.append(float(v @ A @ v))
        angles.append(float(np.linalg.norm(v - (v @ top) * top)))  # sin of the angle, accurate near 0
    return np.array(quotients), np.array(angles)


def _slope(y: np.ndarray) -> float:
    """Least-squares slope of ``log10 y`` against the step, over the steps where ``y`` is above rounding."""
    keep = np.nonzero(y > 1e-13)[0]
    keep = keep[: max(2, len(keep))]
    if keep.size < 3:
        return float("nan")
    return float(np.polyfit(keep, np.log10(y[keep]), 1)[0])


def deflated_power(A: np.ndarray, k: int, iters: int, seed: int, exact: tuple | None = None
                   ) -> tuple[list[float], np.ndarray]:
    """004 Exercise 3.1: power iteration on ``A - sum lambda_i u_i u_i^T``, ``k`` times, in ``A``'s dtype.

    ``exact = (values, vectors)`` deflates with the true eigenpairs instead of the found ones (same start vectors):
    the difference between the two runs is the drift that inaccurate found vectors add."""
    rng = np.random.default_rng(seed + 2)
    vals, vecs = [], []
    for j in range(k):
        v = rng.normal(size=A.shape[0]).astype(A.dtype)
        v /= np.linalg.norm(v)
        lams, us = (vals, vecs) if exact is None else (list(exact[0][:j]), list(exact[1][:j]))
        for _ in range(iters):
            v = A @ v - sum(lam * (u @ v) * u for lam, u in zip(lams, us))
            v /= np.linalg.norm(v)
        vals.append(float(v @ A @ v - sum(lam * (u @ v) ** 2 for lam, u in zip(lams, us))))
        vecs.append(v)
    return vals, np.array(vecs)


def _toy_hessian(seed: int) -> np.ndarray:
    """Our setting: a tanh MLP 10-15-5 (250 parameters), MSE on 64 random regression samples, float64."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(64, 10, generator=g, dtype=torch.float64)
    Y = torch.randn(64, 5, generator=g, dtype=torch.float64)
    torch.manual_seed(seed)
    model = linear_network((10, 15, 5), activation="tanh", bias=True)
    H = hessian(model, "mse", X, Y).dense().double().numpy()
    return (H + H.T) / 2


def _notebook_hessian(seed: int) -> np.ndarray:
    """004's setting as far as it is stated: cross-entropy of an MLP of about 250 parameters (20-10-4, tanh: 254) on
    8 random samples of 20 features with 4 classes, in float32 (004 Exercise 1, ``toy_mlp``; its activation is not
    stated)."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(8, 20, generator=g)
    y = torch.randint(0, 4, (8,), generator=g)
    torch.manual_seed(seed + 1)
    model = linear_network((20, 10, 4), activation="tanh", bias=True, dtype=torch.float32)
    H = hessian(model, "cross_entropy", X, y).dense().numpy()
    return ((H + H.T) / 2).astype(np.float32)


def deflation_study(H: np.ndarray, seed: int) -> dict:
    """004 Exercise 3.2 on ``H``: relative error of each of ``DEFLATIONS`` deflated eigenvalues (by magnitude, against
    eigh of the same matrix in float64), with found and with exact vectors, the orthogonality of the found vectors,
    the ratio ``r_k = |lambda_{k+1} / lambda_k|`` each step converges at (``lambda_11`` included) and the error
    that ratio alone predicts, ``(1 - r_k) r_k^(2 T)`` (Rayleigh quotient after ``T`` steps, start-vector factor
    left out)."""
    w, V = np.linalg.eigh(H.astype(np.float64))
    order = np.argsort(-np.abs(w))
    true_signed, U = w[order], V[:, order]
    true = np.abs(true_signed)
    vals, vecs = deflated_power(H, DEFLATIONS, ITERS_PER_DEFLATION, seed)
    exact_vals, _ = deflated_power(H, DEFLATIONS, ITERS_PER_DEFLATION, seed,
                                   exact=(true_signed.astype(H.dtype), U.T.astype(H.dtype)))
    rel = np.abs(np.abs(vals) - true[:DEFLATIONS]) / true[:DEFLATIONS]
    rel_exact = np.abs(np.abs(exact_vals) - true[:DEFLATIONS]) / true[:DEFLATIONS]
    gram = vecs.astype(np.float64) @ vecs.astype(np.float64).T
    ortho = [float(np.abs(gram[: j + 1, : j + 1] - np.eye(j + 1)).max()) for j in range(DEFLATIONS)]
    ratios = true[1:DEFLATIONS + 1] / true[:DEFLATIONS]
    predicted = (1 - ratios) * ratios ** (2 * ITERS_PER_DEFLATION)
    return {"true": true[:DEFLATIONS + 1].tolist(), "true_signed": true_signed[:DEFLATIONS + 1].tolist(),
            "found_signed": list(vals), "found": np.abs(vals).tolist(), "relative_error": rel.tolist(),
            "relative_error_exact_vectors": rel_exact.tolist(), "orthogonality": ortho, "ratios": ratios.tolist(),
            "predicted": predicted.tolist(), "dtype": str(H.dtype), "size": int(H.shape[0]),
            "eps": float(np.finfo(H.dtype).eps)}


#: a step "drifts" when deflating with the found vectors makes its error this many times the exact vectors' error
DRIFT = 10.0


def deflation_findings(study: dict) -> dict:
    """What the verdict says about one deflation study: the worst step and its ratio, whether deflating with the
    exact eigenvectors leaves that step as bad (its own slow convergence) or not, which steps drift (found-vector
    error at least ``DRIFT`` times the exact-vector error, above 10 eps), and the errors up to k = 5 and past it
    (004: "after ~5 deflations ... the deflated operator drifts")."""
    rel, exact = np.asarray(study["relative_error"]), np.asarray(study["relative_error_exact_vectors"])
    floor = 10 * study["eps"]
    worst = int(np.argmax(rel))
    drifting = [k + 1 for k in range(rel.size) if rel[k] > floor and rel[k] >= DRIFT * max(exact[k], floor)]
    signs = np.sign(study["true_signed"])
    return {"worst_k": worst + 1, "worst_error": float(rel[worst]), "worst_ratio": float(study["ratios"][worst]),
            "worst_exact_error": float(exact[worst]), "own_convergence": bool(exact[worst] >= 0.5 * rel[worst]),
            "drifting_steps": drifting, "max_error_first_5": float(rel[:5].max()), "max_error_after_5": float(rel[5:].max()),
            "opposite_sign_neighbours": [k + 1 for k in range(rel.size) if signs[k] != signs[k + 1]],
            "max_orthogonality": float(max(study["orthogonality"]))}


def _deflation_clause(name: str, study: dict, f: dict) -> str:
    drift = ("no step drifts (deflating with the exact eigenvectors gives the same errors)" if not f["drifting_steps"]
             else f"k = {', '.join(map(str, f['drifting_steps']))} drift: deflating with the found vectors makes their "
                  "error at least "
                  f"{DRIFT:g}x the exact vectors' (004's drift from inaccurate vectors)")
    return (f"{name} ({study['size']} parameters, {study['dtype']}): relative error up to {f['max_error_first_5']:.1e} "
            f"for k <= 5 and {f['max_error_after_5']:.1e} past it; worst {f['worst_error']:.1e} at k={f['worst_k']}, "
            f"where |lambda_k+1/lambda_k| = {f['worst_ratio']:.4f}, and "
            + (f"deflating with the exact eigenvectors leaves it at {f['worst_exact_error']:.1e}: that step's own slow "
               "convergence" if f["own_convergence"] else
               f"deflating with the exact eigenvectors brings it to {f['worst_exact_error']:.1e}: drift")
            + f"; {drift}; eigenvalues of opposite sign follow k = "
            f"{', '.join(map(str, f['opposite_sign_neighbours'])) or 'none'} (power "
            f"iteration cannot separate +-lambda of equal magnitude); found vectors orthogonal to "
            f"{f['max_orthogonality']:.1e}")


def power_report(out: Path, profile: Profile, seed: int) -> dict:
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.4))
    a1, a2, a3 = axes
    rates = {}
    for i, (name, eigs) in enumerate(GAPS.items()):
        A = _rotated(eigs, seed)
        q, ang = power_history(A, ITERATIONS, seed)
        err = np.abs(q - max(eigs))
        ratio = sorted(eigs)[-2] / max(eigs)
        rates[name] = {"ratio": ratio, "quotient_slope": _slope(err), "vector_slope": _slope(ang),
                       "printed_slope": float(np.log10(ratio)), "squared_slope": float(2 * np.log10(ratio))}
        steps = np.arange(1, ITERATIONS + 1)
        a1.semilogy(steps, np.maximum(err, 1e-17), "-", color=f"C{i}", label=f"{name}: |RQ - lambda_1|")
        a1.semilogy(steps, np.maximum(ang, 1e-17), ":", color=f"C{i}", label=f"{name}: sin angle to v_1")
    a1.set_xlabel("iteration")
    a1.set_ylabel("error")
    a1.set_title("power iteration against the spectral gap (004 Ex. 2.2), n=50", fontsize=9)
    a1.legend(fontsize=7)
    studies = {"004's setting": deflation_study(_notebook_hessian(seed), seed),
               "ours": deflation_study(_toy_hessian(seed), seed)}
    found = {name: deflation_findings(st) for name, st in studies.items()}
    ks = np.arange(1, DEFLATIONS + 1)
    for j, (name, st) in enumerate(studies.items()):
        floor = st["eps"]
        a2.semilogy(ks, np.maximum(st["relative_error"], floor / 10), "o-", ms=6, color=f"C{j}",
                    label=f"{name}: found vectors")
        a2.semilogy(ks, np.maximum(st["relative_error_exact_vectors"], floor / 10), "x", ms=8, color=f"C{j}",
                    label=f"{name}: exact vectors")
        a2.semilogy(ks, np.maximum(st["predicted"], 1e-17), "--", color=f"C{j}", lw=0.9,
                    label=f"{name}: (1 - r_k) r_k^(2T), a same-sign gap's rate")
        a2.axhline(floor, color=f"C{j}", lw=0.6, ls=":")
        neg = np.asarray(st["true_signed"][1:DEFLATIONS + 1]) < 0
        a3.plot(ks, st["ratios"], "-", color=f"C{j}", lw=0.8)
        a3.plot(ks[~neg], np.asarray(st["ratios"])[~neg], "D", ms=6, color=f"C{j}", label=f"{name}: lambda_k+1 > 0")
        a3.plot(ks[neg], np.asarray(st["ratios"])[neg], "D", ms=6, mfc="white", color=f"C{j}",
                label=f"{name}: lambda_k+1 < 0")
    a2.set_xlabel("k (deflation step)")
    a2.set_ylabel("relative error of |lambda_k|")
    a2.set_title(f"deflated power iteration, T = {ITERS_PER_DEFLATION} steps each (004 Ex. 3.2); dotted: eps", fontsize=9)
    a2.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    a3.set_xlabel("k")
    a3.set_ylabel(r"$r_k = |\lambda_{k+1}| / |\lambda_k|$ ($\lambda_{11}$ included)")
    a3.set_title("the ratio each deflation step converges at", fontsize=9)
    a3.legend(fontsize=8)
    d = out / "power"
    d.mkdir(parents=True, exist_ok=True)
    png = save_figure(fig, d / "power_and_deflation.png")
    narrow = rates["narrow gap (0.95)"]
    verdict = (f"power: the Rayleigh quotient's error falls at slope {narrow['quotient_slope']:.4f}/step for "
               f"lambda_2/lambda_1 = 0.95, against {narrow['printed_slope']:.4f} printed (|ratio|^k) and "
               f"{narrow['squared_slope']:.4f} for |ratio|^(2k): 004's rate is the eigenvector's "
               f"({narrow['vector_slope']:.4f}), the eigenvalue's is its square; deflation: "
               + "; ".join(_deflation_clause(name, studies[name], found[name]) for name in studies))
    nb = found["004's setting"]
    summary = (f"the quotient converges at ratio^(2k), the vector at ratio^k (004 prints ratio^k); in 004's setting "
               f"deflation degrades past k = 5 ({nb['max_error_first_5']:.0e} -> {nb['max_error_after_5']:.0e}): slow "
               f"steps{' and drift at k = ' + ', '.join(map(str, nb['drifting_steps'])) if nb['drifting_steps'] else ''}")
    body = [f"![power]({png})", "", "*Figure: left, power iteration on rotated diagonal spectra (004 Exercise 2.2): "
            "solid the Rayleigh quotient's error, dotted the eigenvector's angle; the tied spectrum converges to "
            "the 2-dimensional top eigenspace, so its quotient is exact while the vector never settles. Middle: "
            f"{DEFLATIONS} deflations (004 Exercise 3.2) in two settings: the relative error of each deflated "
            "eigenvalue against eigh, deflating with the found vectors (004's method, circles) and with the exact "
            "eigenvectors (crosses: what is left when no drift can occur), and the error each step's own ratio "
            "predicts (dashed). Right: the ratios r_k = |lambda_k+1/lambda_k|, k = 10 included (lambda_11 is "
            "computed); open diamonds: the next eigenvalue is negative.*", "",
            "- 004's setting, as far as it is stated: cross-entropy on 8 random samples of 20 features and 4 classes, "
            "an MLP of about 250 parameters (its architecture and activation are not given: 20-10-4 tanh, 254), "
            "float32, 300 steps per deflation, k up to 10 (the eigenvalues of the 20-10-4 network's Hessian are "
            "closely spaced and of both signs)",
            "- ours: MSE on 64 random regression samples, a 10-15-5 tanh MLP (245 parameters), float64; earlier "
            "versions of this report called it 004's setting, which it is not", "",
            "| spectrum | lambda_2/lambda_1 | slope of RQ error | slope of vector error | printed log10 ratio | "
            "2 log10 ratio |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    body += [f"| {k} | {v['ratio']:.2f} | {v['quotient_slope']:.4f} | {v['vector_slope']:.4f} | "
             f"{v['printed_slope']:.4f} | {v['squared_slope']:.4f} |" for k, v in rates.items()]
    for name, st in studies.items():
        body += ["", f"{name}:", "", "| k | exact lambda_k (by magnitude) | deflated | relative error of abs | with "
                 "exact vectors | r_k | orthogonality |", "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        body += [f"| {k} | {t:.6g} | {f:.6g} | {r:.1e} | {e:.1e} | {q:.4f} | {o:.1e} |"
                 for k, t, f, r, e, q, o in zip(ks, st["true_signed"], st["found_signed"], st["relative_error"],
                                                 st["relative_error_exact_vectors"], st["ratios"],
                                                 st["orthogonality"])]
    status = "deviates"  # 004 prints the eigenvector's rate for the Rayleigh quotient
    return write_report(d, title="004 §2-3: power iteration, spectral gap and deflation", verdict=verdict, body=body,
                        status=status, summary=summary,
                        data={"rates": rates, "deflation": studies, "findings": found},
                        config={"seed": seed, "iterations": ITERATIONS, "deflations": DEFLATIONS,
                                "iters_per_deflation": ITERS_PER_DEFLATION},
                        command=f"hessverify reports --profile {profile.name} --only krylov")
