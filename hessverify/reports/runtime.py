"""000 Fig 4.3's claim that the runtime of 100 Lanczos steps "increases exponentially" with the Hessian batch size,
judged from the timings ``nox -s bench`` measured (``reports/performance_batch_runtime.json``, written by
``benchmarks/bench_batch_runtime.py``). Timings are not deterministic, so this report does not time anything: it
reads the stored measurement, copies the numbers it uses into its own ``data.json`` and says when they were taken.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hessverify.reports._common import Profile, write_report

BENCH = "performance_batch_runtime"
#: "exponential" in the batch size s means log t grows linearly in s; a power law t ~ s^k means log t grows
#: linearly in log s. A local log-log slope at most this is no faster than linear growth.
LINEAR_SLOPE = 1.0


def slopes(sizes: list[int], medians: list[float]) -> list[float]:
    """Local log-log slopes ``d log t / d log s`` between consecutive batch sizes."""
    s, t = np.log(np.asarray(sizes, float)), np.log(np.asarray(medians, float))
    return (np.diff(t) / np.diff(s)).tolist()


def runtime_report(out: Path, profile: Profile, seed: int) -> dict:
    d = out / "runtime"
    bench = out / f"{BENCH}.json"
    if not bench.exists():
        bench = Path("reports") / f"{BENCH}.json"
    try:
        raw = json.loads(bench.read_text())
    except (OSError, json.JSONDecodeError):
        raw = None
    body = [f"- the measurement: `nox -s bench` (`benchmarks/bench_batch_runtime.py`), figure "
            f"[{BENCH}.png](../{BENCH}.png): median of repeated runs of 100 Lanczos steps (full reorthogonalisation) "
            "per batch size, at initialisation and trained"]
    if raw is None:
        return write_report(d, title="000 Fig 4.3: Lanczos runtime against the Hessian batch size",
                            verdict=f"runtime: no measurement found ({BENCH}.json); run `nox -s bench`",
                            status="no verdict", summary=f"no measurement: run `nox -s bench` to write {BENCH}.json",
                            body=body, data={}, config={"source": str(bench)},
                            command=f"hessverify reports --profile {profile.name} --only sigmoid_mlp")
    sizes = raw["sizes"]
    states = {}
    for name, st in raw["states"].items():
        med = [float(np.median(st["seconds"][str(s)])) for s in sizes]
        states[name] = {"median_seconds": med, "slopes": slopes(sizes, med)}
    worst = max(max(st["slopes"]) for st in states.values())
    top = [st["slopes"][-1] for st in states.values()]
    faster = worst > LINEAR_SLOPE
    verdict = (f"runtime ({raw['source']}, n={raw['n']}, {raw['repeats']} runs per size, {raw['machine']}): the median "
               "time of 100 Lanczos steps is " + "; ".join(
                   f"{name} " + ", ".join(f"{t:.3g} s" for t in st["median_seconds"]) for name, st in states.items())
               + f" at batch {'/'.join(map(str, sizes))}; local log-log slopes at most {worst:.2f} (between the two "
               f"largest sizes {min(top):.2f}-{max(top):.2f}): "
               + ("faster than linear somewhere, but a power law, not an exponential, on this range" if faster else
                  "no faster than linear in the batch size, so not exponential as 000 states: on an axis of powers "
                  "of ten, a linear cost looks exponential when the axis is read as linear"))
    return write_report(d, title="000 Fig 4.3: Lanczos runtime against the Hessian batch size", verdict=verdict,
                        status="not reproduced",
                        summary=f"log-log slope at most {worst:.2f}: the runtime grows at most linearly with the batch "
                                "size, not exponentially", body=body,
                        data={"sizes": sizes, "states": states, "source": raw["source"], "n": raw["n"],
                              "repeats": raw["repeats"], "machine": raw["machine"], "torch": raw.get("torch")},
                        config={"source": f"{BENCH}.json", "linear_slope": LINEAR_SLOPE},
                        command=f"hessverify reports --profile {profile.name} --only sigmoid_mlp")
