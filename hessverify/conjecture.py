"""``@conjecture``: a claim about a curvature quantity as a hypothesis property test.

```python
from hessverify import conjecture, strategies as st

@conjecture(setting=st.balanced_linear_networks(), quantity="lambda_max", operator="ggn", source="my notes, eq. 2")
def top_eigenvalue(s):
    return s.depth * s.sigma_x**2 * s.singular_values[0] ** (2 * (s.depth - 1))
```

The decorated function becomes a test (pytest collects it through hessverify's plugin, whatever its name):
hypothesis draws settings, hessverify measures the quantity with a certified estimator and compares it
with the prediction (:mod:`hessverify.compare`). A false claim fails with the shrunk minimal setting as a
pasteable ``build_setting(...)`` call. ``expect="refuted"`` keeps a claim known to be false: its test
passes while a counterexample exists and fails if the claim starts to hold.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
from hypothesis import given, settings as hyp_settings

from hessverify.compare import OPERATORS, QUANTITIES, RELATIONS, compare, measure

EXPECT = ("holds", "refuted")


class ConjectureFailed(AssertionError):
    """A prediction disagreed with the measurement beyond the certified tolerance."""


class UnexpectedlyHeld(AssertionError):
    """A claim marked ``expect='refuted'`` found no counterexample."""


@dataclass
class ClaimRecord:
    """The verdict of one claim, as written to ``reports/verification.{md,json}``."""

    name: str
    source: str
    assumptions: str
    quantity: str
    operator: str
    relation: str
    expect: str
    status: str = "not run"
    examples: int = 0
    shrink_steps: int = 0
    max_rel_error: float = 0.0
    counterexample: str | None = None
    failure: str | None = None
    reproduce: str | None = None
    seconds: float = 0.0
    nodeid: str | None = None
    #: machine epsilon of the settings' dtypes; the comparison tolerance scales with it (float32: 1.2e-07)
    eps: float | None = None

    def to_json(self) -> dict:
        return asdict(self)


#: every claim defined in this process, by name
REGISTRY: dict[str, ClaimRecord] = {}


def conjecture(
    setting,
    quantity: str | Callable = "spectrum",
    operator: str = "ggn",
    *,
    k: int | None = None,
    relation: str = "eq",
    expect: str = "holds",
    source: str = "",
    assumptions: str = "",
    examples: int | None = None,
    name: str | None = None,
    sort: bool | None = None,
):
    """Turn ``fn(setting) -> prediction`` into a property test of ``quantity`` of ``operator``.

    ``relation``: ``"eq"`` (prediction equals measurement), ``"le"`` (measurement <= prediction, an upper
    bound) or ``"ge"``. ``sort`` sorts a 1-D prediction descending before comparing (default: for spectra).
    ``examples`` overrides the hypothesis profile's ``max_examples``.
    """
    if not isinstance(quantity, str) and not callable(quantity):
        raise TypeError("quantity must be a name or a callable(setting) -> value or Measurement")
    if isinstance(quantity, str) and quantity not in QUANTITIES:
        raise ValueError(f"quantity={quantity!r} is not supported; use one of {QUANTITIES} or a callable")
    if operator not in OPERATORS:
        raise ValueError(f"operator={operator!r} is not supported; use one of {OPERATORS}")
    if relation not in RELATIONS:
        raise ValueError(f"relation={relation!r} is not supported; use one of {RELATIONS}")
    if expect not in EXPECT:
        raise ValueError(f"expect={expect!r} is not supported; use 'holds' or 'refuted'")
    if quantity == "top_k" and (k is None or k < 1):
        raise ValueError("quantity='top_k' needs k >= 1")
    do_sort = (quantity in ("spectrum", "top_k")) if sort is None else sort

    def decorate(fn: Callable):
        claim_name = name or fn.__name__
        record = ClaimRecord(claim_name, source, assumptions or (fn.__doc__ or "").strip(),
                             quantity if isinstance(quantity, str) else getattr(quantity, "__name__", "callable"),
                             operator, relation, expect)
        REGISTRY[claim_name] = record
        state = {"failed": False}

        def check(s):
            prediction = fn(s)
            measurement = measure(s, quantity, operator, k)
            verdict = compare(prediction, measurement, relation, sort=do_sort)
            if state["failed"]:
                record.shrink_steps += 1
            else:
                record.examples += 1
            record.max_rel_error = max(record.max_rel_error, verdict.max_rel_error)
            record.eps = max(record.eps or 0.0, measurement.eps)
            if not verdict.ok:
                state["failed"] = True
                record.counterexample = s.reproduce()
                record.failure = verdict.message
                raise ConjectureFailed(f"{claim_name}: {verdict.message}\n  setting: {s.reproduce()}")

        check.__name__ = claim_name
        property_test = given(setting)(check)
        if examples is not None:
            property_test = hyp_settings(max_examples=examples)(property_test)

        def run_claim():
            record.examples = record.shrink_steps = 0
            record.max_rel_error, record.counterexample, record.failure, record.eps = 0.0, None, None, None
            state["failed"] = False
            start = time.perf_counter()
            try:
                property_test()
            except ConjectureFailed:
                if expect == "refuted":
                    record.status = "refuted (expected)"
                    return
                record.status = "refuted"
                raise
            except Exception:
                record.status = "error"
                raise
            finally:
                record.seconds = time.perf_counter() - start
            if expect == "refuted":
                record.status = "holds"
                raise UnexpectedlyHeld(
                    f"{claim_name} is marked expect='refuted' but held on {record.examples} examples; "
                    "if it is now believed true, change expect to 'holds'"
                )
            record.status = "holds"

        run_claim.__name__ = claim_name
        run_claim.__qualname__ = claim_name
        run_claim.__doc__ = fn.__doc__
        run_claim.__module__ = fn.__module__
        run_claim.prediction = fn
        run_claim.record = record
        run_claim._hessverify_claim = record
        return run_claim

    return decorate
