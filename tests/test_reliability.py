"""Nothing silent, nothing lost, nothing executed: crafted files, corrupted caches, kills during writes,
symbolic links, locked and read-only output folders."""
import json
import os
import pickle
import stat
import struct
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from hessverify.cache import ResultCache
from hessverify.data import load_cifar10, load_mnist_csv, load_mnist_idx
from hessverify.data.loaders import read_idx
from hessverify.files import SymlinkRefused, atomic_write_bytes, atomic_write_text, confine_writes
from hessverify.reports.runner import (ReportsBusy, _check_writable, check_device, output_lock, run_reports,
                                       write_index)


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
    (tmp_path / ".lock").write_text("999999999")  # a file left by a dead run holds no lock: the kernel dropped it
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


@pytest.mark.slow  # report runs in subprocesses: minutes; `nox -s slow` (CI runs it too)
@pytest.mark.parametrize("suffix", [".json", ".md", ".png"])
def test_kill_during_a_write_leaves_old_or_nothing(tmp_path, uninterrupted, suffix):
    out = tmp_path / "r"
    r = subprocess.run([sys.executable, "-c", KILLER, suffix, str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == -9, r.stderr
    for p in out.rglob(f"*{suffix}"):
        # a finished file is whole: the same bytes as an uninterrupted run's
        if not p.name.startswith(".tmp-hessverify-") and p.name != "timings.json":
            assert p.read_bytes() == (uninterrupted / p.relative_to(out)).read_bytes(), p
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_reports(out, "test", only=["krylov"])  # the stale lock of the killed run is taken over
    leftovers = [p for p in out.rglob(".*") if p.is_file() and ".cache" not in p.parts]
    assert _tree(out) == _tree(uninterrupted), leftovers


# ---- issue 25: files that cannot be redirected -------------------------------------------------------------------
def _snapshot(root):
    """Every path under ``root`` with its bytes (files) or its target (links): what "touched" compares."""
    out = {}
    for p in sorted(root.rglob("*")):
        out[p.relative_to(root)] = os.readlink(p) if p.is_symlink() else (p.read_bytes() if p.is_file() else "dir")
    return out


@pytest.fixture
def outside(tmp_path):
    """A folder beside the output folder, with a file a redirected write would overwrite or empty."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "precious.txt").write_text("precious")
    (d / "report.md").write_text("precious")
    return d


@pytest.mark.parametrize("where, target", [
    ("krylov", "dir"), (".cache", "dir"), ("krylov/report.md", "file"), ("index.md", "file"), ("timings.json", "file"),
    ("a/b/c/deep", "dir"), ("krylov/dangling.png", "missing"), (".lock", "file")])
def test_a_symlink_anywhere_under_the_output_folder_is_refused_before_computing(tmp_path, outside, where, target):
    out = tmp_path / "out"
    link = out / where
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to({"dir": outside, "file": outside / "precious.txt", "missing": outside / "nothing"}[target])
    before = _snapshot(outside)
    with pytest.raises(ValueError, match=f"{link}.* symbolic link inside the output folder"):
        run_reports(out, "test", only=["krylov"])
    assert _snapshot(outside) == before
    assert not (out / "index.json").exists() and not (out / "krylov" / "data.json").exists()  # nothing computed


def test_a_symlink_made_during_a_run_is_refused_at_the_write(tmp_path, outside):
    """The check before computing cannot see a link made later; each write walks the folder with O_NOFOLLOW."""
    out = tmp_path / "out"
    (out / "fine").mkdir(parents=True)
    (out / "krylov").symlink_to(outside)
    (out / "fine" / "x").symlink_to(outside)
    before = _snapshot(outside)
    with confine_writes(out):
        for path in (out / "krylov" / "report.md", out / "krylov" / "new" / "f.md", out / "fine" / "x" / "y.md"):
            with pytest.raises(SymlinkRefused, match="symbolic link inside the output folder"):
                atomic_write_text(path, "redirected")
        atomic_write_text(out / "fine" / "ok.md", "written")  # links elsewhere do not stop honest writes
    assert _snapshot(outside) == before
    assert (out / "fine" / "ok.md").read_text() == "written"
    assert not [p for p in out.rglob(".tmp-hessverify-*")]


def test_the_writability_probe_cannot_follow_a_link(tmp_path, outside, monkeypatch):
    import secrets

    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(secrets, "token_hex", lambda n: "fixed")
    (out / f".write-test-{os.getpid()}-fixed").symlink_to(outside / "precious.txt")  # the old probe emptied it
    (out / f".write-test-{os.getpid()}").symlink_to(outside / "report.md")
    with pytest.raises(ValueError, match="cannot write"):
        _check_writable(out)
    assert (outside / "precious.txt").read_text() == "precious" and (outside / "report.md").read_text() == "precious"


HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from hessverify.reports.runner import output_lock
    with output_lock(Path(sys.argv[1])):
        print("held", flush=True)
        time.sleep(60)
""")


def test_a_second_run_is_refused_while_the_first_holds_the_lock_and_a_killed_holder_frees_it(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ReportsBusy, match=f"pid {holder.pid}"):
            run_reports(out, "test", only=["krylov"])
        assert not (out / "krylov").exists()  # refused before computing
    finally:
        holder.kill()
        holder.wait()
    with output_lock(out):  # the kernel released the dead holder's lock: no stale-pid guessing
        pass


STEPPED = textwrap.dedent("""
    import sys
    from pathlib import Path
    from hessverify.reports.runner import ReportsBusy, output_lock

    out, code = Path(sys.argv[1]), output_lock.__wrapped__.__code__
    for request in sys.stdin:
        k, count = int(request), 0

        def local(frame, event, arg):
            global count
            if event == "line":
                count += 1
                if count == k:
                    print("pause", flush=True)
                    sys.stdin.readline()
            return local

        sys.settrace(lambda frame, event, arg: local if frame.f_code is code else None)
        try:
            with output_lock(out):
                sys.settrace(None)
                print("body" if count >= k else "end", flush=True)
        except ReportsBusy:
            sys.settrace(None)
            print("busy" if count >= k else "end", flush=True)
""")

CONTENDER = textwrap.dedent("""
    import contextlib, sys
    from pathlib import Path
    from hessverify.reports.runner import ReportsBusy, output_lock

    out, stack = Path(sys.argv[1]), contextlib.ExitStack()
    for command in sys.stdin:
        if command.strip() == "try":
            try:
                stack.enter_context(output_lock(out))
                print("acquired", flush=True)
            except ReportsBusy:
                print("busy", flush=True)
        else:
            stack.close()
            print("released", flush=True)
""")


def test_a_second_run_at_any_moment_of_the_first_never_holds_the_lock_with_it(tmp_path):
    """The first run is stopped at every line of its lock acquisition and release in turn; at each stop a second
    process tries to take the lock and keeps it if it can. The first run must then be refused; both in the
    locked body is the failure. (The pid-file lock failed at the stop between creating the file and writing the
    pid: the second run read an empty pid, called it stale and took the lock beside the first.)"""
    out = tmp_path / "out"
    out.mkdir()
    first, second = (subprocess.Popen([sys.executable, "-c", script, str(out)], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True, bufsize=1) for script in (STEPPED, CONTENDER))

    def ask(proc, line):
        proc.stdin.write(line + "\n")
        proc.stdin.flush()
        return proc.stdout.readline().strip()

    try:
        both, stops = [], 0
        for k in range(1, 200):
            if ask(first, str(k)) != "pause":
                break  # the first run has fewer lines than k: every moment was tried
            stops += 1
            contender = ask(second, "try")
            outcome = ask(first, "go")
            if contender == "acquired" and outcome == "body":
                both.append(k)
            assert ask(second, "release") == "released"
        assert stops >= 5 and both == [], f"both runs held the lock after line event(s) {both} of {stops}"
    finally:
        for proc in (first, second):
            proc.kill()
            proc.wait()


def test_empty_out_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="out='' names no folder"):
        run_reports("", "test", only=["krylov"])
    r = subprocess.run([sys.executable, "-m", "hessverify.cli", "reports", "--profile", "test", "--out", "",
                        "--only", "krylov"], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert r.returncode == 2 and "--out '' names no folder" in r.stderr and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written into the current directory


def test_deep_and_huge_cache_entries_are_set_aside_not_parsed(tmp_path, monkeypatch):
    import hessverify.cache as cache_mod

    cache = ResultCache(tmp_path)
    config = {"cell": 1}
    path = cache.path(config)
    path.write_text("[" * 100_000 + "]" * 100_000)  # json.loads: RecursionError
    with pytest.warns(RuntimeWarning, match="nested 100000 deep"):
        assert cache.get_or_compute(config, lambda: {"v": 1}) == {"v": 1}
    monkeypatch.setattr(cache_mod, "MAX_ENTRY_BYTES", 300)
    path.write_text(json.dumps({"schema": 2, "config": config, "result": {"v": "x" * 1000}, "sha256": ""}))
    with pytest.warns(RuntimeWarning, match="larger than 300 bytes"):
        assert ResultCache(tmp_path).get_or_compute(config, lambda: {"v": 2}) == {"v": 2}
    assert cache_mod.json_depth(b'{"a": "[[[[", "b": [[1]]}') == 3  # brackets in strings do not count
    # what could not be read back is never written: too deep or too large is refused at the write
    with pytest.raises(ValueError, match="nested 102 deep"):
        ResultCache(tmp_path).get_or_compute({"cell": 2}, lambda: {"v": _nest(100)})
    with pytest.raises(ValueError, match="takes .* bytes as JSON; a cache entry holds at most 300"):
        ResultCache(tmp_path).get_or_compute({"cell": 3}, lambda: {"v": "y" * 1000})


def _nest(depth):
    out = 0
    for _ in range(depth):
        out = [out]
    return out


def test_a_cache_entry_that_is_a_link_is_not_read(tmp_path, outside):
    cache = ResultCache(tmp_path / "c")
    config = {"cell": 1}
    cache.directory.mkdir()
    (outside / "entry.json").write_text("{}")
    cache.path(config).symlink_to(outside / "entry.json")
    with pytest.warns(RuntimeWarning, match="unreadable"):
        assert cache.get_or_compute(config, lambda: {"v": 1}) == {"v": 1}
    assert (outside / "entry.json").read_text() == "{}"


# ---- issue 25: crafted IDX files and gzip bombs ----------------------------------------------------------------
def _idx(shape, code=0x08, body=b""):
    return bytes([0, 0, code, len(shape)]) + struct.pack(">" + "I" * len(shape), *shape) + body


class _Counting:
    """Counts the decompressed bytes read_idx pulls out of the streams it opens."""

    def __init__(self, monkeypatch):
        import contextlib

        import hessverify.data.loaders as loaders

        self.total, outer, real = 0, self, loaders._open_stream

        class Counted:
            def __init__(self, inner):
                self.inner = inner

            def read(self, n=-1):
                data = self.inner.read(n)
                outer.total += len(data)
                return data

            def readinto(self, b):
                n = self.inner.readinto(b)
                outer.total += n
                return n

        @contextlib.contextmanager
        def counted(path):
            with real(path) as f:
                yield Counted(f)

        monkeypatch.setattr(loaders, "_open_stream", counted)


def _bomb(path, header, zeros):
    import gzip

    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(header)
        chunk = bytes(2**20)
        for _ in range(zeros // 2**20):
            f.write(chunk)


def test_a_gzip_bomb_is_never_inflated(tmp_path, monkeypatch):
    """A small declared shape followed by 256 MB of zeros (255 KB on disk): refused after reading the declared size
    and one byte; a header declaring gigabytes: refused before reading any of its body."""
    counting = _Counting(monkeypatch)
    _bomb(tmp_path / "small.gz", _idx((5, 28, 28)), 256 * 2**20)
    assert (tmp_path / "small.gz").stat().st_size < 2**20
    with pytest.raises(ValueError, match=r"small.gz declares shape \(5, 28, 28\) \(3920 bytes of data\) but holds more"):
        read_idx(tmp_path / "small.gz")
    assert counting.total <= 16 + 3920 + 1
    counting.total = 0
    _bomb(tmp_path / "big.gz", _idx((60000, 240, 240)), 4 * 2**20)  # declares 3.2 GiB
    with pytest.raises(ValueError, match=r"big.gz declares shape \(60000, 240, 240\): 3.2 GiB of data, more than"):
        read_idx(tmp_path / "big.gz")
    assert counting.total == 16  # the header only


@pytest.mark.parametrize("data, message", [
    (_idx((2**16,) * 4), "16.0 EiB of data"),  # the product 2**64 wraps to 0 in int64
    (_idx((2**32 - 1, 2**32 - 1), body=b"x"), "declares shape"),
    (bytes([0, 0, 8, 0]), "declares 0 dimensions"),
    (bytes([0, 0, 8, 200]) + b"\0" * 8, "declares 200 dimensions"),
    (bytes([0, 0, 8, 3, 0, 0]), "truncated inside its header"),
    (bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 7]), "not an IDX file"),
    (_idx((4,), body=b"abc"), "holds 3"),
    (b"\x1f\x8b" + b"not really gzip", "cannot read IDX file"),
])
def test_crafted_idx_headers_are_clear_errors(tmp_path, data, message):
    path = tmp_path / "crafted-idx1-ubyte"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=message):
        read_idx(path)


