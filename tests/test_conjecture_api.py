"""The conjecture API end to end: a researcher's file in a temporary directory, checked by ``hessverify verify``
and by plain ``pytest``, with the right verdicts and a counterexample that reproduces."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import hessverify
from hessverify import conjecture, strategies as st
from hessverify.compare import measure
from hessverify.conjecture import REGISTRY

USER_FILE = textwrap.dedent('''
    from hessverify import conjecture, strategies as st

    @conjecture(setting=st.balanced_linear_networks(), quantity="lambda_max", operator="ggn",
                source="my notes, eq. 2")
    def top_eigenvalue(s):
        return s.depth * s.sigma_x**2 * s.singular_values[0] ** (2 * (s.depth - 1))

    @conjecture(setting=st.balanced_linear_networks(), quantity="trace", operator="ggn", source="my notes, eq. 3")
    def trace_is_depth_times_norm(s):
        return s.depth * s.sigma_x**2 * sum(v**2 for v in s.singular_values)
''')


def run(args, cwd):
    env = {**os.environ, "HYPOTHESIS_PROFILE": "ci"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("conjectures")
    (d / "my_claims.py").write_text(USER_FILE)
    return d


def test_cli_verdicts_and_report(user_dir):
    out = run([sys.executable, "-m", "hessverify.cli", "verify", str(user_dir), "--profile", "ci",
               "--report", str(user_dir / "ver")], cwd=user_dir)
    assert out.returncode == 1, out.stdout + out.stderr  # one claim is false
    data = json.loads((user_dir / "ver.json").read_text())
    status = {c["name"]: c for c in data["claims"]}
    assert status["top_eigenvalue"]["status"] == "holds"
    bad = status["trace_is_depth_times_norm"]
    assert bad["status"] == "refuted" and bad["counterexample"].startswith("hessverify.settings.build_setting(")
    assert "hessverify: verdicts" in out.stdout and "| `top_eigenvalue` |" in out.stdout
    # the printed minimal counterexample rebuilds a setting on which the claim fails
    s = eval(bad["counterexample"], {"hessverify": hessverify})
    pred = s.depth * s.sigma_x**2 * sum(v**2 for v in s.singular_values)
    assert abs(float(measure(s, "trace", "ggn").value) - pred) > 1e-6


def test_plain_pytest_collects_conjectures(user_dir):
    out = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(user_dir / "my_claims.py")],
              cwd=user_dir)
    assert "1 failed, 1 passed" in out.stdout, out.stdout
    assert "build_setting(" in out.stdout  # the falsifying example is printed as a pasteable call


def test_expected_refutation_passes_and_unexpected_hold_fails():
    @conjecture(setting=st.balanced_linear_networks(), quantity="lambda_max", expect="refuted", examples=20)
    def wrong(s):
        return 0.5 * s.depth * s.sigma_x**2 * s.singular_values[0] ** (2 * (s.depth - 1)) + 1.0

    wrong()
    assert wrong.record.status == "refuted (expected)" and wrong.record.counterexample

    @conjecture(setting=st.balanced_linear_networks(), quantity="lambda_max", expect="refuted", examples=5)
    def actually_true(s):
        return s.depth * s.sigma_x**2 * s.singular_values[0] ** (2 * (s.depth - 1))

    with pytest.raises(AssertionError, match="held"):
        actually_true()
    for claim in (wrong, actually_true):  # keep the suite's verdict table to the repository's claims
        REGISTRY.pop(claim.record.name)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="quantity"):
        conjecture(setting=st.linear_networks(), quantity="largest")
    with pytest.raises(ValueError, match="operator"):
        conjecture(setting=st.linear_networks(), operator="fisher")
    with pytest.raises(ValueError, match="top_k"):
        conjecture(setting=st.linear_networks(), quantity="top_k")


def test_report_is_deterministic(user_dir, tmp_path):
    outs = []
    for i in range(2):
        run([sys.executable, "-m", "hessverify.cli", "verify", str(user_dir / "my_claims.py"), "--profile", "ci",
             "--report", str(tmp_path / f"r{i}")], cwd=user_dir)
        outs.append((tmp_path / f"r{i}.json").read_bytes())
    assert outs[0] == outs[1]
