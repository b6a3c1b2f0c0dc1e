"""Every public function and class has a numpydoc ``Parameters`` section naming each parameter of its signature,
and every public function a ``Returns`` (or ``Yields``) section unless it returns None.

The public API: ``__all__`` of each subpackage (``hessverify.operators``, ``estimators``, ``claims``,
``claims.strategies``, ``data``, ``exact``), and the names defined without a leading underscore in the modules
without ``__all__`` (``hessverify.models``, ``hessverify.training``, ``theory.*``). A dataclass may list its
fields under ``Attributes`` instead (they are both its constructor's parameters and its attributes).
Parsed with ``numpydoc.docscrape``; imports only, runs in about a second.
"""
from __future__ import annotations

import importlib
import inspect

import pytest

docscrape = pytest.importorskip("numpydoc.docscrape")

WITH_ALL = ("hessverify.operators", "hessverify.estimators", "hessverify.claims", "hessverify.claims.strategies",
            "hessverify.data", "hessverify.exact")
DEFINED = ("hessverify.models", "hessverify.training", "theory.hessian_rank", "theory.hierarchy",
           "theory.initialisation", "theory.linear", "theory.raw_inputs", "theory.symbolic")


def public_objects() -> list[tuple[str, object]]:
    """``(qualified name, object)`` for every public function and class of the API above."""
    found = {}
    for name in WITH_ALL + DEFINED:
        mod = importlib.import_module(name)
        names = mod.__all__ if name in WITH_ALL else [
            n for n, o in vars(mod).items() if not n.startswith("_") and getattr(o, "__module__", None) == name]
        for n in names:
            obj = getattr(mod, n)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                found.setdefault(f"{obj.__module__}.{obj.__qualname__}", obj)
    return sorted(found.items())


def signature_parameters(obj) -> list[str]:
    """The named parameters of ``obj``'s signature (a class: its constructor's), without self and ``*args``."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return []
    return [p.name for p in sig.parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and not p.name.startswith("_")]


def documented(doc, *sections: str) -> set[str]:
    """The names listed in ``sections`` (``"a, b : int"`` lists ``a`` and ``b``)."""
    return {part.strip().lstrip("*") for s in sections for entry in doc[s] for part in entry.name.split(",")}


def problems(obj) -> list[str]:
    """What ``obj``'s docstring lacks: parameters not listed, a missing Returns section."""
    is_class = inspect.isclass(obj)
    doc = docscrape.ClassDoc(obj) if is_class else docscrape.FunctionDoc(obj)
    sections = ("Parameters", "Attributes") if is_class and hasattr(obj, "__dataclass_fields__") else ("Parameters",)
    have = documented(doc, *sections)
    out = [f"parameter {p!r} not in {'/'.join(sections)}" for p in signature_parameters(obj) if p not in have]
    if not is_class:
        returns = inspect.signature(obj).return_annotation
        if returns not in (None, "None") and not doc["Returns"] and not doc["Yields"]:
            out.append("no Returns section")
    return out


OBJECTS = public_objects()


def test_the_walk_finds_the_api():
    names = {n for n, _ in OBJECTS}
    assert len(OBJECTS) > 100
    for expected in ("hessverify.operators.hessian.hessian", "hessverify.estimators.lanczos.lanczos",
                     "theory.linear.balanced_spectrum", "hessverify.models.linear_network"):
        assert expected in names


@pytest.mark.parametrize("name, obj", OBJECTS, ids=[n for n, _ in OBJECTS])
def test_numpydoc_sections(name, obj):
    assert not problems(obj), f"{name}: " + "; ".join(problems(obj))
