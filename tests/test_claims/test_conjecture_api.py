"""The conjecture API end to end: a researcher's file in a temporary directory, checked by ``hessverify verify``
and by plain ``pytest``, with the right verdicts and a counterexample that reproduces."""
import json
import os
import subprocess
import sys
import textwrap

import pytest
from hypothesis import strategies as hst

import hessverify
from hessverify import conjecture, strategies as st
from hessverify.claims import measure
from hessverify.claims import REGISTRY

USER_FILE = textwrap.dedent('''
    import math

    from hessverify import conjecture, strategies as st
    from hessverify.claims.assumptions import zero_loss

    @conjecture(setting=st.balanced_linear_networks(), quantity="lambda_max", operator="ggn",
                source="my notes, eq. 2")
    def top_eigenvalue(s):
        return s.depth * s.sigma_x**2 * s.singular_values[0] ** (2 * (s.depth - 1))

    @conjecture(setting=st.balanced_linear_networks(), quantity="trace", operator="ggn", source="my notes, eq. 3")
    def trace_is_depth_times_norm(s):
        return s.depth * s.sigma_x**2 * sum(v**2 for v in s.singular_values)

    def nan_quantity(s):
        return math.nan

    @conjecture(setting=st.linear_networks(), quantity=nan_quantity, source="a | b")
    def nan_is_never_a_pass(s):
        return 1.0

    @conjecture(setting=st.mlps(targets="teacher"), quantity="dense", operator="hessian", assumptions=[zero_loss()],
                source="eq 3 on biased tanh networks")
    def hessian_is_ggn_at_zero_loss(s):
        from hessverify.claims import measure
        return measure(s, "dense", "ggn").value
''')


def run(args, cwd):
    env = {**os.environ, "HYPOTHESIS_PROFILE": "ci"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("conjectures")
    (d / "test_my_claims.py").write_text(USER_FILE)
    # a helper script beside the claims: verify must not import it (it would leave a marker file)
    (d / "make_figures.py").write_text("open(__file__ + '.ran', 'w').write('imported')\n")
    return d


def test_cli_verdicts_and_report(user_dir):
    out = run([sys.executable, "-m", "hessverify.cli", "verify", str(user_dir), "--profile", "ci",
               "--report", str(user_dir / "ver")], cwd=user_dir)
    assert out.returncode == 1, out.stdout + out.stderr  # claims are false or errors
    assert not (user_dir / "make_figures.py.ran").exists()  # only what pytest would collect was imported
    data = json.loads((user_dir / "ver.json").read_text())
    status = {c["name"]: c for c in data["claims"]}
    assert status["top_eigenvalue"]["status"] == "holds"
    bad = status["trace_is_depth_times_norm"]
    assert bad["status"] == "refuted" and bad["counterexample"].startswith("hessverify.claims.build_setting(")
    assert bad["counterexample_error"] > bad["counterexample_tolerance"]  # the shown example's own numbers
    assert status["nan_is_never_a_pass"]["status"] == "error"
    # teacher targets are never fitted: every drawn example is outside the assumption, none is judged
    outside = status["hessian_is_ggn_at_zero_loss"]
    assert outside["examples"] == 0 and outside["outside"] > 0
    assert outside["outside_by"] == {"zero_loss": outside["outside"]}
    assert all(c["profile"] == "ci" and "HYPOTHESIS_PROFILE=ci pytest" in c["reproduce"] for c in data["claims"])
    md = (user_dir / "ver.md").read_text()
    assert "| a \\| b |" in md  # the pipe in source= is escaped: the table keeps its columns
    assert "hessverify: verdicts" in out.stdout and "`top_eigenvalue`" in out.stdout
    # the printed minimal counterexample rebuilds a setting on which the claim fails
    s = eval(bad["counterexample"], {"hessverify": hessverify})
    pred = s.depth * s.sigma_x**2 * sum(v**2 for v in s.singular_values)
    assert abs(float(measure(s, "trace", "ggn").value) - pred) > 1e-6


def test_plain_pytest_collects_conjectures(user_dir):
    out = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(user_dir / "test_my_claims.py")],
              cwd=user_dir)
    assert "3 failed, 1 passed" in out.stdout, out.stdout
    assert "build_setting(" in out.stdout  # the falsifying example is printed as a pasteable call


