"""000 Fig 4.3: the runtime of 100 Lanczos steps (full reorthogonalisation) against the Hessian batch size, on the
784-16-10 sigmoid MLP of 000 §4 at initialisation and trained (MNIST 5k where installed, else UCI digits).

000 reads the runtime as growing "exponentially" with the batch size, over batch sizes that are powers of ten.
The slope of log(runtime) against log(batch) between the two largest sizes says how it grows (1: linearly).
Measured here (2 CPU threads, MNIST 5k, n = 4,000): 0.13-0.2 s up to batch 100, where the fixed cost of 100
steps (reorthogonalisation against 12,730-long vectors) dominates, and a slope of 0.55-0.64 between 1,000
and 4,000: not exponential; on a powers-of-ten axis a linear cost looks exponential when the axis is read as
linear. Batch 1 is slower than 10: its Hessian has a low rank, so Lanczos breaks down and restarts.

Run: ``python -m benchmarks.bench_batch_runtime [--out reports/performance_batch_runtime]`` (``nox -s bench``).
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from hessverify.data.loaders import DataFilesMissingError
from hessverify.estimators import lanczos_ritz
from hessverify.files import atomic_write_text
from hessverify.operators import hessian
from hessverify.reports._common import plt, save_figure
from hessverify.reports.sigmoid_mlp import LANCZOS_STEPS, TARGET_LOSS, train_to_target, training_split
from hessverify.training import load_checkpoint

POWERS = (1, 10, 100, 1000)  # then the full training set, as in 000 Fig 4.3
REPEATS = 5


def _runtimes(model, X, y, size: int, g: torch.Generator) -> list[float]:
    lanczos_ritz(hessian(model, "cross_entropy", X[:size], y[:size]), num_iter=LANCZOS_STEPS, seed=0,
                 ritz_history=False, track_orthogonality=False)  # warm-up, not timed
    out = []
    for _ in range(REPEATS):
        idx = torch.randperm(X.shape[0], generator=g)[:size]
        H = hessian(model, "cross_entropy", X[idx], y[idx])
        t = time.perf_counter()
        lanczos_ritz(H, num_iter=LANCZOS_STEPS, seed=0, ritz_history=False, track_orthogonality=False)
        out.append(time.perf_counter() - t)
    return out


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="reports/performance_batch_runtime", help="writes OUT.json and OUT.png")
    args = ap.parse_args()
    torch.set_num_threads(2)
    try:
        source, (X, y, _, _) = "mnist_5k", training_split("mnist_5k", 5000, 0)  # 4,000 of them
    except DataFilesMissingError:
        source, (X, y, _, _) = "digits", training_split("digits", 1797, 0)
    model, checkpoints, losses = train_to_target(X, y, TARGET_LOSS[source], 0)
    sizes = [s for s in POWERS if s < X.shape[0]] + [int(X.shape[0])]
    g = torch.Generator().manual_seed(0)
    result = {"source": source, "n": int(X.shape[0]), "sizes": sizes, "repeats": REPEATS, "steps": LANCZOS_STEPS,
              "machine": f"{platform.machine()} {platform.processor() or ''} threads={torch.get_num_threads()}",
              "torch": torch.__version__, "states": {}}
    for name, epoch in (("initialisation", 0), ("trained", len(losses) - 1)):
        load_checkpoint(model, checkpoints[epoch])
        times = {s: _runtimes(model, X, y, s, g) for s in sizes}
        slope = float(np.diff(np.log([np.median(times[s]) for s in sizes[-2:]]))[0] / np.diff(np.log(sizes[-2:]))[0])
        result["states"][name] = {"seconds": {str(s): t for s, t in times.items()}, "loglog_slope_top": slope}
        print(f"{name}: " + ", ".join(f"batch {s}: {np.median(t):.3f}s" for s, t in times.items())
              + f"; log-log slope between batch {sizes[-2]} and {sizes[-1]}: {slope:.2f}", flush=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (name, st) in enumerate(result["states"].items()):
        med = [np.median(st["seconds"][str(s)]) for s in sizes]
        lo = [med[j] - min(st["seconds"][str(s)]) for j, s in enumerate(sizes)]
        hi = [max(st["seconds"][str(s)]) - med[j] for j, s in enumerate(sizes)]
        ax.errorbar(np.asarray(sizes) * (1.08 if i else 1 / 1.08), med, yerr=[lo, hi], fmt="os"[i], mfc="none",
                    ms=6, capsize=3, color=f"C{i}", label=f"{name} (log-log slope {st['loglog_slope_top']:.2f} "
                    "between the two largest)")
    top = np.median(result["states"]["trained"]["seconds"][str(sizes[-1])])
    ax.plot(sizes, top * np.asarray(sizes) / sizes[-1], "k:", lw=1, label="linear in the batch size (slope 1)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Hessian batch size")
    ax.set_ylabel(f"seconds for {LANCZOS_STEPS} Lanczos steps (median, min-max)")
    ax.set_ylim(top / 30, top * 3)
    ax.set_title(f"000 Fig 4.3: 784-16-10 sigmoid MLP, {source} (n={X.shape[0]}), {REPEATS} runs each\n"
                 f"{result['machine']}, torch {torch.__version__}", fontsize=9)
    ax.legend(fontsize=8)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, out.with_suffix(".png"))
    atomic_write_text(out.with_suffix(".json"), json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
