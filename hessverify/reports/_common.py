"""Shared pieces of the reports: profiles, progress, deterministic figures, report files."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hessverify.files import atomic_write, atomic_write_text  # noqa: E402
from hessverify.claims.report import environment  # noqa: E402


@dataclass(frozen=True)
class Profile:
    """Sizes of one report run. ``quick``: this 2-core CPU machine in minutes; ``paper``: the documents' sizes."""

    name: str
    n: int  # samples per data set (synthetic / Fashion-MNIST)
    d0: int  # synthetic input width
    width: int  # hidden width of the 4-layer networks
    epochs: int
    lr: float
    alphas: tuple[float, ...]
    ns: tuple[int, ...]  # sample sizes of the n-independence check
    digits_n: int
    trace_width: int  # Fig 3 network width
    num_checkpoints: int
    krylov_size: int
    #: the real data of the four ablation cells and the label-imbalance sweep, in order of preference: the first
    #: installed one is used (a name ending in ``_14x14`` is the 28x28 set averaged to 14x14 pixels)
    datasets: tuple[str, ...] = ("mnist_5k_14x14",)
    real_n: int = 400  # samples of the real-data cells: every alpha_max of the sweep must be feasible
    real_ns: tuple[int, ...] = (100, 200, 400)  # sample sizes of the n-dependence check on real data
    #: learning rates an ablation cell tries in turn until it converges (003 App. C uses 0.01)
    lrs: tuple[float, ...] = (0.05,)
    #: 000 §4's sigmoid MLP: the data sets it runs on (every installed one) and their training-set size
    mlp_datasets: tuple[str, ...] = ("mnist_5k",)
    mlp_n: int = 1000
    hierarchy_hidden: int = 16  # width of the previous hierarchy setting's tanh MLP (7x7 images, Adam)
    #: 002's hierarchy: images of the main network, the sample sizes of Fig 7/10, how far past zero training error
    #: the over-training question trains (a multiple of the epochs to zero error), and at most how many epochs
    hierarchy_n: int = 1000
    hierarchy_sizes: tuple[int, ...] = (250, 500, 1000)
    overtrain: int = 4
    hierarchy_max_epochs: int = 400
    density_n: int = 2000  # size of 002 Fig 8's synthetic matrices
    device: str = "cpu"  # where training and the curvature products of the trained networks run


PROFILES = {
    "quick": Profile("quick", n=400, d0=32, width=32, epochs=10_000, lr=0.01, alphas=(0.1, 0.25, 0.5, 0.75, 1.0),
                     ns=(200, 400, 800), digits_n=150, trace_width=32, num_checkpoints=6, krylov_size=200,
                     real_ns=(100, 400), lrs=(0.05,)),
    "paper": Profile("paper", n=5000, d0=784, width=64, epochs=10_000, lr=0.01,
                     alphas=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0), ns=(1000, 2500, 5000), digits_n=170,
                     trace_width=256, num_checkpoints=10, krylov_size=1000, datasets=("fashion_mnist", "mnist_5k_14x14"),
                     real_n=5000, real_ns=(1000, 2500, 5000), lrs=(0.01, 0.05),
                     mlp_datasets=("fashion_mnist", "mnist_5k"), mlp_n=5000, hierarchy_hidden=64, hierarchy_n=5000,
                     hierarchy_sizes=(1000, 2500, 5000), overtrain=8, hierarchy_max_epochs=1000),
    # seconds, for the test suite (determinism, kill-and-resume); not a result to read
    "test": Profile("test", n=60, d0=8, width=8, epochs=150, lr=0.05, alphas=(0.1, 0.8), ns=(40, 60), digits_n=100,
                    trace_width=8, num_checkpoints=2, krylov_size=40, datasets=("digits",), real_n=100,
                    real_ns=(60, 100), lrs=(0.05,), mlp_datasets=("digits",), mlp_n=200, hierarchy_n=300,
                    hierarchy_sizes=(150, 300), overtrain=2, hierarchy_max_epochs=150, density_n=120),
}


def device_key(profile: Profile) -> dict:
    """Results computed off the CPU differ by rounding: keep them apart in the cache (CPU keys unchanged)."""
    return {} if profile.device == "cpu" else {"device": profile.device}


class Progress:
    """One line per finished step, with elapsed time, to stderr."""

    def __init__(self, name: str):
        self.name, self.start = name, time.perf_counter()

    def __call__(self, message: str) -> None:
        print(f"[{self.name} {time.perf_counter() - self.start:7.1f}s] {message}", file=sys.stderr, flush=True)


def save_figure(fig, path: Path) -> str:
    """Save atomically (a kill leaves the old PNG or none, never a truncated one) and without timestamps in the
    PNG metadata (same data, same bytes)."""
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight",
                                                   metadata={"Software": None}))
    finally:
        plt.close(fig)
    return path.name


#: what a report can say about its seed's claim, in the index's status column
STATUSES = ("reproduced", "deviates", "not reproduced", "no verdict", "not attempted")


def write_report(directory: Path, *, title: str, verdict: str, body: list[str], data: dict, config: dict,
                 command: str, status: str, summary: str) -> dict:
    """``report.md`` and ``data.json`` in ``directory``; returns the index entry.

    Parameters
    ----------
    directory
        The report's folder (created).
    title, verdict
        The report's title and its full verdict, every number computed from ``data``.
    body
        Markdown lines between the verdict and the configuration.
    data, config
        Stored in ``data.json`` (the measurements, and the settings that produced them).
    command
        The command that regenerates the report.
    status
        One of :data:`STATUSES`: reproduced (the seed's claim holds here), deviates (it holds with a difference the
        verdict names), not reproduced (it does not hold here), no verdict (the run cannot tell), not attempted.
    summary
        The verdict in one line for the index (at most about 200 characters).

    Returns
    -------
    dict
        The index entry: name, title, verdict, status and summary.
    """
    if status not in STATUSES:
        raise ValueError(f"status={status!r} must be one of {STATUSES}")
    directory.mkdir(parents=True, exist_ok=True)
    payload = {"title": title, "verdict": verdict, "status": status, "summary": summary, "config": config,
               "environment": environment(), "data": data}
    atomic_write_text(directory / "data.json", json.dumps(payload, indent=1, sort_keys=True, default=float) + "\n")
    md = [f"# {title}", "", f"**Status:** {status}. {summary}", "", f"**Verdict:** {verdict}", "", *body, "",
          "## Configuration", "",
          "```json", json.dumps(config, indent=1, sort_keys=True, default=str), "```", "",
          f"Regenerate: `{command}` (deterministic given the seed; data in `data.json`).", ""]
    atomic_write_text(directory / "report.md", "\n".join(md))
    return {"name": directory.name, "title": title, "verdict": verdict, "status": status, "summary": summary}