def test_expected_refutation_passes_and_unexpected_hold_fails():
    @conjecture(setting=st.balanced_linear_networks(), quantity="lambda_max", expect="refuted", examples=20)
    def wrong(s):
        return 0.5 * s.depth * s.sigma_x**2 * s.singular_values[0] ** (2 * (s.depth - 1)) + 1.0

    wrong()
    assert wrong.record.status == "refuted" and wrong.record.as_expected and wrong.record.counterexample

    @conjecture(setting=st.balanced_linear_networks(), quantity="lambda_max", expect="refuted", examples=5)
    def actually_true(s):
        return s.depth * s.sigma_x**2 * s.singular_values[0] ** (2 * (s.depth - 1))

    with pytest.raises(AssertionError, match="came out holds"):
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
        run([sys.executable, "-m", "hessverify.cli", "verify", str(user_dir / "test_my_claims.py"), "--profile", "ci",
             "--report", str(tmp_path / f"r{i}")], cwd=user_dir)
        outs.append((tmp_path / f"r{i}.json").read_bytes())
    assert outs[0] == outs[1]


REBUILD = textwrap.dedent("""
    import hashlib, sys, torch, hessverify
    torch.manual_seed(int(sys.argv[1]))  # a different global RNG state in each process
    s = eval(sys.argv[2], {"hessverify": hessverify})
    h = hashlib.sha256()
    for t in [*s.model.state_dict().values(), s.X, s.Y]:
        h.update(t.detach().double().numpy().tobytes())
    print(h.hexdigest())
""")


@pytest.mark.parametrize("spec", [
    "hessverify.claims.build_setting(kind='mlp', widths=(3, 4, 2), n=5, sigma_x=1.0, seed=7, activation='tanh', "
    "bias=True, targets='teacher', loss='cross_entropy')",
    "hessverify.claims.build_setting(kind='linear', widths=(2, 3), n=4, sigma_x=None, seed=3, targets='one_hot')",
    "hessverify.claims.build_setting(kind='balanced_linear', widths=(3, 2, 4), n=5, sigma_x=1.0, seed=2, "
    "singular_values=[1.0, 0.001], exact=True)",
    "hessverify.claims.build_setting(kind='linear', widths=(3, 2), n=2, sigma_x=None, seed=1, bias=True, "
    "inputs='ones_in_span', input_rank=2, exact=True, targets='teacher')",
])
def test_counterexample_rebuilds_bit_for_bit_in_a_new_process(spec):
    digests = {run([sys.executable, "-c", REBUILD, str(seed), spec], cwd=os.getcwd()).stdout for seed in (0, 1)}
    assert len(digests) == 1 and len(next(iter(digests))) == 65, digests


def test_assumptions_filter_and_count():
    from hessverify.claims.assumptions import whitened_inputs
    from theory.linear import ggn_trace

    @conjecture(setting=st.linear_networks(sigma_x=hst.one_of(hst.none(), st.sigma_x())), quantity="trace",
                assumptions=[whitened_inputs()], examples=30)
    def eq7_whitened_only(s):
        return ggn_trace(s.weights, s.sigma_x)

    eq7_whitened_only()
    rec = eq7_whitened_only.record
    assert rec.status == "holds" and rec.outside > 0 and rec.examples > 0
    REGISTRY.pop(rec.name)


OTHER_PROJECT = textwrap.dedent("""
    from hypothesis import given, strategies as st

    CALLS = []

    @given(st.integers())
    def test_draws(x):
        CALLS.append(x)

    def test_kept_its_own_settings():
        assert len(CALLS) > 15, len(CALLS)  # hypothesis' default (100), not hessverify's ci profile (15)
""")


@pytest.mark.parametrize("ci_machine", [False, True], ids=["local", "CI=true"])
def test_plugin_leaves_other_hypothesis_tests_alone(tmp_path, ci_machine):
    # on a CI machine hypothesis loads its own built-in "ci" profile: hessverify's must not replace it
    (tmp_path / "test_other.py").write_text(OTHER_PROJECT)
    env = {k: v for k, v in os.environ.items() if k not in ("HYPOTHESIS_PROFILE", "CI")}
    if ci_machine:
        env["CI"] = "true"
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                          str(tmp_path / "test_other.py")], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert "2 passed" in out.stdout, out.stdout + out.stderr
