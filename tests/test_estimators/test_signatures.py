"""One signature rule for every public function of ``hessverify.estimators``: ``(op, size, *, options)``, the
size being ``k`` (or ``num_matvecs`` / ``num_iter`` / ``num_steps``) and every option keyword-only, with scipy
``eigsh``'s names (``k``, ``which``, ``tol``, ``max_iter``, ``v0``, ``seed``, ``return_eigenvectors``) plus
``callback`` and ``progress`` everywhere; every parameter typed and documented in a numpydoc ``Parameters``
section."""
import inspect
import re

import pytest
import torch

import hessverify.estimators as estimators
from hessverify.estimators import (block_lanczos, exact, hutchinson, hutchpp, lanczos, lobpcg,
                                   power_iteration, subspace_iteration)

SHARED = ("which", "tol", "max_iter", "v0", "seed", "return_eigenvectors", "callback", "progress")
EIGEN = (lanczos, block_lanczos, lobpcg, power_iteration, subspace_iteration)
PUBLIC = tuple(getattr(estimators, name) for name in estimators.__all__
               if inspect.isfunction(getattr(estimators, name)))
#: the one positional argument after ``op``, by kind of estimator
SIZES = ("k", "num_matvecs", "num_iter", "num_steps")
#: names another library uses for an option this package spells its own way (scipy's or its own)
ALIASES = {"eigenvectors": "return_eigenvectors", "maxiter": "max_iter", "max_iters": "max_iter",
           "niter": "max_iter", "n_iter": "max_iter", "num_iters": "num_iter", "random_state": "seed",
           "rng": "generator", "verbose": "progress", "x0": "v0", "start": "v0", "tolerance": "tol",
           "return_vectors": "return_eigenvectors"}


def test_every_public_function_is_covered():
    assert {f.__name__ for f in PUBLIC} == {"exact", "lanczos", "block_lanczos", "lanczos_ritz", "lobpcg",
                                             "power_iteration", "subspace_iteration", "hutchinson", "hutchpp",
                                             "spectral_density", "lanczos_tridiagonal"}


@pytest.mark.parametrize("fn", PUBLIC, ids=lambda f: f.__name__)
def test_one_signature_rule(fn):
    params = list(inspect.signature(fn).parameters.values())
    assert params[0].name == "op" and params[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    rest = params[1:]
    if rest and rest[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
        assert rest[0].name in SIZES, f"{fn.__name__}: the second argument must be one of {SIZES}"
        rest = rest[1:]
    for p in rest:
        assert p.kind is inspect.Parameter.KEYWORD_ONLY, f"{fn.__name__}: {p.name} must be keyword-only"
        assert p.default is not inspect.Parameter.empty, f"{fn.__name__}: {p.name} needs a default"
    names = {p.name for p in params}
    assert {"callback", "progress"} <= names, f"{fn.__name__} lacks callback/progress"
    assert fn is exact or "seed" in names, f"{fn.__name__} is random and takes no seed"
    for alias, ours in ALIASES.items():
        assert alias not in names, f"{fn.__name__}: call {alias!r} {ours!r}"
    for p in params[1:]:
        assert p.annotation is not inspect.Parameter.empty, f"{fn.__name__}: {p.name} has no type hint"


@pytest.mark.parametrize("fn", PUBLIC, ids=lambda f: f.__name__)
def test_every_parameter_is_documented(fn):
    doc = inspect.getdoc(fn)
    assert "\nParameters\n----------\n" in doc and "\nReturns\n-------\n" in doc, fn.__name__
    section = doc.split("Parameters\n----------\n")[1].split("Returns\n-------\n")[0]
    documented = {name for line in section.splitlines() if line and not line.startswith(" ")
                  for name in re.split(r",\s*", line.strip())}
    missing = set(inspect.signature(fn).parameters) - documented
    assert not missing, f"{fn.__name__}: undocumented {sorted(missing)}"


@pytest.mark.parametrize("fn", EIGEN, ids=lambda f: f.__name__)
def test_eigen_estimators_take_every_shared_option(fn):
    params = inspect.signature(fn).parameters
    names = list(params)
    assert names[:2] == ["op", "k"]
    for name in SHARED:
        assert name in params, f"{fn.__name__} lacks {name}"
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, f"{fn.__name__}: {name} must be keyword-only"
        assert params[name].default is not inspect.Parameter.empty


@pytest.mark.parametrize("fn", EIGEN, ids=lambda f: f.__name__)
def test_shared_arguments_behave_alike(fn):
    lam = torch.linspace(1, 40, 40, dtype=torch.float64)
    Q, _ = torch.linalg.qr(torch.randn(40, 40, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    A = (Q * lam) @ Q.T
    A = (A + A.T) / 2
    seen = []
    which = "LM" if fn in (power_iteration, subspace_iteration) else "LA"
    r = fn(A, 2, which=which, tol=1e-9, seed=0, callback=seen.append, return_eigenvectors=True,
           v0=torch.ones(40, dtype=torch.float64))
    assert torch.allclose(r.eigenvalues, lam.flip(0)[:2], atol=1e-7) and r.eigenvectors.shape == (40, 2)
    assert seen and all("step" in s and "num_matvecs" in s for s in seen)
    assert bool((r.residuals <= 1e-9 * 40).all()) == bool(r.converged.all())  # converged means residual <= tol ||A||
    with pytest.raises(TypeError, match="tol must be a real number"):
        fn(A, 2, which=which, tol="tight")
    with pytest.raises(ValueError, match="v0 has shape"):
        fn(A, 2, which=which, v0=torch.ones(3, dtype=torch.float64))


def test_trace_estimators_share_num_matvecs_and_rtol():
    for fn in (hutchinson, hutchpp):
        p = inspect.signature(fn).parameters
        assert list(p)[:2] == ["op", "num_matvecs"] and "rtol" in p


def test_hutchpp_rtol_stops_early_and_reports():
    """Hutch++ with ``rtol`` stops its remainder probes once the relative standard error is met (a spectrum with
    a flat tail keeps a remainder to estimate); without it, the whole budget as before."""
    lam = torch.linspace(1, 2, 300, dtype=torch.float64)
    Q, _ = torch.linalg.qr(torch.randn(300, 300, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    A = (Q * lam) @ Q.T
    seen = []
    r = hutchpp((A + A.T) / 2, 3000, seed=0, rtol=1e-3, callback=seen.append)
    assert r.relative_stderr <= 1e-3 and r.num_matvecs < 3000 and r.num_samples >= 10
    assert seen and all("step" in s and "num_matvecs" in s for s in seen)
    full = hutchpp((A + A.T) / 2, 300, seed=0)
    assert full.num_matvecs == 300


def test_exact_reports_progress_per_block_of_columns():
    seen = []

    class Duck:
        shape = (600, 600)

        def matvec(self, v):
            return 2 * v

    r = exact(Duck(), callback=seen.append)
    assert [s["step"] for s in seen] == [256, 512, 600] and r.num_matvecs == 600
    assert bool(r.converged.all()) and r.tol == 1e-10


def test_progress_is_silent_by_default_and_shown_when_asked(capsys):
    A = torch.diag(torch.linspace(1, 30, 30, dtype=torch.float64))
    lanczos(A, k=2, seed=0)
    assert capsys.readouterr().err == ""
    lanczos(A, k=2, seed=0, progress=True)
    assert "lanczos" in capsys.readouterr().err