def _mnist_dir(tmp_path, images, labels, img_code=0x08, lab_code=0x08):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx(images.shape, img_code, images.tobytes()))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx(labels.shape, lab_code, labels.tobytes()))
    return tmp_path


@pytest.mark.parametrize("labels, code, message", [
    (np.array([0, 1, np.nan], dtype=">f8"), 0x0E, "labels hold NaN"),  # was -2**63
    (np.array([0, 1, 1.5], dtype=">f8"), 0x0E, "labels hold fractions"),
    (np.array([0, 1, 10], dtype=np.uint8), 0x08, "labels must be class indices 0-9, found 0..10"),
    (np.array([0, -1, 2], dtype=np.int8), 0x09, "labels must be class indices 0-9, found -1..2"),
])
def test_idx_labels_are_validated_naming_the_file(tmp_path, labels, code, message):
    images = np.zeros((3, 2, 2), np.uint8)
    _mnist_dir(tmp_path, images, labels, lab_code=code)
    with pytest.raises(ValueError, match=f"train-labels-idx1-ubyte: {message}"):
        load_mnist_idx(tmp_path)


@pytest.mark.parametrize("images, code, message", [
    (np.full((2, 2, 2), np.nan, dtype=">f4"), 0x0D, "the images hold NaN"),
    (np.full((2, 2, 2), 300, dtype=">i2"), 0x0B, r"pixel values must lie in \[0, 255\], found 300"),
    (np.zeros((0, 2, 2), np.uint8), 0x08, "holds no images"),
])
def test_idx_images_are_validated_naming_the_file(tmp_path, images, code, message):
    _mnist_dir(tmp_path, images, np.zeros(images.shape[0], np.uint8), img_code=code)
    with pytest.raises(ValueError, match=f"train-images-idx3-ubyte:? {message}"):
        load_mnist_idx(tmp_path)


