"""The fast fuzz profile of the CI run: every target of the packages whose findings are applied, each with hypothesis-drawn
argument families, against the oracle of :mod:`tests.fuzz.harness` (a correct result or a ValueError/TypeError
naming the argument; never silent, never a deep traceback, never past the time limit).

The thorough profile, over every target of every package, is ``nox -s fuzz`` (``python -m tests.fuzz.run``).
"""
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from tests.fuzz.harness import GOOD, NotApplicable, make_mutation, mutations, run_call
from tests.fuzz.targets import MINE, TARGETS

#: examples per target in CI and the time limit of one call (seconds)
EXAMPLES = 30
LIMIT = 10.0
#: the owners whose findings are applied (tests/fuzz/FINDINGS.md): their targets run in CI
APPLIED = (MINE, "claims", "operators", "training", "reports", "estimators")
CI_TARGETS = [t for t in TARGETS if t.owner in APPLIED and t.xfail is None]


@pytest.mark.parametrize("target", CI_TARGETS, ids=[t.name for t in CI_TARGETS])
def test_public_function_meets_the_oracle(target):
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(pick=mutations(target), data=st.data())
    def fuzz(pick, data):
        try:
            mutation = make_mutation(target, *pick, draw=data.draw)
        except NotApplicable:
            assume(False)
        call = run_call(target, mutation, seconds=LIMIT)
        assert call.outcome in GOOD, call.line()

    fuzz()
