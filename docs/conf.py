"""Sphinx configuration of the API reference: ``nox -s docs`` (html with warnings as errors, then the doctests)."""
from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

project = "hessverify"
author = "hessverify developers"
release = version = "0.1.0"

extensions = ["sphinx.ext.autodoc", "sphinx.ext.doctest", "sphinx.ext.mathjax", "numpydoc"]
html_theme = "furo"
html_title = "hessverify API reference"
exclude_patterns = ["_build", "_generated"]
templates_path: list[str] = []

autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the numpydoc sections state the types; signatures stay readable
autodoc_default_options = {"members": True, "show-inheritance": False}
numpydoc_show_class_members = False  # autodoc lists the members; numpydoc's tables would list them twice
numpydoc_validation_checks: set[str] = set()  # tests/test_docstrings.py is the check

doctest_global_setup = """
import torch
torch.set_num_threads(1)
"""


def claims_table() -> str:
    """Every claim of ``tests/conjectures``: its source, the ``theory`` functions its prediction calls (linked to
    their reference), its test file and its status in ``reports/verification.json`` (the last ``nox -s verify``)."""
    from hessverify.claims import REGISTRY

    files = {}
    for path in sorted((ROOT / "tests" / "conjectures").glob("test_*.py")):
        before = set(REGISTRY)
        importlib.import_module(f"tests.conjectures.{path.stem}")
        files.update({name: f"tests/conjectures/{path.name}" for name in set(REGISTRY) - before})
    report = ROOT / "reports" / "verification.json"
    status = {c["name"]: c["status"] + (" (expected)" if c.get("as_expected") and c.get("expect") != "holds" else "")
              for c in (json.loads(report.read_text())["claims"] if report.exists() else [])}
    rows = [".. list-table::", "   :header-rows: 1", "   :widths: 30 20 25 15 10", "",
            "   * - claim", "     - source", "     - theory", "     - test", "     - status (last report)"]
    for name in sorted(REGISTRY, key=lambda n: (files.get(n, ""), n)):
        record = REGISTRY[name]
        theory = record.theory
        cells = [f"``{name}``", record.source.replace("|", "/") or "-",
                 ", ".join(f":func:`{t}`" for t in theory) or "-", f"``{files.get(name, '?')}``",
                 status.get(name, "not in the last report")]
        rows += [f"   * - {cells[0]}"] + [f"     - {c}" for c in cells[1:]]
    return "\n".join(rows) + "\n"


generated = Path(__file__).parent / "_generated"
generated.mkdir(exist_ok=True)
(generated / "claims_table.rst").write_text(claims_table())