@pytest.mark.parametrize("batch, message", [
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 999]}, "labels must be class indices 0-9, found 0..999"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0.0, float("nan")]}, "labels hold NaN"),
    ({b"data": np.full((2, 3072), 300, np.int64), b"labels": [0, 1]}, r"pixel values must lie in \[0, 255\]"),
    ({b"data": np.zeros((2, 3072)), b"labels": [[0], [1]]}, "expected \\(n, 3072\\)"),
    ({b"data": np.zeros((0, 3072), np.uint8), b"labels": []}, "holds no images"),
    ({b"data": np.zeros((1, 3072), np.uint8), b"labels": ["cat"]}, "labels have dtype"),
    ({b"data": [["a"] * 3072], b"labels": [0]}, "data has dtype"),
])
def test_cifar_batches_are_validated_naming_the_file(tmp_path, batch, message):
    with open(tmp_path / "data_batch_1", "wb") as f:
        pickle.dump(batch, f)
    with pytest.raises(ValueError, match=f"data_batch_1.*{message}"):
        load_cifar10(tmp_path)


def test_csv_nan_pixels_and_bombs_are_refused(tmp_path, monkeypatch):
    import gzip

    import hessverify.data.loaders as loaders

    row = ["nan"] + ["0"] * 783 + ["1"]
    (tmp_path / "m.csv").write_text(",".join(row) + "\n")
    with pytest.raises(ValueError, match="m.csv: the images hold NaN"):
        load_mnist_csv(tmp_path / "m.csv")
    monkeypatch.setattr(loaders, "MAX_CSV_BYTES", 10_000)
    (tmp_path / "b.csv").write_bytes(gzip.compress(("0," * 784 + "1\n").encode() * 100))
    with pytest.raises(ValueError, match="b.csv decompresses to more than 9.8 KiB"):
        load_mnist_csv(tmp_path / "b.csv")


