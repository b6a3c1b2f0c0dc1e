"""Nothing silent, nothing lost, nothing executed: crafted files, corrupted caches, kills during writes,
symbolic links, locked and read-only output folders."""
import json
import os
import pickle
import stat
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from hessverify.cache import ResultCache
from hessverify.data import load_cifar10
from hessverify.files import atomic_write_bytes, atomic_write_text
from hessverify.reports.runner import ReportsBusy, check_device, output_lock, run_reports, write_index


# ---- crafted data files ------------------------------------------------------------------------------------------
class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))  # unpickling a real pickle.load would create the marker file


def test_crafted_cifar_batch_does_not_run_code(tmp_path):
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    marker = tmp_path / "pwned"
    with open(root / "data_batch_1", "wb") as f:
        pickle.dump({b"data": _RunsCode(str(marker)), b"labels": [0]}, f, protocol=2)
    with pytest.raises(ValueError, match="refusing to load io.open"):
        load_cifar10(root)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_genuine_cifar_layout_still_loads(tmp_path, protocol):
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    batch = {b"batch_label": b"training batch 1 of 5", b"labels": [3, 1],
             b"data": np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072), b"filenames": [b"a.png", b"b.png"]}
    with open(root / "data_batch_1", "wb") as f:
        pickle.dump(batch, f, protocol=protocol)
    X, y = load_cifar10(root, gray28=False)
    assert X.shape == (2, 3072) and y.tolist() == [3, 1]


# ---- files: atomic, no symlinks, umask mode ---------------------------------------------------------------------
def test_writes_do_not_follow_symlinks(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    inside = tmp_path / "reports"
    inside.mkdir()
    (inside / "fig.png").symlink_to(outside)
    with pytest.raises(ValueError, match="symbolic link"):
        atomic_write_bytes(inside / "fig.png", b"\x89PNG")
    assert outside.read_text() == "precious"


def test_files_get_the_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.md", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.md").stat().st_mode) == 0o644


