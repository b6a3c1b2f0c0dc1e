"""The table of fuzz targets: every public function of ``data``, ``models``, the CLI, the file and cache layers,
and of ``operators``, ``estimators``, ``training`` and ``claims``, each with a valid base call and, where one is
cheap, a reference check on its answer (dense float64 linear algebra, or the defining property).

``owner`` says who fixes what the fuzzer finds. Targets of the packages other branches rewrite this round
(operators, estimators, training, claims) run in the thorough session (``nox -s fuzz``) and their failures are
recorded in ``FINDINGS.md``; they stay out of the CI profile until those findings are applied.
"""
from __future__ import annotations

import atexit
import contextlib
import functools
import gzip
import io
import pickle
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
import torch

from tests.fuzz.harness import Arg, Target

F64 = torch.float64
MINE = "reliability"  # data, models, cli, files, cache, runner's lock/probe, _validation


def _g():
    return torch.Generator().manual_seed(0)


def _X(n=6, d=3):
    return torch.randn(n, d, dtype=F64, generator=torch.Generator().manual_seed(11))


def _labels():
    return torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])


def _S(d=8):
    M = torch.randn(d, d, dtype=F64, generator=torch.Generator().manual_seed(5))
    return (M + M.T) / 2


def _net():
    from hessverify.models import linear_network

    torch.manual_seed(3)
    return linear_network((3, 4, 2), activation="tanh", bias=True)


