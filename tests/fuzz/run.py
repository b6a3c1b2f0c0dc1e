"""The thorough fuzz session (``nox -s fuzz``): hypothesis-generated calls over every target, counted.

``python -m tests.fuzz.run --calls 5000 [--owner reliability] [--seed 0] [--limit 10] [--json FILE]`` prints, per
owner and in total, the calls and how each ended (correct, clear errors, silent, refused, unclear, deep
tracebacks, hangs), then one line per distinct failure. Exit status 1 if a target of ``--strict`` owners (default:
this branch's modules) has a failure.
"""
from __future__ import annotations

import argparse
import collections
import json
import math
import sys
import time

from hypothesis import HealthCheck, given, seed, settings, strategies as st

from tests.fuzz.harness import BAD, OUTCOMES, NotApplicable, make_mutation, mutations, run_call
from tests.fuzz.targets import MINE, TARGETS


def fuzz_target(target, examples: int, limit: float, rng_seed: int, calls: list) -> None:
    @seed(rng_seed)
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(pick=mutations(target), data=st.data())
    def fuzz(pick, data):
        try:
            mutation = make_mutation(target, *pick, draw=data.draw)
        except NotApplicable:
            return
        calls.append(run_call(target, mutation, seconds=limit))

    fuzz()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=5000, help="generated calls in all (spread over the targets)")
    p.add_argument("--owner", action="append", help="only targets of this owner (repeatable)")
    p.add_argument("--target", action="append", help="only targets whose name contains this")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=float, default=10.0, help="time limit of one call, seconds")
    p.add_argument("--strict", action="append", default=None, help="owners whose failures fail the run")
    p.add_argument("--json", default=None, help="also write every failure and the counts here")
    args = p.parse_args(argv)
    targets = [t for t in TARGETS if (not args.owner or t.owner in args.owner)
               and (not args.target or any(s in t.name for s in args.target))]
    per = math.ceil(args.calls / max(1, len(targets)))
    calls, start = [], time.perf_counter()
    for t in targets:
        before = len(calls)
        fuzz_target(t, per, args.limit, args.seed, calls)
        while len(calls) - before < per:  # a target whose families could not all be built: draw again
            fuzz_target(t, per - (len(calls) - before), args.limit, args.seed + len(calls), calls)
        print(f"  {t.name:40s} {len(calls) - before:5d} calls", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - start
    by_owner = collections.defaultdict(collections.Counter)
    owner_of = {t.name: t.owner for t in TARGETS}
    for c in calls:
        by_owner[owner_of[c.target]][c.outcome] += 1
        by_owner["all"][c.outcome] += 1
    header = f"{'owner':12s} {'calls':>6s} " + " ".join(f"{o:>8s}" for o in OUTCOMES)
    print(f"fuzz: {len(calls)} generated calls over {len(targets)} targets in {seconds:.0f} s (seed {args.seed}, "
          f"limit {args.limit} s per call)")
    print(header)
    for owner in sorted(by_owner, key=lambda o: (o == "all", o)):
        counts = by_owner[owner]
        print(f"{owner:12s} {sum(counts.values()):6d} " + " ".join(f"{counts[o]:8d}" for o in OUTCOMES))
    failures = {}
    for c in calls:
        if c.outcome in BAD:
            failures.setdefault((c.target, c.mutation.arg, c.mutation.family, c.outcome), c)
    if failures:
        print(f"\n{len(failures)} distinct failures (target, argument, family):")
        for c in sorted(failures.values(), key=lambda c: (owner_of[c.target], c.target, c.mutation.arg)):
            print(f"[{owner_of[c.target]}] {c.line()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"calls": len(calls), "seconds": round(seconds, 1), "seed": args.seed,
                       "counts": {o: dict(c) for o, c in by_owner.items()},
                       "failures": [{"owner": owner_of[c.target], "line": c.line()} for c in failures.values()]},
                      f, indent=1, sort_keys=True)
    strict = set(args.strict or [MINE])
    return int(any(owner_of[c.target] in strict for c in failures.values()))


if __name__ == "__main__":
    sys.exit(main())
