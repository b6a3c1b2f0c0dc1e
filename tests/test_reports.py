"""Reports: deterministic given the seed, and an interrupted run resumes without recomputing or corrupting."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from hessverify.cache import ResultCache, atomic_write_text


def run_reports(out, *only, timeout=600):
    cmd = [sys.executable, "-m", "hessverify.cli", "reports", "--profile", "test", "--out", str(out)]
    if only:
        cmd += ["--only", *only]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def test_same_seed_same_bytes(tmp_path):
    for name in ("a", "b"):
        r = run_reports(tmp_path / name, "ablations", "krylov")
        assert r.returncode == 0, r.stderr
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*")
                   if p.is_file() and ".cache" not in p.parts)
    assert any(f.suffix == ".json" for f in files) and any(f.suffix == ".png" for f in files)
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_killed_run_resumes_without_recomputing(tmp_path):
    out = tmp_path / "r"
    cache_dir = out / ".cache" / "test"
    cmd = [sys.executable, "-m", "hessverify.cli", "reports", "--profile", "test", "--out", str(out), "--only",
           "ablations"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and len(list(cache_dir.glob("*.json"))) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list(cache_dir.glob("*.json")))
    assert done >= 3, "the run was killed before it finished three cells"
    for p in cache_dir.glob("*.json"):  # a killed write leaves at most a hidden temporary file, never a bad .json
        json.loads(p.read_text())
    r = run_reports(out, "ablations")
    assert r.returncode == 0, r.stderr
    summary = [line for line in r.stderr.splitlines() if "cache:" in line][-1]
    total = len(list(cache_dir.glob("*.json")))
    # every cell finished before the kill is loaded, and only the missing ones are computed
    assert f"{total - done} computed" in summary, summary
    assert int(summary.split("cache: ")[1].split(" hits")[0]) >= done
    assert (out / "whitened" / "report.md").exists() and json.loads((out / "whitened" / "data.json").read_text())


def test_cache_and_atomic_write(tmp_path):
    calls = []
    cache = ResultCache(tmp_path)
    assert cache.get_or_compute({"a": 1}, lambda: calls.append(1) or {"x": 2.0}) == {"x": 2.0}
    assert cache.get_or_compute({"a": 1}, lambda: calls.append(1) or {"x": 3.0}) == {"x": 2.0}
    assert calls == [1] and cache.hits == 1 and cache.misses == 1

    class Boom(Exception):
        pass

    target = tmp_path / "f.txt"
    atomic_write_text(target, "old")
    with pytest.raises(Boom):
        with pytest.MonkeyPatch.context() as m:
            m.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(Boom()))
            atomic_write_text(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
