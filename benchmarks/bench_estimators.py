"""Benchmark on the reference problem: gradient vs HVP cost per backend, and matvecs/time for the top 5
eigenvalues to 1e-8 relative with hessverify Lanczos, LOBPCG and scipy eigsh on the same operator.

Run: ``python benchmarks/bench_estimators.py [--out reports/bench_estimators.json]`` (``nox -s bench``).
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import scipy
import scipy.sparse.linalg as sla
import torch

import hessverify
from benchmarks.reference_problem import reference_problem
from hessverify.estimators import exact, lanczos, lobpcg
from hessverify.operators import BACKENDS, hessian


def best_of(fn, repeat: int = 5) -> float:
    """Minimum wall time over ``repeat`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def gradient_time(model, X, labels) -> float:
    def grad():
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(X), labels).backward()
    return best_of(grad, 20)


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=None, help="write the measurements as JSON here")
    args = ap.parse_args()
    torch.set_num_threads(2)
    model, X, labels = reference_problem()
    p = sum(q.numel() for q in model.parameters())
    t_grad = gradient_time(model, X, labels)
    out = {"problem": "tanh MLP 64-64-64-10, biases, cross-entropy, n=512 Gaussian, float64, CPU",
           "num_params": p, "gradient_s": t_grad, "hvp": {}, "top5": {},
           "versions": {"hessverify": hessverify.__version__, "torch": torch.__version__, "scipy": scipy.__version__,
                        "numpy": np.__version__, "python": platform.python_version()},
           "machine": f"{platform.machine()} {platform.processor() or ''} threads={torch.get_num_threads()}"}
    g = torch.Generator().manual_seed(0)
    for backend in BACKENDS:
        H = hessian(model, "cross_entropy", X, labels, backend=backend)
        v = torch.randn(p, generator=g, dtype=torch.float64)
        t = best_of(lambda: H.matvec(v), 10)
        out["hvp"][backend] = {"seconds": t, "gradients": t / t_grad}
        print(f"HVP {backend:18s} {t * 1e3:7.2f} ms = {t / t_grad:5.2f} gradients (gradient {t_grad * 1e3:.2f} ms)")
    H = hessian(model, "cross_entropy", X, labels)
    truth = exact(H).eigenvalues[:5].numpy()
    runs = {
        "hessverify.lanczos": lambda: lanczos(H, k=5, which="LA", tol=1e-9, seed=0),
        "hessverify.lobpcg": lambda: lobpcg(H, k=5, tol=1e-9, seed=0),
    }
    for name, fn in runs.items():
        t = time.perf_counter()
        r = fn()
        t = time.perf_counter() - t
        err = float(np.max(np.abs(r.eigenvalues.numpy() - truth) / np.abs(truth)))
        out["top5"][name] = {"seconds": t, "matvecs": r.num_matvecs, "max_rel_error": err}
        print(f"top-5 {name:22s} {t:6.2f} s {r.num_matvecs:5d} matvecs  max rel error {err:.1e}")
    lo = H.to_scipy()
    calls = {"n": 0}
    base = lo.matvec

    def counted(x):
        calls["n"] += 1
        return base(x)

    lo_counted = sla.LinearOperator(lo.shape, matvec=counted, dtype=np.float64)
    t = time.perf_counter()
    vals = np.sort(sla.eigsh(lo_counted, k=5, which="LA", tol=1e-9, return_eigenvectors=False))[::-1]
    t = time.perf_counter() - t
    err = float(np.max(np.abs(vals - truth) / np.abs(truth)))
    out["top5"]["scipy.eigsh(hessverify operator)"] = {"seconds": t, "matvecs": calls["n"], "max_rel_error": err}
    print(f"top-5 {'scipy.eigsh':22s} {t:6.2f} s {calls['n']:5d} matvecs  max rel error {err:.1e}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == "__main__":
    main()
