"""The verdict table of every claim: ``reports/verification.md`` and ``.json``, written atomically."""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from hessverify.files import atomic_write_text as atomic_write


def environment() -> dict:
    import hypothesis
    import numpy
    import scipy
    import torch

    import hessverify

    return {"hessverify": hessverify.__version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "scipy": scipy.__version__, "hypothesis": hypothesis.__version__, "python": platform.python_version(),
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu ({platform.machine()})",
            "hypothesis_profile": os.environ.get("HYPOTHESIS_PROFILE", "ci")}


def _cell(text) -> str:
    """``text`` safe inside a markdown table cell: pipes escaped, line breaks flattened."""
    return str(text).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _status(r) -> str:
    return (f"**{r.status}**" + (" (expected)" if r.as_expected and r.expect != "holds" else "")
            + (" (textbook)" if getattr(r, "textbook", False) else ""))


def _claim_cell(r) -> str:
    """The claim's name, linked to its test file when the run knows it, and the theory functions it calls."""
    name = f"`{_cell(r.name)}`"
    if r.nodeid and "::" in r.nodeid:
        name = f"[{name}]({r.nodeid.split('::')[0]})"
    theory = getattr(r, "theory", None) or []
    return name + (f" ({', '.join(f'`{t}`' for t in theory)})" if theory else "")


def _resolution(r) -> str:
    res = getattr(r, "resolution", None)
    if res is None:
        return ""
    text = f"{res:.0e}"
    return text + (f" at {r.level:g}" if getattr(r, "level", None) else "")


def _number(x) -> str:
    return "" if x is None else f"{x:.1e}"


