"""The literature report pages (issue 27): each committed verdict recomputed from its data.json with code of its own,
and the four groups run end to end under the test profile."""
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

REPORTS = Path(__file__).resolve().parents[2] / "reports"


def load(name):
    path = REPORTS / name / "data.json"
    if not path.exists():
        pytest.skip(f"no committed {name} report")
    return json.loads(path.read_text())


def test_committed_fisher_status_follows_from_its_data():
    p = load("fisher_1905_12558")
    d = p["data"]
    ns = np.array(d["ns"])
    s_model = stats.linregress(np.log(ns), np.log(d["trained"]["dist_model"])).slope
    s_observed = stats.linregress(np.log(ns), np.log(d["trained"]["dist_observed"])).slope
    identity = max(d["init"]["identity_error"], d["trained"]["identity_error"])
    ef_falls = d["regression"][-1]["ef_over_f"] < d["regression"][0]["ef_over_f"]
    expected = "reproduced" if identity <= 1e-12 and s_model <= -0.25 and s_observed >= -0.15 and ef_falls else "deviates"
    assert p["status"] == expected
    assert f"n^{s_model:.2f} with labels drawn" in p["verdict"] and f"n^{s_observed:.2f} with the observed" in p["verdict"]


def test_committed_edge_of_stability_counts_follow_from_the_readings():
    p = load("edge_of_stability_2103_00065")
    lo, hi = p["data"]["band"]
    hovering = 0
    for r in p["data"]["runs"]:
        steps, theta, res = (np.array(r[k]) for k in ("steps", "sharpness", "residuals"))
        reached = np.nonzero(theta >= 2 / r["eta"])[0]
        arrival = int(steps[reached[0]]) if reached.size else None
        assert arrival == r["arrival"]
        if arrival is None:
            continue
        after = steps >= arrival
        inside = (theta >= lo * 2 / r["eta"]) & (theta + res <= hi * 2 / r["eta"])
        assert (int(after.sum()), int((after & inside).sum())) == (r["readings_after_arrival"], r["in_band_after_arrival"])
        assert f"{r['in_band_after_arrival']} of {r['readings_after_arrival']} readings" in p["verdict"]
        hovering += (after & inside).sum() >= 0.8 * after.sum()
    assert f"in {hovering} of {len(p['data']['runs'])} runs" in p["summary"]


def test_committed_outlier_counts_follow_from_the_eigenvalues():
    p = load("outliers_1706_04454")
    within = near = True
    for r in p["data"]["rows"]:
        if r.get("count") is None:
            assert "C = " in p["verdict"] and str(r["C"]) in p["verdict"]
            continue
        ev = np.array(r["eigenvalues"][: 2 * r["C"]])
        k = int(np.argmax(ev[:-1] / ev[1:])) + 1  # residuals ~1e-6 relative: the argmax is the count
        assert r["count"] == [k, k]
        within &= r["C"] - 1 <= k <= r["C"]
        near &= r["C"] - 2 <= k <= r["C"]
        assert f"C={r['C']}: {k}" in p["verdict"]
    assert p["status"] == ("reproduced" if within else "deviates" if near else "not reproduced")


def test_committed_gradient_overlaps_follow_from_the_readings():
    p = load("gradient_subspace_1812_04754")
    held = 0
    sgd_runs = [r for r in p["data"]["runs"] if r["optimizer"] == "sgd"]
    for r in p["data"]["runs"]:
        steps, ov = np.array(r["steps"]), np.array(r["overlaps"])
        after = steps >= p["data"]["initial"] * r["updates"]
        late = ov[after]
        assert r["late_median"] == pytest.approx(np.median(late))
        assert r["late_fraction_mostly"] == pytest.approx(np.mean(late >= p["data"]["mostly"]))
        assert r["max_bound"] == max(np.array(r["bounds"])[after]) < 1e-3  # resolved far below the threshold's scale
        held += r["optimizer"] == "sgd" and np.mean(late >= p["data"]["mostly"]) >= 0.8
    assert p["status"] == ("reproduced" if held == len(sgd_runs) else "deviates" if held else "not reproduced")


def test_the_four_groups_run_under_the_test_profile(tmp_path):
    from hessverify.cache import ResultCache
    from hessverify.reports._common import PROFILES
    from hessverify.reports.literature_edge_of_stability import edge_of_stability_report
    from hessverify.reports.literature_fisher import fisher_report
    from hessverify.reports.literature_gradient_subspace import gradient_subspace_report
    from hessverify.reports.literature_outliers import outliers_report

    cache = ResultCache(tmp_path / ".cache")
    for report in (fisher_report, edge_of_stability_report, outliers_report, gradient_subspace_report):
        entry = report(tmp_path, PROFILES["test"], 0, cache)
        folder = tmp_path / entry["name"]
        assert (folder / "report.md").exists() and any(folder.glob("*.png"))
        assert json.loads((folder / "data.json").read_text())["status"] == entry["status"]
