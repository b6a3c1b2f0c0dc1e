"""Sessions: ``tests`` (the CI command), ``verify`` and ``reports`` (the default job), ``bench``.

Every session installs from ``constraints.txt``, so runs are reproducible and torch is the pinned CPU build.
"""
from __future__ import annotations

import os

import nox

nox.options.sessions = ["verify", "reports"]
nox.options.reuse_existing_virtualenvs = True
PYTHON = "3.11"
CONSTRAINTS = ("-c", "constraints.txt")


def _install(session: nox.Session, extras: str = "test") -> None:
    session.install(*CONSTRAINTS, "-e", f".[{extras}]")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite under the fast ``ci`` hypothesis profile."""
    _install(session)
    session.run("pytest", "-q", *session.posargs, env={"HYPOTHESIS_PROFILE": os.environ.get("HYPOTHESIS_PROFILE", "ci")})


@nox.session(python=PYTHON)
def verify(session: nox.Session) -> None:
    """Every claim under the thorough ``verify`` profile; writes reports/verification.{md,json} and README's table."""
    _install(session)
    session.run("hessverify", "verify", "tests/conjectures", "--report", "reports/verification", "--readme",
                "README.md", *session.posargs)


@nox.session(python=PYTHON)
def reports(session: nox.Session) -> None:
    """The ablation and reproduction reports (quick profile; ``nox -s reports -- --profile paper`` on a GPU)."""
    _install(session, "test,reports")
    session.run("hessverify", "reports", *(session.posargs or ["--profile", "quick"]))


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks on the reference problem (numbers go to reports/bench_estimators.json)."""
    _install(session)
    session.run("python", "-m", "benchmarks.bench_estimators", "--out", "reports/bench_estimators.json")
