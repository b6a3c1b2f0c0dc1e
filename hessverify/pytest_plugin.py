"""pytest plugin (auto-loaded through the ``pytest11`` entry point).

- registers hessverify's hypothesis profiles (``HYPOTHESIS_PROFILE=ci|dev|verify``) without loading any: each
  ``@conjecture`` applies the active one to itself, other hypothesis tests keep their own settings,
- collects ``@conjecture`` functions whatever their name, and ignores torch.func's ``torch.jit.script``
  deprecation warning in those items only (never a session-wide filter),
- with ``--hessverify-report PREFIX`` writes ``PREFIX.md`` and ``PREFIX.json`` with every claim's verdict.
"""
from __future__ import annotations

import os
import shlex

import pytest

from hessverify.claims.profiles import register_profiles


def pytest_addoption(parser):
    parser.addoption("--hessverify-report", default=None, metavar="PREFIX",
                     help="write the claims' verdicts to PREFIX.md and PREFIX.json")


#: raised inside torch.func on every vmap that hessverify runs; not the user's concern. Ignored in hessverify's own
#: tests (the ``@conjecture`` items) only: other tests of the session keep their warning filters
_OWN_FILTER = "ignore:`torch.jit.script` is deprecated:DeprecationWarning"


def pytest_configure(config):
    register_profiles()


def pytest_pycollect_makeitem(collector, name, obj):
    if getattr(obj, "_hessverify_claim", None) is not None and isinstance(collector, pytest.Module):
        item = pytest.Function.from_parent(collector, name=name)
        item.add_marker(pytest.mark.filterwarnings(_OWN_FILTER))
        return [item]
    return None


def pytest_runtest_setup(item):
    record = getattr(getattr(item, "obj", None), "_hessverify_claim", None)
    if record is not None:
        record.nodeid = item.nodeid
        profile = os.environ.get("HYPOTHESIS_PROFILE", "ci")
        record.reproduce = f"HYPOTHESIS_PROFILE={shlex.quote(profile)} pytest {shlex.quote(item.nodeid)}"


def _records():
    from hessverify.claims import REGISTRY

    return [r for r in REGISTRY.values() if r.status != "not run"]


def pytest_sessionfinish(session, exitstatus):
    prefix = session.config.getoption("--hessverify-report")
    if prefix and _records():
        from hessverify.claims.report import write_verdicts

        write_verdicts(_records(), prefix)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    records = _records()
    if not records:
        return
    from hessverify.claims.report import verdict_table

    terminalreporter.section("hessverify: verdicts")
    terminalreporter.write_line(verdict_table(records))
    prefix = config.getoption("--hessverify-report")
    if prefix:
        terminalreporter.write_line(f"written: {prefix}.md, {prefix}.json")
