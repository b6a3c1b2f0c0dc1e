"""Run every report (or some) and write ``reports/index.md``: ``hessverify reports --profile quick|paper``."""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import re
import secrets
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from hessverify._validation import as_bool, as_int
from hessverify._validation import check_device as validated_device
from hessverify.cache import ResultCache
from hessverify.files import atomic_write_text, confine_writes, refuse_symlinks, remove_stale_temporaries
from hessverify.reports._common import PROFILES, STATUSES, Progress

GROUPS = ("ablations", "seed_figures", "krylov", "sigmoid_mlp", "density", "hierarchy", "fisher", "edge_of_stability",
          "outliers", "gradient_subspace")
#: order of the reports in the index, and the seed document each reproduces
SEED_OF = {"whitened": "003", "raw_inputs": "003", "kaiming_init": "003", "tanh": "003", "label_imbalance": "003",
           "real_data": "003", "fig1_left": "003", "fig1_middle": "003", "fig3_trace": "003", "fig4_top10": "003",
           "krylov": "000", "krylov_counts": "000", "runtime": "000", "sigmoid_mlp": "000", "power": "004",
           "notebook_004": "004", "density": "002", "hierarchy": "002",
           # the literature beyond the seeds (issue 27): the source is an arXiv number
           "fisher_1905_12558": "1905.12558", "edge_of_stability_2103_00065": "2103.00065",
           "outliers_1706_04454": "1706.04454", "gradient_subspace_1812_04754": "1812.04754"}
_ORDER = {name: i for i, name in enumerate(SEED_OF)}


#: where each profile writes by default: the committed quick reports at the top, the others in folders of their own
DEFAULT_OUT = {"quick": "reports", "paper": "reports/paper", "test": "reports/test"}
_NAME = re.compile(r"^[a-z0-9_]+$")


def check_device(device) -> str:
    """``device`` (a string or ``torch.device``) as the string of a device this machine has (``cpu``, ``cuda``,
    ``cuda:1``, ``mps``); one rule with every other public function (``hessverify._validation.check_device``)."""
    if device is None:
        raise TypeError("device must be a string such as 'cpu' or 'cuda' (or a torch.device), got None")
    dev = validated_device("device", device)
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device={str(device)!r}: this machine has {torch.cuda.device_count()} CUDA devices")
    return str(dev)


def _check_seed(seed) -> int:
    return as_int("seed", seed, minimum=0, maximum=2**32 - 1)


class ReportsBusy(RuntimeError):
    """Another report run holds the output folder."""


@contextlib.contextmanager
def output_lock(out: Path):
    """Hold an exclusive ``fcntl.flock`` on ``out/.lock`` for one run: a second run on the same folder is refused
    (:class:`ReportsBusy`) while the first holds it, at any moment of either run.

    The kernel drops the lock when its holder exits, however it exits, so a killed run leaves no stale lock and
    nothing reads a pid to guess. The file is opened with ``O_NOFOLLOW`` (a link there is refused) and never
    removed (removing it would let two runs lock two different files); it holds the holder's pid for messages
    while held and is emptied on release, so a finished run leaves the same bytes whatever its pid.

    Parameters
    ----------
    out : Path
        The output folder (it must exist).

    Raises
    ------
    ReportsBusy
        Another run holds the lock.
    """
    out = Path(out)
    lock = out / ".lock"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as e:
        if lock.is_symlink():
            raise ValueError(f"{lock} is a symbolic link; refusing to use it as the lock (remove it)") from None
        raise ValueError(f"cannot open the lock file {lock} ({e.strerror}); pass a writable --out") from None
    held = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (BlockingIOError, PermissionError):
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            who = f"pid {holder}" if holder.isdigit() else "another process"
            raise ReportsBusy(f"another hessverify reports run ({who}) is writing to {out}; wait for it to finish, "
                              f"or pass another --out") from None
        held = True
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        if held:
            os.ftruncate(fd, 0)  # a finished run leaves no pid behind
        os.close(fd)  # releases the lock