# ---- files on disk ----------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def data_dir() -> Path:
    """A folder with small valid MNIST IDX, CIFAR-10 and CSV files (made once per process)."""
    root = Path(tempfile.mkdtemp(prefix="hessverify-fuzz-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)
    labels = np.array([0, 3, 9, 1], dtype=np.uint8)
    for name, arr in (("train-images-idx3-ubyte", imgs), ("train-labels-idx1-ubyte", labels)):
        header = bytes([0, 0, 8, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
        (root / name).write_bytes(header + arr.tobytes())
    (root / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress((root / "train-images-idx3-ubyte").read_bytes()))
    (root / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress((root / "train-labels-idx1-ubyte").read_bytes()))
    cifar = root / "cifar"
    cifar.mkdir()
    with open(cifar / "data_batch_1", "wb") as f:
        pickle.dump({b"data": rng.integers(0, 256, (3, 3072), dtype=np.uint8), b"labels": [0, 5, 9]}, f)
    with open(cifar / "test_batch", "wb") as f:
        pickle.dump({b"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8), b"labels": [1, 2]}, f)
    rows = np.concatenate([rng.integers(0, 256, (3, 784)), [[1], [2], [3]]], axis=1)
    (root / "m.csv").write_text("\n".join(",".join(map(str, r)) for r in rows) + "\n")
    (root / "out").mkdir()
    return root


def _out_dir() -> Path:
    d = Path(tempfile.mkdtemp(dir=data_dir() / "out"))
    return d


# ---- reference checks ---------------------------------------------------------------------------------------------
def _check_whiten(R, kw):
    n = R.shape[0]
    Q = R.double() / float(kw["sigma_x"])
    assert torch.allclose(Q.T @ Q / n, torch.eye(R.shape[1], dtype=F64), atol=1e-6), "X^T X / n != sigma^2 I"


def _check_one_hot(Y, kw):
    labels = torch.as_tensor(np.asarray(kw["labels"])).long().reshape(-1)
    assert Y.shape == (labels.numel(), int(kw["num_classes"]))
    if labels.numel():
        assert torch.equal(Y.argmax(1), labels) and torch.all(Y.sum(1) == 1)


def _rows(x) -> int:
    return x.shape[0] if hasattr(x, "shape") else len(x)


def _check_shape(rows_from, cols_from):
    def check(out, kw):
        assert out.shape == (int(rows_from(kw)), int(cols_from(kw))), f"shape {tuple(out.shape)}"
    return check


def _check_proportions(p, kw):
    labels = torch.as_tensor(np.asarray(kw["labels"])).long()
    C = int(kw["num_classes"]) if kw.get("num_classes") is not None else int(labels.max()) + 1
    expect = torch.bincount(labels, minlength=C).double() / labels.numel()
    assert torch.allclose(p, expect), "not the empirical proportions"


def _check_subset(idx, kw):
    labels = torch.as_tensor(np.asarray(kw["labels"])).long()
    n = int(kw["n"])
    assert idx.numel() == n and torch.equal(idx, idx.unique()), "not n distinct sorted indices"
    share = float((labels[idx] == int(kw["majority"])).double().mean())
    assert abs(share - round(float(kw["alpha_max"]) * n) / n) < 1e-12 or abs(share - float(kw["alpha_max"])) <= 0.5 / n \
        or share >= max(torch.bincount(labels[idx]).double() / n) - 1e-12, f"majority share {share}"


def _check_network(net, kw):
    widths = [int(w) for w in kw["widths"]]
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [tuple(l.weight.shape) for l in linears] == [(o, i) for i, o in zip(widths[:-1], widths[1:])]


def _check_balanced(ws, kw):
    for a, b in zip(ws[:-1], ws[1:]):
        a, b = a.double(), b.double()
        tol = 1e-8 if ws[0].dtype == F64 else 1e-4 * max(1.0, float((a @ a.T).abs().max()))
        assert torch.allclose(a @ a.T, b.T @ b, atol=tol), "W_l W_l^T != W_{l+1}^T W_{l+1}"
    s = torch.as_tensor(np.asarray(kw["singular_values"], dtype=np.float64)).reshape(-1)
    tol = 1e-8 if ws[0].dtype == F64 else 1e-4 * max(1.0, float(s.abs().max()))
    assert torch.allclose(torch.linalg.svdvals(ws[0].double())[: s.numel()], s.sort(descending=True).values, atol=tol)


def _check_symmetric_from(A, kw):
    lam = np.sort(np.asarray(kw["eigenvalues"], dtype=np.float64).reshape(-1))
    got = np.linalg.eigvalsh(A.double().numpy())
    assert np.allclose(got, lam, atol=1e-8 * max(1.0, np.abs(lam).max())), "eigenvalues differ"


def _check_spectrum(lam, kw):
    assert lam.shape == (int(kw["n"]),) and np.all(np.diff(lam) <= 0), "not n values, descending"


def _np(x) -> np.ndarray:
    return x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)


def _check_eigs(res, kw):
    """The certificate (each value within its residual of a true eigenvalue, plus rounding) and, when every value
    converged, the best ``k`` of the dense float64 spectrum."""
    ref = _spectrum(kw["op"])
    got, resid = _np(res.eigenvalues), _np(res.residuals)
    scale = max(1.0, float(np.abs(ref).max()))
    eps = float(torch.finfo(res.eigenvalues.dtype).eps)
    slack = 100 * ref.size * eps * scale
    for v, r in zip(got, resid):
        assert np.abs(ref - v).min() <= r + slack, f"{v} is {np.abs(ref - v).min():.2e} from the spectrum, residual {r:.2e}"
    if res.all_converged and res.which in ("LA", "SA", "LM") and got.size:
        best = {"LA": ref, "SA": ref[::-1], "LM": ref[np.argsort(-np.abs(ref), kind="stable")]}[res.which][: got.size]
        key = np.abs if res.which == "LM" else (lambda a: a)
        assert np.allclose(key(got), key(best), atol=float(res.tol) * scale + resid.max() + slack), \
            f"converged {got[:4]} are not the best {best[:4]}"


def _spectrum(op) -> np.ndarray:
    """The eigenvalues of ``op``, descending: a sparse diagonal matrix (the huge families) by its diagonal, any other
    operator from its dense float64 form."""
    import scipy.sparse as sp

    if sp.issparse(op):
        D = sp.csr_matrix(op)
        if (D - sp.diags(D.diagonal())).count_nonzero() == 0:
            return np.sort(D.diagonal().astype(np.float64))[::-1]
    M = _dense(op)
    return np.sort(np.linalg.eigvalsh((M + M.T) / 2))[::-1]


def _dense(op) -> np.ndarray:
    import scipy.sparse as sp

    if isinstance(op, torch.Tensor):
        return op.detach().cpu().double().numpy()
    if isinstance(op, np.ndarray):
        return op.astype(np.float64)
    if sp.issparse(op):
        return op.toarray().astype(np.float64)
    return op @ np.eye(op.shape[1])


def _check_exact(res, kw):
    ref = _spectrum(kw["op"])
    got = _np(res.eigenvalues)
    assert got.shape == ref.shape and np.all(np.abs(got - ref) <= _np(res.residuals) + 1e-8 * max(1.0, np.abs(ref).max()))


def _check_trace(res, kw):
    import scipy.sparse as sp

    M = kw["op"] if sp.issparse(kw["op"]) else _dense(kw["op"])  # a huge sparse operator is never densified
    tr = float(M.diagonal().sum())
    eps = 1e-7 if "float32" in str(getattr(kw["op"], "dtype", "")) else 1e-15
    rounding = 10 * M.shape[0] * eps * max(1.0, float(abs(M).sum()))
    assert abs(res.value - tr) <= 8 * res.stderr + rounding or np.isinf(res.stderr), \
        f"trace {res.value} vs {tr} (stderr {res.stderr})"


def _verdict_refusal(v):
    return v.message if getattr(v, "status", None) == "error" else None


def _check_verdict(v, kw):
    """A verdict on nothing cannot hold: ``compare([], [])`` must not say "holds"; a true prediction holds."""
    pred = kw["prediction"]
    meas = kw["measurement"]
    if np.size(np.asarray(meas.value)) == 0 or np.size(np.asarray(list(pred) if not np.isscalar(pred) else pred)) == 0:
        assert v.status != "holds", "a comparison of empty arrays holds"


def _autograd_hessian(model, X, Y):
    params = [p for p in model.parameters() if p.requires_grad]
    shapes = [p.shape for p in params]
    flat0 = torch.cat([p.detach().reshape(-1) for p in params]).double()

    def loss(flat):
        out, i = {}, 0
        for (name, p), s in zip([(n, p) for n, p in model.named_parameters() if p.requires_grad], shapes):
            out[name] = flat[i:i + p.numel()].reshape(s)
            i += p.numel()
        pred = torch.func.functional_call(model.double(), out, (X.double(),))
        return 0.5 * (pred - Y.double()).pow(2).sum() / X.shape[0]

    return torch.autograd.functional.hessian(loss, flat0)


def _check_hessian(H, kw):
    if not (isinstance(kw["loss"], str) and kw["loss"] == "mse") or not isinstance(kw["model"], torch.nn.Module):
        return
    X, Y = (torch.as_tensor(_np(kw[k])) for k in ("X", "Y"))
    ref = _autograd_hessian(kw["model"], X, Y)
    assert torch.allclose(H.double(), ref, atol=1e-6), "dense Hessian != autograd Hessian"


# ---- the CLI and the runner (validation only: the computation itself is stubbed) ------------------------------------
def _cli(command, out=None, profile="test", seed="0", device="cpu", only="krylov", paths=None):
    """``hessverify reports|verify ...`` with each option given as generated; the report computation is replaced by
    a stub, so a call that passes validation costs nothing. A non-zero exit becomes a ValueError carrying stderr."""
    import hessverify.reports.runner as runner
    from hessverify.cli import main

    argv = [command]
    if command == "reports":
        for flag, value in (("--profile", profile), ("--seed", seed), ("--device", device), ("--only", only),
                            ("--out", out)):
            if value is not None:
                argv += [flag, *(value if isinstance(value, list) else [value])]
    else:
        argv += paths if isinstance(paths, list) else [paths]
    err = io.StringIO()
    real = runner._run
    runner._run = lambda *a, **k: []
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main([str(a) if not isinstance(a, str) else a for a in argv])
            except SystemExit as e:
                code = e.code
    finally:
        runner._run = real
    if code not in (0, None):
        raise ValueError(f"exit {code}: {err.getvalue().strip()}")
    return code


def _run_reports(**kw):
    import hessverify.reports.runner as runner

    real = runner._run
    runner._run = lambda *a, **k: []
    try:
        return runner.run_reports(**kw)
    finally:
        runner._run = real


def _cache_roundtrip(directory, config, result):
    from hessverify.cache import ResultCache

    from tests.fuzz.harness import same

    first = ResultCache(directory).get_or_compute(config, lambda: result)
    again = ResultCache(directory).get_or_compute(config, lambda: {"recomputed": True})
    assert same(again, first), "a stored entry was not read back"
    return first


def _write_then_read(path, text):
    import os

    from hessverify.files import atomic_write_text, confine_writes

    if not isinstance(path, (str, os.PathLike)) or not str(path):
        return atomic_write_text(path, text)  # refused there (the argument check under test)
    with confine_writes(Path(path).parent):
        atomic_write_text(path, text)
    return Path(path).read_bytes().decode("utf-8")


def _idx_file():
    return data_dir() / "train-labels-idx1-ubyte"


# ---- the table ----------------------------------------------------------------------------------------------------
def _targets() -> list[Target]:
    from hessverify import _validation as V
    from hessverify import data as D
    from hessverify import models as M
    from hessverify.data import loaders as L
    from hessverify.data import spectra as SP
    from hessverify.files import refuse_symlinks

    i = functools.partial(Arg, kind="int")
    out = [
        # ---- data ----
        Target("data.whiten", D.whiten, (Arg("X", "tensor", _X), Arg("sigma_x", "real", lambda: 1.5, lo=0.1, hi=5)),
               MINE, _check_whiten),
        Target("data.drop_constant_columns", D.drop_constant_columns, (Arg("X", "tensor", _X),), MINE),
        Target("data.reduce_to_column_rank", D.reduce_to_column_rank, (Arg("X", "tensor", _X),), MINE),
        Target("data.one_hot", D.one_hot, (Arg("labels", "labels", _labels), i("num_classes", make=lambda: 3, lo=1, hi=5),
                                           Arg("dtype", "dtype", lambda: F64)), MINE, _check_one_hot),
        Target("data.pool_images", D.pool_images, (Arg("X", "tensor", lambda: _X(2, 16)), i("side", make=lambda: 4),
                                                   i("factor", make=lambda: 2, lo=1, hi=4)), MINE,
               _check_shape(lambda kw: 2, lambda kw: (int(kw["side"]) // int(kw["factor"])) ** 2)),
        Target("data.label_proportions", D.label_proportions,
               (Arg("labels", "labels", _labels), i("num_classes", make=lambda: 4, lo=3, hi=6, optional=True)), MINE,
               _check_proportions),
        Target("data.imbalanced_subset", D.imbalanced_subset,
               (Arg("labels", "labels", lambda: torch.arange(30) % 3), i("n", make=lambda: 9, lo=1, hi=12),
                Arg("alpha_max", "real", lambda: 0.5, lo=0.34, hi=1.0), i("majority", make=lambda: 1, lo=0, hi=2),
                Arg("generator", "generator", _g, optional=True),
                i("num_classes", make=lambda: 3, lo=3, hi=5, optional=True)), MINE, _check_subset),
        Target("data.gaussian_inputs", D.gaussian_inputs,
               (i("n", make=lambda: 5), i("d0", make=lambda: 3), Arg("generator", "generator", _g, optional=True),
                Arg("dtype", "dtype", lambda: F64)), MINE, _check_shape(lambda kw: kw["n"], lambda kw: kw["d0"])),
        Target("data.gaussian_mixture", D.gaussian_mixture,
               (Arg("labels", "labels", _labels), i("d0", make=lambda: 3),
                Arg("separation", "real", lambda: 2.0, lo=0, hi=5), Arg("generator", "generator", _g, optional=True),
                Arg("dtype", "dtype", lambda: F64)), MINE,
               _check_shape(lambda kw: _rows(kw["labels"]), lambda kw: kw["d0"])),
        Target("data.labels_with_proportion", D.labels_with_proportion,
               (i("n", make=lambda: 10), i("num_classes", make=lambda: 3, lo=2, hi=5),
                Arg("alpha_max", "real", lambda: 0.5, lo=0.34, hi=1.0), Arg("generator", "generator", _g, optional=True),
                i("majority", make=lambda: 0, lo=0, hi=2)), MINE,
               lambda y, kw: np.testing.assert_equal(int((y == int(kw["majority"])).sum()),
                                                     round(float(kw["alpha_max"]) * int(kw["n"])))),
        Target("data.random_labels", D.random_labels,
               (i("n", make=lambda: 10), i("num_classes", make=lambda: 3, lo=2, hi=5),
                Arg("generator", "generator", _g, optional=True)), MINE,
               lambda y, kw: np.testing.assert_(y.shape == (int(kw["n"]),) and int(y.max()) < int(kw["num_classes"]))),
        Target("data.teacher_targets", D.teacher_targets,
               (Arg("X", "tensor", _X), i("d_out", make=lambda: 2), Arg("generator", "generator", _g, optional=True)),
               MINE, _check_shape(lambda kw: _rows(kw["X"]), lambda kw: kw["d_out"])),
        Target("data.teacher_labels", D.teacher_labels,
               (Arg("X", "tensor", _X), i("num_classes", make=lambda: 3, lo=2, hi=5),
                Arg("generator", "generator", _g, optional=True)), MINE),
        Target("data.load_real_dataset", D.load_real_dataset,
               (Arg("name", "choice", lambda: "mnist", choices=("mnist", "fashion_mnist", "cifar10")),
                Arg("root", "path", lambda: data_dir(), optional=True), Arg("train", "bool", lambda: True)), MINE,
               errors=(D.DataFilesMissingError,)),
        Target("data.load_mnist_idx", D.load_mnist_idx, (Arg("root", "path", data_dir), Arg("train", "bool", lambda: True)),
               MINE, lambda r, kw: np.testing.assert_(r[1].tolist() == [0, 3, 9, 1]), errors=(D.DataFilesMissingError,)),
        Target("data.load_cifar10", D.load_cifar10,
               (Arg("root", "path", lambda: data_dir() / "cifar"), Arg("train", "bool", lambda: True),
                Arg("gray28", "bool", lambda: True)), MINE, errors=(D.DataFilesMissingError,)),
        Target("data.load_mnist_csv", D.load_mnist_csv, (Arg("path", "path", lambda: data_dir() / "m.csv"),), MINE,
               lambda r, kw: np.testing.assert_(r[1].tolist() == [1, 2, 3]), errors=(D.DataFilesMissingError,)),
        Target("data.read_idx", L.read_idx, (Arg("path", "path", _idx_file), i("max_bytes", make=lambda: 2**20, lo=0, hi=8)),
               MINE, lambda r, kw: np.testing.assert_(r.tolist() == [0, 3, 9, 1]), errors=(D.DataFilesMissingError,)),
        Target("data.symmetric_from_eigenvalues", SP.symmetric_from_eigenvalues,
               (Arg("eigenvalues", "floats", lambda: [3.0, 1.0, -2.0, 1.0]), Arg("seed", "seed", lambda: 0),
                Arg("dtype", "dtype", lambda: F64)), MINE, _check_symmetric_from),
        Target("data.family_spectrum", SP.family_spectrum,
               (Arg("name", "choice", lambda: "gaussian", choices=SP.FAMILIES[:3]), i("n", make=lambda: 30, lo=1, hi=40),
                Arg("seed", "seed", lambda: 0), Arg("gaussian_sd", "real", lambda: 10.0)), MINE, _check_spectrum),
        Target("data.spiked_wishart", SP.spiked_wishart, (i("n", make=lambda: 6, lo=3, hi=10), Arg("seed", "seed", lambda: 0)),
               MINE, lambda A, kw: np.testing.assert_(torch.equal(A, A.T))),
        Target("data.pareto_wishart", SP.pareto_wishart, (i("n", make=lambda: 6, lo=1, hi=10), Arg("seed", "seed", lambda: 0)),
               MINE, lambda A, kw: np.testing.assert_(torch.equal(A, A.T))),
        # ---- models ----
        Target("models.linear_network", M.linear_network,
               (Arg("widths", "widths", lambda: (3, 4, 2)),
                Arg("activation", "choice", lambda: "tanh", choices=("tanh", "relu", "sigmoid"), optional=True),
                Arg("bias", "bool", lambda: True), Arg("dtype", "dtype", lambda: F64),
                Arg("device", "device", lambda: None, optional=True)), MINE, _check_network),
        Target("models.load_weights", M.load_weights,
               (Arg("model", "model", lambda: _net(), names=("layer", "Linear layers")),
                Arg("weights", "floats", lambda: [torch.ones(4, 3, dtype=F64), torch.ones(2, 4, dtype=F64)])),
               MINE),
        Target("models.get_weights", M.get_weights, (Arg("model", "model", _net),), MINE, nan_ok=True),
        Target("models.balanced_weights", M.balanced_weights,
               (Arg("widths", "widths", lambda: (3, 2, 4)), Arg("singular_values", "floats", lambda: [2.0, 0.5]),
                Arg("generator", "generator", _g, optional=True), Arg("dtype", "dtype", lambda: F64)), MINE,
               _check_balanced),
        Target("models.kaiming_uniform_weights", M.kaiming_uniform_weights,
               (Arg("widths", "widths", lambda: (3, 2, 4)), Arg("generator", "generator", _g, optional=True),
                Arg("dtype", "dtype", lambda: F64)), MINE),
        Target("models.unbalanced_weights", M.unbalanced_weights,
               (Arg("widths", "widths", lambda: (3, 2, 4)), Arg("singular_values", "floats", lambda: [2.0, 0.5]),
                Arg("scales", "floats", lambda: [1.0, 2.0], optional=True),
                Arg("generator", "generator", _g, optional=True), Arg("dtype", "dtype", lambda: F64)), MINE),
        Target("models.balanced_factorization", M.balanced_factorization,
               (Arg("W", "tensor", lambda: _X(2, 3)), Arg("widths", "widths", lambda: (3, 2, 2)),
                Arg("generator", "generator", _g, optional=True)), MINE,
               lambda ws, kw: np.testing.assert_(len(ws) == len(kw["widths"]) - 1)),
        # ---- validation layer, files, cache, runner, CLI ----
        Target("_validation.as_int", lambda value: V.as_int("k", value, minimum=1), (i("value", make=lambda: 3, names=("k",)),),
               MINE, lambda r, kw: np.testing.assert_(type(r) is int and r == int(kw["value"]))),
        Target("_validation.as_float", lambda value: V.as_float("tol", value, minimum=0, maximum=100),
               (Arg("value", "real", lambda: 0.5, names=("tol",)),), MINE,
               lambda r, kw: np.testing.assert_(type(r) is float and 0 <= r <= 100)),
        Target("_validation.as_bool", lambda value: V.as_bool("flag", value), (Arg("value", "bool", lambda: True,
                                                                                   names=("flag",)),), MINE),
        Target("_validation.check_allocation", lambda shape: V.check_allocation("the matrix", shape),
               (Arg("shape", "widths", lambda: (10, 10), names=("the matrix",)),), MINE,
               expect=(("shape", "zero entry", "either"), ("shape", "one entry", "either"), ("shape", "empty", "either"))),
        Target("files.atomic_write_text", _write_then_read,
               (Arg("path", "path", lambda: _out_dir() / "a.md"), Arg("text", "text", lambda: "hello")), MINE,
               lambda r, kw: np.testing.assert_(r == kw["text"])),
        Target("files.refuse_symlinks", refuse_symlinks, (Arg("root", "path", _out_dir),), MINE),
        Target("cache.ResultCache", _cache_roundtrip,
               (Arg("directory", "path", _out_dir), Arg("config", "json", lambda: {"cell": 1}),
                Arg("result", "json", lambda: {"v": [1.0, 2.0]}, names=("compute",))), MINE, nan_ok=True,
               expect=(("config", "list", "invalid"), ("config", "tensor inside", "invalid"),
                       ("result", "wrong type: str", "either"), ("result", "wrong type: dict", "either"),
                       ("result", "None", "either"), ("result", "tensor inside", "invalid"),
                       ("result", "wrong type: object", "invalid"), ("result", "wrong type: complex", "invalid"))),
        Target("runner.run_reports(out)", _run_reports, (Arg("out", "path", _out_dir, optional=True),), MINE),
        Target("runner.run_reports", _run_reports,
               (Arg("out", "path", _out_dir, optional=True), Arg("profile", "choice", lambda: "test", choices=("test", "quick")),
                i("seed", make=lambda: 0, lo=0, hi=3), Arg("only", "floats", lambda: ["krylov"], optional=True),
                Arg("device", "device", lambda: "cpu"), Arg("replace", "bool", lambda: False)), "reports"),
        # every option may be left out (None: its default); a list gives the option several words
        Target("cli.reports", functools.partial(_cli, "reports"),
               (Arg("out", "path", lambda: str(_out_dir()), names=("--out", "out"), optional=True),
                i("seed", make=lambda: 0, lo=0, hi=3, names=("--seed",), optional=True),
                Arg("device", "device", lambda: "cpu", names=("--device",), optional=True),
                Arg("only", "choice", lambda: "krylov", choices=("krylov", "ablations"), names=("--only", "only"),
                    optional=True),
                Arg("profile", "choice", lambda: "test", choices=("test", "quick"), names=("--profile",), optional=True)),
               MINE, expect=(("profile", "list of it", "equivalent"), ("only", "list of it", "equivalent"),
                             ("seed", "string int", "equivalent"), ("seed", "wrong type: str", "either"),
                             ("out", "int", "either"))),  # "--out 3" is a folder named 3
    ]
    return out + _other_targets()


def _other_targets() -> list[Target]:
    """operators, estimators, training, claims: fuzzed in the thorough session, findings in FINDINGS.md."""
    from hessverify import estimators as E
    from hessverify import operators as O
    from hessverify import training as T
    from hessverify.claims import Measurement, build_setting, compare, measure

    i = functools.partial(Arg, kind="int")
    op = Arg("op", "matrix", lambda: _S(12), keyword=False)
    seed = Arg("seed", "seed", lambda: 0, optional=True)
    eig_common = (seed, Arg("tol", "real", lambda: 1e-8, optional=True, lo=1e-10, hi=1e-3),
                  Arg("return_eigenvectors", "bool", lambda: False), Arg("check_symmetry", "bool", lambda: True),
                  Arg("generator", "generator", lambda: None, optional=True))
    out = [
        Target("estimators.exact", E.exact, (op, Arg("return_eigenvectors", "bool", lambda: False),
                                             i("max_bytes", make=lambda: 2**20, lo=0, hi=2**12)), "estimators", _check_exact),
        Target("estimators.lanczos", E.lanczos,
               (op, i("k", make=lambda: 2, lo=1, hi=8), Arg("which", "choice", lambda: "LA", choices=("LA", "SA", "LM", "BE")),
                i("max_iter", make=lambda: None, lo=1, hi=60, optional=True),
                Arg("v0", "vector", lambda: torch.ones(12, dtype=F64), optional=True),
                Arg("reorth", "choice", lambda: "full", choices=("full", "double", "none", "selective")),
                Arg("certify_multiplicities", "bool", lambda: True),
                Arg("failure_probability", "real", lambda: 1e-3, lo=1e-6, hi=0.5), *eig_common),
               "estimators", _check_eigs),
        Target("estimators.lanczos_ritz", E.lanczos_ritz,
               (op, i("num_iter", make=lambda: 12, lo=1, hi=12, optional=True),
                Arg("reorth", "choice", lambda: "full", choices=("full", "double", "none")), seed), "estimators"),
        Target("estimators.block_lanczos", E.block_lanczos,
               (op, i("k", make=lambda: 2, lo=1, hi=4), Arg("which", "choice", lambda: "LA", choices=("LA", "SA")),
                i("block_size", make=lambda: 2, lo=1, hi=3, optional=True), *eig_common), "estimators", _check_eigs),
        Target("estimators.lobpcg", E.lobpcg,
               (op, i("k", make=lambda: 1, lo=1, hi=2), Arg("which", "choice", lambda: "LA", choices=("LA", "SA")),
                i("max_iter", make=lambda: 200, lo=1, hi=300, optional=True), *eig_common), "estimators", _check_eigs),
        Target("estimators.power_iteration", E.power_iteration,
               (op, i("k", make=lambda: 1, lo=1, hi=3), i("max_iter", make=lambda: 2000, lo=1, hi=3000, optional=True),
                *eig_common), "estimators", _check_eigs),
        # k=3: |lambda_4 / lambda_3| = 0.90 on _S(12), 159 iterations (k=2: 0.98, 876); max_iter 300 bounds a call
        Target("estimators.subspace_iteration", E.subspace_iteration,
               (op, i("k", make=lambda: 3, lo=1, hi=4), i("max_iter", make=lambda: 300, lo=1, hi=3000, optional=True),
                *eig_common), "estimators", _check_eigs),
        Target("estimators.hutchinson", E.hutchinson,
               (op, i("num_matvecs", make=lambda: 50, lo=2, hi=200), seed,
                Arg("distribution", "choice", lambda: "rademacher", choices=("rademacher", "gaussian")),
                i("block", make=lambda: 16, lo=1, hi=32), i("min_samples", make=lambda: 10, lo=2, hi=20),
                Arg("rtol", "real", lambda: None, optional=True, lo=1e-3, hi=0.5)), "estimators", _check_trace),
        Target("estimators.hutchpp", E.hutchpp,
               (op, i("num_matvecs", make=lambda: 30, lo=3, hi=60), seed,
                Arg("distribution", "choice", lambda: "rademacher", choices=("rademacher", "gaussian"))),
               "estimators", _check_trace),
        Target("estimators.spectral_density", E.spectral_density,
               (op, i("num_iter", make=lambda: 8, lo=1, hi=8), i("num_vectors", make=lambda: 2, lo=1, hi=4),
                i("grid", make=lambda: 32, lo=2, hi=64, optional=True), Arg("kappa", "real", lambda: 3.0, lo=1.5, hi=5),
                seed, Arg("margin", "real", lambda: 0.05, lo=0, hi=0.5), Arg("log_scale", "bool", lambda: False)),
               "estimators"),
        Target("operators.hessian", lambda **kw: O.hessian(**kw).dense(),
               (Arg("model", "model", _net), Arg("loss", "loss", lambda: "mse"), Arg("X", "tensor", _X, names=("inputs",)),
                Arg("Y", "tensor", lambda: _X(6, 2), names=("targets",)),
                Arg("backend", "choice", lambda: "double_backward", choices=tuple(O.BACKENDS)),
                i("batch_size", make=lambda: 3, lo=1, hi=7, optional=True)), "operators", _check_hessian),
        Target("operators.ggn", lambda **kw: O.ggn(**kw).dense(),
               (Arg("model", "model", _net), Arg("loss", "loss", lambda: "mse"), Arg("X", "tensor", _X, names=("inputs",)),
                Arg("Y", "tensor", lambda: _X(6, 2), names=("targets",)),
                i("batch_size", make=lambda: 3, lo=1, hi=7, optional=True)),
               "operators"),
        Target("operators.ntk", lambda **kw: O.ntk(**kw).dense(), (Arg("model", "model", _net), Arg("X", "tensor", _X)),
               "operators", expect=(("X", "3-D", "either"),)),  # a model may take extra input dims (sequences)
        Target("training.TrainConfig", T.TrainConfig,
               (i("epochs", make=lambda: 5), Arg("lr", "real", lambda: 0.01, lo=1e-4, hi=0.1), i("window", make=lambda: 3),
                Arg("min_improvement", "real", lambda: 1e-3, lo=0, hi=0.5),
                i("max_halvings", make=lambda: 2, lo=0, hi=5, optional=True),
                Arg("loss_tol", "real", lambda: 1e-14, lo=0, hi=1e-3), i("checkpoint_every", make=lambda: 0, lo=0, hi=5),
                Arg("stop_gap", "real", lambda: None, optional=True, lo=0, hi=1)), "training"),
        Target("training.train_full_batch", lambda **kw: T.train_full_batch(**kw).losses,
               (Arg("model", "model", _net), Arg("X", "tensor", _X), Arg("Y", "tensor", lambda: _X(6, 2)),
                Arg("config", "config", lambda: T.TrainConfig(epochs=5)),
                Arg("callback", "callable", lambda: None, optional=True)), "training"),
        Target("claims.build_setting", build_setting,
               (Arg("kind", "choice", lambda: "linear", choices=("linear", "balanced_linear", "mlp")),
                Arg("widths", "widths", lambda: (3, 2)), i("n", make=lambda: 6, lo=3, hi=10, optional=True),
                Arg("sigma_x", "real", lambda: 1.0, optional=True, lo=0.25, hi=3), Arg("seed", "seed", lambda: 0),
                Arg("activation", "choice", lambda: None, choices=("tanh", "relu"), optional=True),
                Arg("bias", "bool", lambda: False), Arg("dtype", "choice", lambda: "float64", choices=("float64", "float32"))),
               "claims"),
        Target("claims.compare", compare,
               (Arg("prediction", "floats", lambda: [1.0, 2.0], keyword=False),
                Arg("measurement", "any", lambda: Measurement(np.array([1.0, 2.0]), np.array([1e-9, 1e-9]), "m", 2, 1e-16),
                    keyword=False),
                Arg("relation", "choice", lambda: "eq", choices=("eq", "le", "ge")), Arg("sort", "bool", lambda: False)),
               "claims", _check_verdict, refusal=_verdict_refusal),
        Target("claims.compare(empty measurement)", compare,
               (Arg("prediction", "floats", lambda: [], keyword=False),
                Arg("measurement", "any", lambda: Measurement(np.array([]), np.array([]), "m", 0, 1e-16), keyword=False)),
               "claims", _check_verdict, refusal=_verdict_refusal,
               # every call compares empty arrays: an error verdict is the right answer for all of them
               expect=tuple(("prediction", f, "invalid") for f in ("list", "numpy array", "tuple"))),
        Target("claims.measure", measure,
               (Arg("setting", "any", lambda: build_setting("linear", (2, 2), n=4), keyword=False),
                Arg("quantity", "choice", lambda: "lambda_max", choices=("lambda_max", "trace", "rank", "dense")),
                Arg("operator", "choice", lambda: "ggn", choices=("ggn", "hessian", "ntk")),
                i("k", make=lambda: 1, lo=1, hi=4, optional=True)), "claims"),
    ]
    return out


TARGETS = _targets()
BY_NAME = {t.name: t for t in TARGETS}