# ---- issue 25: verify and the pytest plugin ----------------------------------------------------------------------
def test_verify_on_a_folder_without_test_files_is_an_error(tmp_path, monkeypatch, capsys):
    from hessverify.cli import main as cli_main

    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "helper.py").write_text("open(__file__ + '.ran', 'w')\n")
    (tmp_path / "test_elsewhere.py").write_text("def test_x():\n    open(__file__ + '.ran', 'w')\n")
    monkeypatch.chdir(tmp_path)
    assert cli_main(["verify", "empty"]) == 2
    assert "no test_*.py or *_test.py file in empty" in capsys.readouterr().err
    assert list(tmp_path.rglob("*.ran")) == []  # neither the helper nor the tests of the current folder ran


PLUGIN_USER = textwrap.dedent('''
    import warnings

    def test_emits():
        warnings.warn("`torch.jit.script` is deprecated. Please switch to torch.compile", DeprecationWarning)
''')


def test_the_plugin_filters_warnings_in_its_own_tests_only(tmp_path):
    (tmp_path / "test_user.py").write_text(PLUGIN_USER)
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(tmp_path / "test_user.py"), "-q",
                        "--rootdir", str(tmp_path), "-c", os.devnull,
                        "--hessverify-report", str(tmp_path / "v")],  # an option only the loaded plugin knows
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    # the user's own test still shows the warning: the plugin's filter is not session-wide
    assert "1 passed, 1 warning" in r.stdout and "torch.jit.script" in r.stdout, r.stdout[-2000:]