def _check_writable(out: Path) -> None:
    """Make ``out`` and prove it writable with a fresh probe file (``O_CREAT | O_EXCL | O_NOFOLLOW``, random name):
    the probe can neither follow a link nor truncate an existing file."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}-{secrets.token_hex(4)}"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ValueError(f"cannot write to {out} ({e.strerror}); pass a writable --out") from None


def _check_out(out) -> Path:
    """``out`` as a Path naming a folder: not empty (``--out ""`` would write into the current directory)."""
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out must be a folder path (str or pathlib.Path), got {type(out).__name__}")
    if os.fspath(out) == "":
        raise ValueError("out='' names no folder (it would write into the current directory); pass a folder such as "
                         "--out reports/mine")
    return Path(out)


def _check_not_mixed(out: Path, profile: str, seed: int, replace: bool) -> None:
    old = _read_index(out)
    if old and (old["profile"], old["seed"]) != (profile, seed) and not replace:
        raise ValueError(f"{out} holds reports of profile {old['profile']!r} seed {old['seed']}; refusing to mix "
                         f"them with profile {profile!r} seed {seed}. Pass another --out, or --replace to "
                         "overwrite them")


def run_reports(out: str | Path | None = None, profile: str = "quick", seed: int = 0, only: list[str] | None = None,
                cache_dir: str | Path | None = None, device: str = "cpu", *, replace: bool = False) -> list[dict]:
    """Regenerate the reports into ``out`` (default per profile: :data:`DEFAULT_OUT`); finished cells come from
    the cache (``out/.cache`` by default).

    ``device`` runs the training and the curvature of the trained networks there (the synthetic-matrix
    reports stay on the CPU). ``index.md`` lists every report found in ``out``, so groups can run apart. The
    folder is checked for writing and locked before anything is computed; a folder that holds another
    profile's or seed's reports is refused unless ``replace``."""
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is not known; use one of {', '.join(PROFILES)}")
    seed = _check_seed(seed)
    device = check_device(device)
    replace = as_bool("replace", replace)
    if only is not None:
        if isinstance(only, np.ndarray) and only.ndim == 1:
            only = only.tolist()
        if isinstance(only, str) or not isinstance(only, (list, tuple)) or not all(isinstance(g, str) for g in only):
            raise TypeError(f"only must be a list of report group names, got {type(only).__name__}; choose from "
                            f"{', '.join(GROUPS)}")
        only = list(only)
    if only is not None and len(only) == 0:
        raise ValueError(f"only=[] names no report group; leave it out to run every group, or choose from "
                         f"{', '.join(GROUPS)}")
    unknown = set(only or []) - set(GROUPS)
    if unknown:
        raise ValueError(f"only={sorted(unknown)} names no report group; choose from {', '.join(GROUPS)}")
    out = _check_out(out if out is not None else DEFAULT_OUT[profile])
    folders = [out] + ([_check_out(cache_dir)] if cache_dir is not None else [])
    for folder in folders:
        refuse_symlinks(folder)  # before computing: a link under the folder could redirect a write outside it
        _check_writable(folder)
    _check_not_mixed(out, profile, seed, replace)
    with output_lock(out), contextlib.ExitStack() as confined:
        for folder in folders:
            refuse_symlinks(folder)  # again, now that no other run can be making them
            confined.enter_context(confine_writes(folder))
        remove_stale_temporaries(out)
        return _run(out, profile, seed, only, cache_dir, device)


def _run(out: Path, profile: str, seed: int, only, cache_dir, device: str) -> list[dict]:
    from hessverify.reports import (ablations, density, hierarchy, krylov, literature_edge_of_stability, literature_fisher,
                                    literature_gradient_subspace, literature_outliers, notebook_004, power, runtime,
                                    seed_figures, sigmoid_mlp)

    torch.set_num_threads(2)  # same thread count, same floating-point summation order, same bytes
    prof = dataclasses.replace(PROFILES[profile], device=device)
    cache = ResultCache(Path(cache_dir) if cache_dir else out / ".cache" / profile)
    progress = Progress("reports")
    runs = {
        "ablations": lambda: ablations.ablation_reports(out, prof, seed, cache),
        "seed_figures": lambda: [seed_figures.fig1_left(out, seed), seed_figures.fig1_middle(out, seed),
                                 seed_figures.fig3_trace(out, prof, seed, cache),
                                 seed_figures.fig4_top10(out, prof, seed, cache)],
        "krylov": lambda: [krylov.krylov_report(out, prof, seed), krylov.counts_report(out, prof, seed),
                           power.power_report(out, prof, seed), notebook_004.notebook_report(out, prof, seed)],
        "sigmoid_mlp": lambda: [sigmoid_mlp.sigmoid_mlp_report(out, prof, seed, cache),
                                runtime.runtime_report(out, prof, seed)],
        "density": lambda: [density.density_report(out, prof, seed)],
        "hierarchy": lambda: [hierarchy.hierarchy_report(out, prof, seed, cache)],
        "fisher": lambda: [literature_fisher.fisher_report(out, prof, seed, cache)],
        "edge_of_stability": lambda: [literature_edge_of_stability.edge_of_stability_report(out, prof, seed, cache)],
        "outliers": lambda: [literature_outliers.outliers_report(out, prof, seed, cache)],
        "gradient_subspace": lambda: [literature_gradient_subspace.gradient_subspace_report(out, prof, seed, cache)],
    }
    entries, timings = [], {}
    for group in only or GROUPS:
        start, hits, misses = time.perf_counter(), cache.hits, cache.misses
        entries += runs[group]()
        seconds = time.perf_counter() - start
        timings[group] = {"seconds": round(seconds, 1), "cache_hits": cache.hits - hits,
                          "computed": cache.misses - misses, "finished_utc": _utc_now(),
                          # other work on the machine slows a group down: the 1-minute load average says how much
                          "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None}
        progress(f"{group} done in {seconds:.0f}s (cache: {cache.hits} hits, {cache.misses} computed)")
        write_index(out, entries, prof.name, seed)  # after every group: a run stopped later keeps what finished
        write_timings(out, timings)
    return entries


TIMINGS = "timings.json"


def _utc_now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M")


def write_timings(out: Path, timings: dict) -> None:
    """``out/timings.json``: each group's wall time, cache use, load and machine at its last run (groups not rerun
    keep their entry). The one file of a report folder that is not deterministic."""
    import platform

    from hessverify.claims.report import environment

    try:
        old = json.loads((out / TIMINGS).read_text())
        old = old if isinstance(old, dict) and isinstance(old.get("groups"), dict) else {"groups": {}}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        old = {"groups": {}}
    machine = {"machine": platform.machine(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
               "device": environment()["device"], "torch": torch.__version__}
    groups = {k: v for k, v in old["groups"].items() if k in GROUPS and isinstance(v, dict)}
    groups.update({k: {**v, **machine} for k, v in timings.items()})
    atomic_write_text(out / TIMINGS, json.dumps({"groups": groups}, indent=1, sort_keys=True) + "\n")


def ran_on(report_dir: Path) -> str:
    """The device a report's training and curvature ran on, from its ``data.json`` (``cpu`` unless the profile
    named an accelerator, then that machine's name)."""
    data = _report_data(report_dir)
    if data is None:
        return "unknown"
    config = data.get("config", {})
    device = config.get("profile", {}).get("device", config.get("device", "cpu"))
    if device == "cpu":
        return "cpu"
    return f"{_plain(str(device))} ({_plain(str(data.get('environment', {}).get('device', 'unknown')))})"


