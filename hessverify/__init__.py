"""hessverify: check closed-form claims about loss-Hessian spectra with certified numerics.

``from hessverify import conjecture, strategies`` is the claims API (:mod:`hessverify.claims`). It is loaded
on first use, so ``import hessverify.operators`` (or estimators, models, data) does not import hypothesis.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"
__all__ = ["claims", "conjecture", "strategies", "__version__"]


def __getattr__(name: str):
    if name == "claims":
        return importlib.import_module("hessverify.claims")
    if name in ("conjecture", "strategies"):
        return getattr(importlib.import_module("hessverify.claims"), name)
    raise AttributeError(f"module 'hessverify' has no attribute {name!r}")
