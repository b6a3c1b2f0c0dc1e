"""``@conjecture``: a claim about a curvature quantity as a hypothesis property test.

```python
from hessverify import conjecture, strategies as st
from hessverify.claims.assumptions import balanced_weights, whitened_inputs

@conjecture(setting=st.balanced_linear_networks(), quantity="lambda_max", operator="ggn",
            assumptions=[whitened_inputs(), balanced_weights()], source="my notes, eq. 2")
def top_eigenvalue(s):
    return s.depth * s.sigma_x**2 * s.singular_values[0] ** (2 * (s.depth - 1))
```

The decorated function becomes a test (pytest collects it through hessverify's plugin, whatever its name):
hypothesis draws settings; those outside the claim's assumptions are set aside and counted; on the rest
hessverify measures the quantity with a certified estimator and judges the prediction
(:mod:`hessverify.claims.verdict`). The claim's status is the worst over its examples: ``error`` (a NaN, an
exception), then ``refuted`` (shrunk to a minimal, pasteable ``build_setting(...)``), then ``inconclusive``
(an example the certificate could not resolve), else ``holds``. ``expect="refuted"`` (or ``"inconclusive"``)
keeps a claim known to come out that way: its test passes while it does and fails otherwise.

A literature claim carries the sentence it encodes (``quote=``) and how it is read (``reading=``: one of
``READINGS``, e.g. ``"trend"`` for "grows linearly"); it is refuted only on a reading its source makes. The
prediction's own rounding is estimated on every example (:mod:`hessverify.claims.rounding`) unless the claim
declares ``prediction_error=``. ``resolution=`` declares a coarser relative resolution than ``1e-3`` (with a
reason in ``assumptions``); the table shows it. ``textbook=True`` marks a sanity check that runs no project code.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
from hypothesis import assume, given
from hypothesis import example as hypothesis_example

from hessverify.claims.assumptions import split_assumptions
from hessverify.claims.profiles import conjecture_settings
from hessverify.claims.quantities import OPERATORS, QUANTITIES, measure
from hessverify.claims.rounding import prediction_rounding
from hessverify.claims.verdict import RELATIONS, compare

EXPECT = ("holds", "refuted", "inconclusive")
#: how a literature claim is read: "exact" (for every admissible input), "trend" (over a stated range),
#: "asymptotic", "upper bound"/"lower bound", "estimate" (within a stated tolerance), "statistical" (a mean or
#: rate, with a confidence sequence), "identity" (an algebraic equality)
READINGS = ("exact", "trend", "asymptotic", "upper bound", "lower bound", "estimate", "statistical", "identity")


class ConjectureFailed(AssertionError):
    """A prediction disagreed with the measurement beyond the certified tolerance."""


class ConjectureError(AssertionError):
    """The check could not be made: a NaN/Inf prediction, measurement or certificate."""


class ConjectureInconclusive(AssertionError):
    """Some example could not be resolved by its certificate (and the claim does not expect that)."""


class UnexpectedVerdict(AssertionError):
    """A claim marked ``expect=...`` came out otherwise."""


@dataclass
class ClaimRecord:
    """The verdict of one claim, as written to ``reports/verification.{md,json}``.

    :func:`conjecture` makes one per claim (in ``REGISTRY``) and fills it as the claim runs.

    Attributes
    ----------
    name : str
        The claim's name (the decorated function's, unless ``name=`` was given).
    source : str
        Where the claim comes from (paper, equation).
    assumptions : str
        The assumptions in words (the checked ones' descriptions and the prose ones), else the docstring.
    quantity : str
        The measured quantity (a callable's ``__name__``).
    operator : str
        ``"ggn"``, ``"hessian"``, ``"ntk"`` or ``"matrix"``.
    relation : str
        ``"eq"``, ``"le"`` or ``"ge"``.
    expect : str
        The status the claim is expected to come out with.
    checked_assumptions : list of str
        Names of the assumptions that run on every example.
    status : str
        ``"not run"``, ``"holds"``, ``"refuted"``, ``"inconclusive"`` or ``"error"``.
    as_expected : bool or None
        Whether the status is the expected one (None before a run).
    examples : int
        Examples judged (inside the assumptions) while searching; shrinking is counted apart.
    outside : int
        Examples drawn outside the assumptions and set aside.
    outside_by : dict
        The same, by assumption name.
    inconclusive_examples : int
        Examples the certificate could not resolve.
    shrink_steps : int
        Examples judged while hypothesis shrank a counterexample.
    worst_passing_error : float
        The largest relative error over examples that held.
    counterexample : str or None
        The failing setting as a pasteable ``build_setting(...)`` call.
    counterexample_error, counterexample_tolerance : float or None
        That counterexample's relative error and relative tolerance.
    failure : str or None
        The verdict message (or the exception) of the failing or least resolved example.
    inconclusive_example : str or None
        For inconclusive claims: the example with the widest certificate.
    shrink_needed : float or None
        How much that certificate must shrink to decide.
    reproduce : str or None
        The shell command that reruns the claim's test (set by hessverify's pytest plugin).
    profile : str or None
        The hypothesis profile of the last run (``HYPOTHESIS_PROFILE``, default ``"ci"``).
    seconds : float
        Wall time of the last run.
    nodeid : str or None
        The pytest node id of the claim's test.
    eps : float or None
        Machine epsilon of the settings' dtypes; the comparison tolerance scales with it.
    quote : str
        The sentence of the source the claim encodes.
    reading : str
        How that sentence is read (one of ``READINGS``).
    resolution : float or None
        The relative resolution a "holds" is decided at (``1e-3`` unless the claim declares a coarser one).
    textbook : bool
        A sanity check that exercises no project code.
    level : float or None
        The confidence level of sampled measurements, if any were judged.
    prediction_rounding : str or None
        How the prediction's own rounding was bounded (high precision, or float64 only).
    theory : list of str
        The closed forms of ``theory/`` the prediction calls (e.g. ``theory.linear.balanced_spectrum``).
    """

    name: str
    source: str
    assumptions: str
    quantity: str
    operator: str
    relation: str
    expect: str
    #: names of the assumptions that run on every example
    checked_assumptions: list[str] = field(default_factory=list)
    status: str = "not run"
    #: whether the status is the expected one
    as_expected: bool | None = None
    #: examples judged (inside the assumptions), while searching; shrinking is counted apart
    examples: int = 0
    #: examples drawn outside the assumptions and set aside, by assumption name
    outside: int = 0
    outside_by: dict = field(default_factory=dict)
    inconclusive_examples: int = 0
    shrink_steps: int = 0
    #: largest relative error over examples that held
    worst_passing_error: float = 0.0
    counterexample: str | None = None
    #: the shown counterexample's own relative error and relative tolerance
    counterexample_error: float | None = None
    counterexample_tolerance: float | None = None
    failure: str | None = None
    #: for inconclusive claims: the example with the widest certificate, and how much it must shrink
    inconclusive_example: str | None = None
    shrink_needed: float | None = None
    reproduce: str | None = None
    profile: str | None = None
    seconds: float = 0.0
    nodeid: str | None = None
    #: machine epsilon of the settings' dtypes; the comparison tolerance scales with it (float32: 1.2e-07)
    eps: float | None = None
    #: the sentence of the source the claim encodes, and how it is read (``READINGS``)
    quote: str = ""
    reading: str = ""
    #: the relative resolution a "holds" is decided at (``1e-3`` unless the claim declares a coarser one)
    resolution: float | None = None
    #: a sanity check that exercises no project code (shown as such in the table)
    textbook: bool = False
    #: judged on sampled measurements (confidence sequences) at this level
    level: float | None = None
    #: how the prediction's own rounding was bounded (high precision, or float64 only), on the examples judged
    prediction_rounding: str | None = None
    #: the closed forms of ``theory/`` the prediction calls (``theory.linear.balanced_spectrum``), for the table
    theory: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    def reset(self) -> None:
        fresh = ClaimRecord(self.name, self.source, self.assumptions, self.quantity, self.operator, self.relation,
                            self.expect, list(self.checked_assumptions))
        fresh.nodeid, fresh.reproduce = self.nodeid, self.reproduce
        fresh.quote, fresh.reading, fresh.textbook = self.quote, self.reading, self.textbook
        fresh.theory = list(self.theory)
        self.__dict__.update(fresh.__dict__)


#: every claim defined in this process, by name
REGISTRY: dict[str, ClaimRecord] = {}


def theory_functions(fn: Callable, depth: int = 2) -> list[str]:
    """The ``theory`` functions ``fn`` calls, found by name (``T.balanced_spectrum`` with ``T`` the module
    ``theory.linear``, or an imported function), following helpers of the same file ``depth`` levels down."""
    found: set[str] = set()
    code = getattr(fn, "__code__", None)
    if code is None:
        return []
    names = set(code.co_names)
    for nested in code.co_consts:  # names used inside comprehensions and lambdas
        if hasattr(nested, "co_names"):
            names |= set(nested.co_names)
    glb = getattr(fn, "__globals__", {})
    for name in names:
        obj = glb.get(name)
        if isinstance(obj, type(np)) and obj.__name__.startswith("theory"):
            found |= {f"{obj.__name__}.{attr}" for attr in names if callable(getattr(obj, attr, None))}
        elif callable(obj) and getattr(obj, "__module__", "").startswith("theory."):
            found.add(f"{obj.__module__}.{obj.__name__}")
        elif depth > 0 and callable(obj) and getattr(obj, "__module__", None) == fn.__module__ and obj is not fn:
            found |= set(theory_functions(obj, depth - 1))
    return sorted(found)


def _check_literature(quote, reading, resolution, prediction_error, textbook) -> None:
    if not isinstance(quote, str) or not isinstance(reading, str):
        raise TypeError("quote= and reading= must be strings (the source's sentence, and one of READINGS)")
    if reading and reading.split(" (")[0].split(":")[0].strip() not in READINGS:
        raise ValueError(f"reading={reading!r} must start with one of {READINGS} (details may follow in "
                         "parentheses or after a colon)")
    if resolution is not None and (isinstance(resolution, bool) or not isinstance(resolution, (int, float))
                                   or not 0 < float(resolution) < 1):
        raise ValueError(f"resolution={resolution!r} must be a relative resolution in (0, 1), e.g. 0.01")
    if not (prediction_error in (None, "auto") or callable(prediction_error)
            or (isinstance(prediction_error, (int, float)) and not isinstance(prediction_error, bool)
                and prediction_error >= 0)):
        raise ValueError("prediction_error must be 'auto', None, a relative bound >= 0 or a callable(setting)")
    if not isinstance(textbook, bool):
        raise TypeError(f"textbook must be True or False, got {textbook!r}")


def _check_options(quantity, operator, relation, expect, k) -> None:
    if not isinstance(quantity, str) and not callable(quantity):
        raise TypeError("quantity must be a name or a callable(setting) -> value or Measurement")
    if isinstance(quantity, str) and quantity not in QUANTITIES:
        raise ValueError(f"quantity={quantity!r} is not supported; use one of {QUANTITIES} or a callable")
    if operator not in OPERATORS:
        raise ValueError(f"operator={operator!r} is not supported; use one of {OPERATORS}")
    if relation not in RELATIONS:
        raise ValueError(f"relation={relation!r} is not supported; use one of {RELATIONS}")
    if expect not in EXPECT:
        raise ValueError(f"expect={expect!r} is not supported; use one of {EXPECT}")
    if quantity == "top_k" and (k is None or k < 1):
        raise ValueError("quantity='top_k' needs k >= 1")


def conjecture(
    setting,
    quantity: str | Callable = "spectrum",
    operator: str = "ggn",
    *,
    k: int | None = None,
    relation: str = "eq",
    expect: str = "holds",
    source: str = "",
    assumptions=None,
    examples: int | None = None,
    name: str | None = None,
    sort: bool | None = None,
    quote: str = "",
    reading: str = "",
    resolution: float | None = None,
    prediction_error="auto",
    textbook: bool = False,
    also=(),
):
    """Turn ``fn(setting) -> prediction`` into a property test of ``quantity`` of ``operator``.

    Parameters
    ----------
    setting : hypothesis strategy
        Draws the settings (:class:`~hessverify.claims.Setting`), e.g. ``strategies.balanced_linear_networks()``.
    quantity : str or callable
        What is measured, as for :func:`~hessverify.claims.measure` (default the whole spectrum).
    operator : {"ggn", "hessian", "ntk", "matrix"}
        Of which operator.
    k : int, optional
        The number of eigenvalues for ``quantity="top_k"`` (required there).
    relation : {"eq", "le", "ge"}
        Prediction equals measurement, measurement <= prediction (an upper bound), or measurement >= prediction.
    expect : {"holds", "refuted", "inconclusive"}
        The status the claim is known to come out with; the test passes while it does and fails otherwise.
    source : str
        Where the claim comes from (paper, equation).
    assumptions : list, optional
        :class:`~hessverify.claims.assumptions.Assumption` predicates that run on every example (violators are
        set aside and counted) and/or strings recorded as prose conditions.
    examples : int, optional
        Overrides the hypothesis profile's ``max_examples``.
    name : str, optional
        The claim's name in ``REGISTRY`` and the report; default the function's name.
    sort : bool, optional
        Sort a 1-D prediction descending before comparing; default True for ``"spectrum"`` and ``"top_k"``.
    quote : str
        The sentence of the source the claim encodes.
    reading : str
        How it is read: starts with one of ``READINGS`` (details may follow in parentheses or after a colon).
    resolution : float, optional
        A coarser relative resolution than ``1e-3``, in (0, 1) (give the reason in ``assumptions``); refused for
        ranks.
    prediction_error : "auto", None, float or callable
        The prediction's own rounding: ``"auto"`` estimates it on every example
        (:mod:`hessverify.claims.rounding`), None adds none, a number ``>= 0`` is a bound relative to
        ``|prediction|``, a callable ``(setting) -> absolute bound``. Never added for counts.
    textbook : bool
        Mark a sanity check that runs no project code.
    also : sequence of Setting
        Settings checked on every run before the drawn ones (a known counterexample stays part of the record;
        hypothesis ``@example``).

    Returns
    -------
    callable
        The decorator: ``fn`` becomes a test function (named after the claim, with ``.prediction`` the original
        ``fn`` and ``.record`` its :class:`ClaimRecord`) that raises ``ConjectureFailed``,
        ``ConjectureInconclusive`` or ``UnexpectedVerdict`` when the status is not ``expect`` (and lets the
        exception of an example that could not be checked through).
    """
    _check_options(quantity, operator, relation, expect, k)
    _check_literature(quote, reading, resolution, prediction_error, textbook)
    if resolution is not None and quantity == "rank":
        raise ValueError("resolution= is a relative resolution of a real-valued quantity; a rank is a count, decided "
                         "only when its interval is one point (exactly on an exact=True setting): drop resolution=")
    checks, prose = split_assumptions(assumptions)
    do_sort = (quantity in ("spectrum", "top_k")) if sort is None else sort

    def decorate(fn: Callable):
        claim_name = name or fn.__name__
        described = "; ".join([a.description for a in checks] + list(prose)) or (fn.__doc__ or "").strip()
        record = ClaimRecord(claim_name, source, described,
                             quantity if isinstance(quantity, str) else getattr(quantity, "__name__", "callable"),
                             operator, relation, expect, [a.name for a in checks])
        record.quote, record.reading, record.textbook = quote, reading, textbook
        record.theory = theory_functions(fn)
        REGISTRY[claim_name] = record
        state = {"failed": False}

        def check(s):
            violated = [a.name for a in checks if not a(s)]
            if violated:
                if not state["failed"]:
                    record.outside += 1
                    for v in violated:
                        record.outside_by[v] = record.outside_by.get(v, 0) + 1
                assume(False)
            prediction = fn(s)
            measurement = measure(s, quantity, operator, k, prediction=prediction, rel_resolution=resolution)
            verdict = compare(prediction, measurement, relation, sort=do_sort,
                              prediction_error=_rounding_of(fn, s, prediction, measurement),
                              rel_resolution=resolution)
            if state["failed"]:
                record.shrink_steps += 1
            else:
                record.examples += 1
            record.eps = max(record.eps or 0.0, measurement.eps)
            if measurement.sampled:
                record.level = measurement.level
            if verdict.status != "error" and not measurement.count:
                record.resolution = max(record.resolution or 0.0, verdict.rel_resolution)
            if verdict.status in ("refuted", "error"):
                state["failed"] = True
                record.counterexample = s.reproduce()
                record.failure = verdict.message
                record.counterexample_error = verdict.max_rel_error
                record.counterexample_tolerance = verdict.rel_tolerance
                exc = ConjectureFailed if verdict.status == "refuted" else ConjectureError
                raise exc(f"{claim_name}: {verdict.message}\n  setting: {s.reproduce()}")
            if verdict.status == "inconclusive" and not state["failed"]:
                record.inconclusive_examples += 1
                if verdict.shrink_needed is not None and verdict.shrink_needed > (record.shrink_needed or 0.0):
                    record.shrink_needed = verdict.shrink_needed
                    record.inconclusive_example = s.reproduce()
                    record.failure = verdict.message
            elif verdict.status == "holds":
                record.worst_passing_error = max(record.worst_passing_error, verdict.max_rel_error)

        def _rounding_of(fn_, s, prediction, measurement):
            if measurement.count or prediction_error is None:
                return None
            if prediction_error == "auto":
                try:
                    bound, how = prediction_rounding(fn_, s, prediction, sort=do_sort)
                except (TypeError, ValueError):
                    return None
                record.prediction_rounding = how if "float64 only" in how or not record.prediction_rounding \
                    else record.prediction_rounding
                return bound
            if callable(prediction_error):
                return prediction_error(s)
            return float(prediction_error) * abs(np.asarray(prediction, dtype=float))

        check.__name__ = claim_name

        def outcome() -> str:
            test = given(setting)(check)
            for known in reversed(tuple(also)):
                test = hypothesis_example(known)(test)
            property_test = conjecture_settings(examples)(test)
            try:
                property_test()
            except ConjectureFailed:
                return "refuted"
            except Exception as e:  # noqa: BLE001 - anything else is a check that could not be made
                record.failure = record.failure or f"{type(e).__name__}: {e}"
                record.status = "error"
                raise
            return "inconclusive" if record.inconclusive_examples else "holds"

        def run_claim():
            record.reset()
            record.profile = os.environ.get("HYPOTHESIS_PROFILE", "ci")
            state["failed"] = False
            start = time.perf_counter()
            try:
                status = outcome()
            finally:
                record.seconds = time.perf_counter() - start
            record.status = status
            record.as_expected = status == expect
            if status == expect:
                return
            if expect != "holds":
                raise UnexpectedVerdict(
                    f"{claim_name} is marked expect={expect!r} but came out {status} on {record.examples} examples "
                    f"({record.failure or 'no counterexample'}); if that is now believed, change expect")
            if status == "refuted":
                raise ConjectureFailed(f"{claim_name}: {record.failure}\n  setting: {record.counterexample}")
            raise ConjectureInconclusive(
                f"{claim_name}: {record.inconclusive_examples} of {record.examples} examples could not be resolved; "
                f"{record.failure}\n  setting: {record.inconclusive_example}")

        run_claim.__name__ = claim_name
        run_claim.__qualname__ = claim_name
        run_claim.__doc__ = fn.__doc__
        run_claim.__module__ = fn.__module__
        run_claim.prediction = fn
        run_claim.record = record
        run_claim._hessverify_claim = record
        return run_claim

    return decorate