def _plain(text: str) -> str:
    """Text safe in a markdown table cell: no markup, links or breaks."""
    return re.sub(r"[|\[\]()<>`*_#!\n\r]", " ", text).strip()


def _report_data(report_dir: Path) -> dict | None:
    try:
        data = json.loads((report_dir / "data.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _read_index(out: Path) -> dict | None:
    """``out/index.json`` if it is valid: ``{"profile": str, "seed": int, "reports": [{"name": plain name}, ...]}``;
    None (with a warning) if it is not."""
    path = out / "index.json"
    if not path.exists():
        return None
    try:
        old = json.loads(path.read_text())
        ok = (isinstance(old, dict) and isinstance(old.get("profile"), str) and isinstance(old.get("seed"), int)
              and isinstance(old.get("reports"), list)
              and all(isinstance(e, dict) and isinstance(e.get("name"), str) and _NAME.match(e["name"])
                      for e in old["reports"]))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        ok = False
    if not ok:
        warnings.warn(f"{path} is not a valid report index; it is ignored and rewritten", RuntimeWarning, stacklevel=2)
        return None
    return old


def _entry(out: Path, name: str) -> dict | None:
    """An index entry read back from the report's own ``data.json`` (never from the index itself)."""
    data = _report_data(out / name)
    if data is None or not isinstance(data.get("title"), str) or not isinstance(data.get("verdict"), str):
        return None
    if not isinstance(data.get("status"), str) or not isinstance(data.get("summary"), str):  # written before statuses
        return {"name": name, "title": data["title"], "verdict": data["verdict"], "status": "no verdict",
                "summary": "written before reports had a status (rerun its group); its verdict: "
                           + (data["verdict"] if len(data["verdict"]) <= 240 else data["verdict"][:240] + "...")}
    return {"name": name, "title": data["title"], "verdict": data["verdict"], "status": data["status"],
            "summary": data["summary"]}


def write_index(out: Path, entries: list[dict], profile: str, seed: int) -> None:
    """Index of ``entries`` plus the reports already in ``out`` (same profile and seed: the folder is checked
    before a run) that were not rerun now: every known report folder with a readable ``data.json``."""
    from hessverify.reports.coverage import data_sets_lines, not_attempted_lines

    old = _read_index(out)  # validated (a crafted or broken index is named in a warning and ignored)
    listed = {e["name"] for e in old["reports"]} if old and (old["profile"], old["seed"]) == (profile, seed) else set()
    fresh = {e["name"] for e in entries}
    kept = [_entry(out, name) for name in _ORDER
            if name not in fresh and (name in listed or (out / name / "data.json").exists())]
    entries = [e for e in kept if e is not None] + [{**e, **(_entry(out, e["name"]) or {})} for e in entries]
    entries.sort(key=lambda e: _ORDER.get(e["name"], len(_ORDER)))
    counts = {s: sum(e.get("status") == s for e in entries) for s in STATUSES}
    lines = ["# Reports", "", f"Generated by `nox -s reports` (`hessverify reports --profile {profile}`, seed {seed}). "
             "Each status and verdict is computed from the report's own data.json; the title links to the full "
             "verdict and its figures; \"ran on\" is the device recorded there; wall time, machine and load of each "
             "group's last run: [timings.json](timings.json) (the one file here that is not deterministic)."
             + (" Claims and their counterexamples: [verification.md](verification.md)."
                if (out / "verification.md").exists() else ""), "",
             "Status: " + ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s]) + ". *reproduced*: the seed's "
             "claim holds here; *deviates*: it holds with a difference the verdict names; *not reproduced*: it does "
             "not hold here; *no verdict*: the run cannot tell (the line says why); *not attempted*: see below.", "",
             "| seed or source | report | status | verdict in one line | ran on |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {SEED_OF.get(e['name'], '-')} | [{e['title']}]({e['name']}/report.md) | **{e.get('status', 'no verdict')}** "
              f"| {_cell(e.get('summary', e['verdict']))} | {ran_on(out / e['name'])} |" for e in entries]
    lines += ["", *data_sets_lines(), "", *not_attempted_lines(profile)]
    atomic_write_text(out / "index.md", "\n".join(lines) + "\n")
    atomic_write_text(out / "index.json", json.dumps({"profile": profile, "seed": seed, "reports": entries},
                                                     indent=1, sort_keys=True) + "\n")


def _cell(text: str) -> str:
    """Text for a markdown table cell: pipes escaped, no line breaks."""
    return text.replace("|", "\\|").replace("\n", " ")