def verdict_table(records) -> str:
    """Markdown table, one row per claim: examples judged, examples outside the assumptions, examples the
    certificate could not resolve, the shown counterexample's own relative error and tolerance, and the worst
    relative error over the examples that held."""
    lines = ["| claim (theory) | source | reading | status | examples | outside assumptions | inconclusive | resolution "
             "| counterexample error (tolerance) | worst passing error | counterexample |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in sorted(records, key=lambda r: (r.source, r.name)):
        shown = r.counterexample or r.inconclusive_example
        ce = f"`{_cell(shown)}`" if shown else ""
        err = (f"{_number(r.counterexample_error)} ({_number(r.counterexample_tolerance)})"
               if r.counterexample_error is not None else "")
        reading = _cell(getattr(r, "reading", "") or "").split(" (")[0]
        lines.append(f"| {_claim_cell(r)} | {_cell(r.source)} | {reading} | {_status(r)} | {r.examples} | "
                     f"{r.outside} | {r.inconclusive_examples} | {_resolution(r)} | {err} | "
                     f"{_number(r.worst_passing_error)} | {ce} |")
    return "\n".join(lines)


#: sections of the report, in order, with what belongs to each
SOURCE_GROUPS = (
    ("Seed documents", "The four documents in ../shared/seeds (000, 002, 003, 004), each claim as printed"),
    ("Literature", "Published results beyond the seeds (arXiv numbers), through the same @conjecture API"),
    ("Derived here", "Corrections and new results derived in this repository (theory/), proved or checked"),
)


def source_group(source: str) -> str:
    """Which section a claim's ``source`` belongs to: derived here, a seed document (``000``-``004``), or the
    literature (everything else, e.g. an arXiv number)."""
    text = source.strip().lower()
    if text.startswith("derived"):
        return "Derived here"
    if text[:3] in ("000", "001", "002", "003", "004"):
        return "Seed documents"
    return "Literature"


def grouped_tables(records) -> str:
    """One :func:`verdict_table` per source group (groups without claims are left out)."""
    parts = []
    for group, what in SOURCE_GROUPS:
        members = [r for r in records if source_group(r.source) == group]
        if members:
            parts += [f"### {group}", "", f"{what}.", "", verdict_table(members), ""]
    return "\n".join(parts).rstrip()


STATUS_HELP = (
    "Status: **holds** (every example inside the claim's assumptions agreed within a certified tolerance no wider "
    "than 1e-3 of the quantity), **refuted** (a certified difference; the minimal counterexample is shown), "
    "**inconclusive** (no counterexample, but some example's certificate plus rounding was wider than the effect "
    "it judges: the table shows that example and the details how much the certificate would have to shrink), "
    "**error** (a NaN/Inf or an exception: nothing was judged). \"(expected)\": the claim is kept with that "
    "verdict on purpose (a claim false as printed). Outside assumptions: drawn examples that violated a stated "
    "assumption and were set aside. Errors are relative to the quantity's magnitude; for bounds (`le`/`ge`) the "
    "violation (0: never violated). Reading: how a literature claim is read (its quoted sentence is in the details); "
    "a claim is refuted only on a reading its source makes. (textbook): a sanity check of mathematics the project "
    "does not implement (it exercises no project code, or only its bookkeeping). Resolution: the relative resolution "
    "a \"holds\" was decided at (1e-3 unless the claim declares a coarser one with its reason), and for sampled "
    "claims the confidence level of the anytime-valid confidence sequence it rests on.")


def write_verdicts(records, prefix: str | Path, *, include_timing: bool = False) -> None:
    """``prefix.md`` (table plus details) and ``prefix.json`` (one record per claim, plus environment).

    Timings vary run to run, so they go to the terminal summary, not the files, unless asked for; the
    files are then identical for the same seed and profile on the same machine.
    """
    recs = sorted(records, key=lambda r: r.name)
    data = []
    for r in recs:
        d = r.to_json()
        if not include_timing:
            d.pop("seconds", None)
        data.append(d)
    counts: dict[str, int] = {}
    for r in recs:
        key = r.status + (" (expected)" if r.as_expected and r.expect != "holds" else "")
        counts[key] = counts.get(key, 0) + 1
    payload = {"environment": environment(), "summary": counts, "claims": data}
    atomic_write(f"{prefix}.json", json.dumps(payload, indent=2, sort_keys=True) + "\n")
    md = ["# Verification of the claims", "",
          "Generated by `nox -s verify` (`hessverify verify tests/conjectures`); do not edit by hand.", "",
          STATUS_HELP, "",
          "Summary: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())), "",
          grouped_tables(recs), "", "## Details", ""]
    for r in sorted(recs, key=lambda r: ([g for g, _ in SOURCE_GROUPS].index(source_group(r.source)), r.name)):
        md.append(f"### `{r.name}` — {r.status}" + (" (expected)" if r.as_expected and r.expect != "holds" else ""))
        md.append(f"- source: {r.source}")
        if getattr(r, "quote", ""):
            md.append(f"- the source's words: \"{r.quote}\"")
        if getattr(r, "reading", ""):
            md.append(f"- read as: {r.reading}")
        if getattr(r, "theory", None):
            md.append(f"- theory: {', '.join(f'`{t}`' for t in r.theory)}")
        if getattr(r, "textbook", False):
            md.append("- textbook: a sanity check of mathematics the project does not implement")
        if r.assumptions:
            md.append(f"- assumptions: {r.assumptions}")
        if r.checked_assumptions:
            outside = ", ".join(f"{k}: {v}" for k, v in sorted(r.outside_by.items())) or "none"
            md.append(f"- checked on every example: {', '.join(r.checked_assumptions)}; set aside: {r.outside} "
                      f"({outside})")
        md.append(f"- quantity: `{r.quantity}` of `{r.operator}`, relation `{r.relation}`, expected `{r.expect}`")
        md.append(f"- examples: {r.examples} judged (plus {r.shrink_steps} while shrinking), {r.inconclusive_examples} "
                  f"inconclusive; worst relative error where it held {r.worst_passing_error:.2e}"
                  + (f", tolerances scaled to eps = {r.eps:.1e}" if r.eps else ""))
        if r.counterexample:
            md.append(f"- minimal counterexample: `{r.counterexample}` (relative error {_number(r.counterexample_error)}, "
                      f"tolerance {_number(r.counterexample_tolerance)})")
        if r.inconclusive_example:
            md.append(f"- widest unresolved example: `{r.inconclusive_example}` (the certificate would have to shrink "
                      f"{r.shrink_needed:.3g}x)")
        if getattr(r, "prediction_rounding", None):
            md.append(f"- the prediction's own rounding: {r.prediction_rounding}")
        if r.failure:
            md.append(f"- what happened: {r.failure}")
        if r.reproduce:
            md.append(f"- reproduce: `{r.reproduce}`")
        md.append("")
    atomic_write(f"{prefix}.md", "\n".join(md))


README_START, README_END = "<!-- claims:start -->", "<!-- claims:end -->"


def update_readme(path: str | Path, block: str) -> None:
    """Replace the text between the claims markers of ``path`` with ``block``."""
    text = Path(path).read_text()
    if README_START not in text or README_END not in text:
        raise ValueError(f"{path} has no {README_START} ... {README_END} block to update")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    atomic_write(path, f"{head}{README_START}\n{block}\n{README_END}{tail}")