# ---- the cache ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong value", "wrong shape"])
def test_bad_cache_entry_is_named_set_aside_and_recomputed(tmp_path, damage):
    cache = ResultCache(tmp_path)
    config = {"cell": 1}
    cache.get_or_compute(config, lambda: {"lambda_max": 1.5})
    path = cache.path(config)
    text = path.read_text()
    if damage == "truncate":
        path.write_text(text[: len(text) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00\xff not json")
    elif damage == "wrong value":
        path.write_text(text.replace("1.5", "999"))  # valid JSON, checksum no longer matches
    else:
        path.write_text(json.dumps(["not", "an", "entry"]))
    again = ResultCache(tmp_path)
    with pytest.warns(RuntimeWarning, match=str(path.name)):
        assert again.get_or_compute(config, lambda: {"lambda_max": 1.5}) == {"lambda_max": 1.5}
    assert again.misses == 1 and again.rejected == [path]
    assert (tmp_path / (path.name + ".bad")).exists()
    assert ResultCache(tmp_path).get_or_compute(config, lambda: {"lambda_max": -1}) == {"lambda_max": 1.5}


def test_fresh_and_cached_results_are_identical(tmp_path):
    cache = ResultCache(tmp_path)
    fresh = cache.get_or_compute({"c": 1}, lambda: {"count": 3, "vals": (1.0, 2.0)})
    assert ResultCache(tmp_path).get_or_compute({"c": 1}, lambda: None) == fresh


# ---- the index --------------------------------------------------------------------------------------------------
def test_crafted_index_is_not_trusted(tmp_path):
    (tmp_path / "evil").mkdir()
    crafted = {"profile": "test", "seed": 0, "reports": [
        {"name": "../../evil", "title": "<script>x</script>", "verdict": "[click](http://example.invalid)"},
        {"name": "whitened", "title": "[phish](http://example.invalid)", "verdict": "pwned"}]}
    (tmp_path / "index.json").write_text(json.dumps(crafted))
    with pytest.warns(RuntimeWarning, match="not a valid report index"):
        write_index(tmp_path, [], "test", 0)
    md = (tmp_path / "index.md").read_text()
    assert "example.invalid" not in md and "script" not in md and "pwned" not in md
    # a well-formed index whose entry has no report behind it is dropped, and titles come from data.json only
    (tmp_path / "index.json").write_text(json.dumps({**crafted, "reports": crafted["reports"][1:]}))
    write_index(tmp_path, [], "test", 0)
    assert "example.invalid" not in (tmp_path / "index.md").read_text()


# ---- the report runner ------------------------------------------------------------------------------------------
def test_second_run_on_a_locked_folder_is_refused(tmp_path):
    with output_lock(tmp_path):
        with pytest.raises(ReportsBusy, match=f"pid {os.getpid()}"):
            with output_lock(tmp_path):
                pass
    assert not (tmp_path / ".lock").exists()
    (tmp_path / ".lock").write_text("999999999")  # a stale lock: its process is gone
    with output_lock(tmp_path):
        pass


def test_mixing_seeds_or_profiles_is_refused(tmp_path):
    (tmp_path / "index.json").write_text(json.dumps({"profile": "test", "seed": 0, "reports": []}))
    with pytest.raises(ValueError, match="refusing to mix"):
        run_reports(tmp_path, "test", seed=1, only=["krylov"])


def test_unwritable_output_is_refused_before_computing(tmp_path):
    (tmp_path / "a_file").write_text("")
    with pytest.raises(ValueError, match="cannot write"):
        run_reports(tmp_path / "a_file" / "reports", "test", only=["krylov"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_read_only_folder_is_refused_before_computing(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ValueError, match="cannot write"):
            run_reports(ro, "test", only=["krylov"])
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize("device, message", [("cpu:7", "one CPU"), ("cuda", "not usable|CUDA devices"),
                                             ("tpu", "not usable"), (3, "string")])
def test_bad_devices(device, message):
    with pytest.raises((ValueError, TypeError), match=message):
        check_device(device)


def test_cli_refusals(tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "hessverify.cli", "reports", "--profile", "test", "--out",
                               str(tmp_path / "r"), *args], capture_output=True, text=True, timeout=120)

    r = cli("--only")
    assert r.returncode == 2 and "names no report group" in r.stderr and "Traceback" not in r.stderr
    r = cli("--device", "cuda:3")
    assert r.returncode == 2 and "device" in r.stderr and "Traceback" not in r.stderr
    r = cli("--seed", str(2**40))
    assert r.returncode == 2 and "seed" in r.stderr and "Traceback" not in r.stderr


# ---- kills during each write phase ------------------------------------------------------------------------------
KILLER = textwrap.dedent("""
    import os, signal, sys
    import hessverify.files as files
    import hessverify.reports._common as common
    from hessverify.reports.runner import run_reports

    suffix, out = sys.argv[1], sys.argv[2]
    real = files.atomic_write

    def dying(path, write):
        if str(path).endswith(suffix):
            def half(tmp):
                write(tmp)
                data = tmp.read_bytes()
                tmp.write_bytes(data[: len(data) // 2])
                os.kill(os.getpid(), signal.SIGKILL)
            return real(path, half)
        return real(path, write)

    files.atomic_write = dying
    common.atomic_write = dying  # figures are saved through the name _common imported
    run_reports(out, "test", only=["krylov"])
""")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    run_reports(out, "test", only=["krylov"])
    return out


def _tree(root):
    return {p.relative_to(root): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and ".cache" not in p.parts and p.name not in (".lock", "timings.json")}


@pytest.mark.parametrize("suffix", [".json", ".md", ".png"])
def test_kill_during_a_write_leaves_old_or_nothing(tmp_path, uninterrupted, suffix):
    out = tmp_path / "r"
    r = subprocess.run([sys.executable, "-c", KILLER, suffix, str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == -9, r.stderr
    for p in out.rglob(f"*{suffix}"):
        if not p.name.startswith(".tmp-hessverify-") and p.name != "timings.json":  # a finished file is whole: the same bytes as an uninterrupted run's
            assert p.read_bytes() == (uninterrupted / p.relative_to(out)).read_bytes(), p
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_reports(out, "test", only=["krylov"])  # the stale lock of the killed run is taken over
    leftovers = [p for p in out.rglob(".*") if p.is_file() and ".cache" not in p.parts]
    assert _tree(out) == _tree(uninterrupted), leftovers
