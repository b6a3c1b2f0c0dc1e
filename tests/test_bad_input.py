"""One row per bad input at a public entry point: the exception type and the words its message must contain
(the argument's name and what to do)."""

import numpy as np
import pytest
import scipy.sparse.linalg as sla
import torch

from hessverify import conjecture, strategies as st
from hessverify.cli import main as cli_main
from hessverify.claims import Measurement, build_operator, compare, measure
from hessverify.data import (DataFilesMissingError, drop_constant_columns, gaussian_inputs, gaussian_mixture,
                             imbalanced_subset, label_proportions, labels_with_proportion, load_cifar10,
                             load_mnist_idx, load_real_dataset, one_hot, random_labels, reduce_to_column_rank,
                             teacher_labels, teacher_targets, whiten)
from hessverify.data import spectra
from hessverify.estimators import (exact, hutchinson, hutchpp, lanczos, lanczos_ritz, lobpcg, power_iteration,
                                   spectral_density, subspace_iteration)
from hessverify.models import (balanced_factorization, balanced_weights, get_weights, kaiming_uniform_weights,
                               linear_network, load_weights, unbalanced_weights)
from hessverify.reports.runner import run_reports
from hessverify.training import TrainConfig, train_full_batch
from hessverify.operators import ggn, hessian, ntk
from hessverify.claims import build_setting
from hessverify.claims.assumptions import zero_loss
from theory import hessian_rank as R, hierarchy as Hy, initialisation as TI, linear as T, raw_inputs as RI
from theory import symbolic as S

F64 = torch.float64


def net():
    torch.manual_seed(0)
    return linear_network((3, 4, 2), activation="tanh", bias=True)


X = torch.randn(6, 3, dtype=F64, generator=torch.Generator().manual_seed(0))
Y = torch.randn(6, 2, dtype=F64, generator=torch.Generator().manual_seed(1))
LAB = torch.tensor([0, 1, 0, 1, 1, 0])
SYM = torch.diag(torch.arange(1.0, 7.0, dtype=F64))


def nan_net():
    m = net()
    with torch.no_grad():
        m[0].weight[0, 0] = float("nan")
    return m


def dropout_net():
    return torch.nn.Sequential(torch.nn.Linear(3, 2, dtype=F64), torch.nn.Dropout(0.5))


def batchnorm_net():
    return torch.nn.Sequential(torch.nn.Linear(3, 2, dtype=F64), torch.nn.BatchNorm1d(2, dtype=F64))


def corrupt_cifar(tmp):
    (tmp / "data_batch_1").write_bytes(b"garbage")
    return load_cifar10(tmp)


def corrupt_idx(tmp):
    (tmp / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 3)
    (tmp / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x01\x00")
    return load_mnist_idx(tmp)


ROWS = [
    # models
    ("widths too short (depth 0)", lambda t: linear_network((3,)), ValueError, "widths.*depth"),
    ("zero width", lambda t: linear_network((3, 0, 2)), ValueError, "widths\\[1\\].*positive"),
    ("negative width", lambda t: linear_network((3, -1)), ValueError, "widths\\[1\\]"),
    ("float width", lambda t: linear_network((3, 2.5)), TypeError, "widths\\[1\\]"),
    ("unknown activation", lambda t: linear_network((3, 2), activation="gelu"), ValueError, "activation"),
    ("weights wrong count", lambda t: linear_network((3, 2), weights=[torch.ones(2, 3), torch.ones(1, 2)]),
     ValueError, "one weight matrix per layer"),
    ("weights wrong shape", lambda t: load_weights(net(), [torch.ones(4, 3), torch.ones(3, 4)]), ValueError,
     "weights\\[1\\].*shape"),
    ("weights with NaN", lambda t: load_weights(net(), [torch.full((4, 3), float("nan")), torch.ones(2, 4)]),
     ValueError, "NaN"),
    ("singular values wrong count", lambda t: balanced_weights((3, 4, 2), [1.0]), ValueError, "min\\(widths\\)"),
    ("negative singular values", lambda t: balanced_weights((3, 4, 2), [1.0, -1.0]), ValueError, "non-negative"),
    ("unbalanced scales count", lambda t: unbalanced_weights((3, 3), [1.0] * 3, scales=[1, 2]), ValueError, "scales"),
    # data
    ("whiten n < d0", lambda t: whiten(torch.randn(2, 3, dtype=F64)), ValueError, "n >= d0"),
    ("whiten rank deficient", lambda t: whiten(torch.ones(5, 2, dtype=F64)), ValueError, "drop_constant_columns"),
    ("whiten sigma_x <= 0", lambda t: whiten(X, 0.0), ValueError, "sigma_x"),
    ("whiten NaN", lambda t: whiten(torch.full((4, 2), float("nan"), dtype=F64)), ValueError, "X contains NaN"),
    ("whiten 1-D", lambda t: whiten(torch.ones(4, dtype=F64)), ValueError, "X must be 2-D"),
    ("one_hot out of range", lambda t: one_hot(torch.tensor([0, 3]), 3), ValueError, "num_classes"),
    ("one_hot float labels", lambda t: one_hot(torch.tensor([0.0, 1.0]), 2), TypeError, "integer"),
    ("alpha_max < 1/C", lambda t: imbalanced_subset(LAB, 4, 0.4), ValueError, "alpha_max.*\\[1/C, 1\\]"),
    ("alpha_max > 1", lambda t: imbalanced_subset(LAB, 4, 1.2), ValueError, "alpha_max"),
    ("class too small", lambda t: imbalanced_subset(LAB, 6, 1.0), ValueError, "class 0 has 3 samples.*lower n"),
    ("majority not a class", lambda t: imbalanced_subset(LAB, 4, 0.75, majority=5), ValueError, "majority"),
    ("gaussian_inputs n=0", lambda t: gaussian_inputs(0, 3), ValueError, "n = 0"),
    ("random_labels one class", lambda t: random_labels(4, 1), ValueError, "num_classes"),
    ("unknown data set", lambda t: load_real_dataset("imagenet"), ValueError, "digits"),
    ("missing IDX files", lambda t: load_mnist_idx(t), DataFilesMissingError, "train-images-idx3-ubyte"),
    ("corrupt IDX file", corrupt_idx, ValueError, "truncated.*fetch it again"),
    ("missing CIFAR batches", lambda t: load_cifar10(t), DataFilesMissingError, "cifar-10-batches-py"),
    ("corrupt CIFAR batch", corrupt_cifar, ValueError, "CIFAR-10 python batch"),
    # operators
    ("unknown loss", lambda t: hessian(net(), "hinge", X, Y), ValueError, "loss='hinge'"),
    ("unknown backend", lambda t: hessian(net(), "mse", X, Y, backend="autodiff"), ValueError, "backend"),
    ("compile with double_backward", lambda t: hessian(net(), "mse", X, Y, compile=True), ValueError,
     "backend='jvp'"),
    ("compile not bool or str", lambda t: hessian(net(), "mse", X, Y, backend="jvp", compile=1), TypeError,
     "compile must be"),
    ("model is not a Module", lambda t: ggn(lambda x: x, "mse", X, Y), TypeError, "torch.nn.Module"),
    ("X of the wrong width", lambda t: hessian(net(), "mse", torch.randn(6, 5, dtype=F64), Y), ValueError,
     "cannot take X of shape \\(6, 5\\)"),
    ("X without sample dimension", lambda t: ntk(net(), torch.randn(3, dtype=F64)), ValueError, "X\\[None\\]"),
    ("X and Y rows differ", lambda t: hessian(net(), "mse", X, Y[:4]), ValueError, "Y has 4 rows but X has 6"),
    ("Y missing", lambda t: ggn(net(), "mse", X), TypeError, "Y is missing"),
    ("X dtype differs from model", lambda t: hessian(net(), "mse", X.float(), Y), TypeError, "dtype"),
    ("labels for mse", lambda t: hessian(net(), "mse", X, LAB), TypeError, "one_hot"),
    ("labels out of range", lambda t: ggn(net(), "cross_entropy", X, LAB + 5), ValueError, "labels must lie"),
    ("NaN in X", lambda t: hessian(net(), "mse", torch.full_like(X, float("nan")), Y), ValueError, "X contains NaN"),
    ("NaN in parameters", lambda t: ggn(nan_net(), "mse", X, Y), ValueError, "parameters contains NaN"),
    ("dropout in training mode", lambda t: hessian(dropout_net(), "mse", X, Y), ValueError, "model.eval\\(\\)"),
    ("batch norm in training mode", lambda t: ggn(batchnorm_net(), "mse", X, Y), ValueError, "model.eval\\(\\)"),
    ("one-shot iterator of batches", lambda t: hessian(net(), "mse", iter([(X, Y)])), TypeError, "re-iterable"),
    ("bad batch_size", lambda t: hessian(net(), "mse", X, Y, batch_size=0), ValueError, "batch_size"),
    ("matvec dtype mismatch", lambda t: hessian(net(), "mse", X, Y).matvec(torch.ones(26)), TypeError,
     "v has dtype"),
    ("matvec wrong length", lambda t: ggn(net(), "mse", X, Y).matvec(torch.ones(5, dtype=F64)), ValueError,
     "leading size 5"),
    ("matvec device mismatch", lambda t: hessian(net(), "mse", X, Y).matvec(torch.ones(26, dtype=F64, device="meta")),
     ValueError, "move it"),
    # estimators
    ("non-square operator", lambda t: exact(torch.ones(3, 4, dtype=F64)), ValueError, "square"),
    ("non-symmetric dense", lambda t: lanczos(torch.triu(torch.ones(6, 6, dtype=F64)), k=2), ValueError,
     "not symmetric"),
    ("non-symmetric probe", lambda t: lanczos(sla.aslinearoperator(np.triu(np.ones((6, 6)))), k=2), ValueError,
     "u.\\(Av\\)"),
    ("not an operator", lambda t: lanczos("matrix", k=2), TypeError, "shape and .matvec"),
    ("NaN operator", lambda t: exact(torch.full((3, 3), float("nan"), dtype=F64)), ValueError, "NaN"),
    ("k equal to size", lambda t: lanczos(SYM, k=6), ValueError, "k=6 must satisfy 1 <= k <= 5"),
    ("k zero", lambda t: lobpcg(SYM, k=0), ValueError, "k=0"),
    ("k not an int", lambda t: power_iteration(SYM, k=1.5), TypeError, "k must be an int"),
    ("LOBPCG block too large", lambda t: lobpcg(SYM, k=2), ValueError, "block of 4 vectors"),
    ("unknown which", lambda t: lanczos(SYM, k=2, which="LR"), ValueError, "which='LR'"),
    ("certify_multiplicities not bool", lambda t: lanczos(SYM, k=2, certify_multiplicities="no"), TypeError,
     "certify_multiplicities must be True or False"),
    ("unknown reorth", lambda t: lanczos(SYM, k=2, reorth="partial"), ValueError, "reorth='partial'"),
    ("negative tol", lambda t: lanczos(SYM, k=2, tol=-1.0), ValueError, "tol"),
    ("bad max_iter", lambda t: lanczos(SYM, k=2, max_iter=0), ValueError, "max_iter"),
    ("lanczos_ritz num_iter 0", lambda t: lanczos_ritz(SYM, num_iter=0), ValueError, "num_iter"),
    ("subspace k too large", lambda t: subspace_iteration(SYM, k=6), ValueError, "k=6"),
    ("hutchinson zero samples", lambda t: hutchinson(SYM, 0), ValueError, "num_matvecs = 0"),
    ("hutchinson distribution", lambda t: hutchinson(SYM, 4, distribution="uniform"), ValueError, "distribution"),
    ("hutchpp too few matvecs", lambda t: hutchpp(SYM, 2), ValueError, "num_matvecs"),
    ("density kappa", lambda t: spectral_density(SYM, 4, kappa=1.0), ValueError, "kappa"),
    ("exact too large", lambda t: exact(SYM, max_bytes=10), ValueError, "max_bytes"),
    ("power v0 wrong length", lambda t: power_iteration(SYM, k=1, v0=torch.ones(3, dtype=F64)), ValueError, "v0"),
    # theory
    ("theory widths", lambda t: T.balanced_spectrum((2, 0), [1.0], 1.0), ValueError, "width"),
    ("theory sigma_x", lambda t: T.ggn_trace([np.ones((2, 2))], -1.0), ValueError, "sigma_x"),
    ("theory weights chain", lambda t: T.lambda_max_upper_bound([np.ones((2, 3)), np.ones((2, 3))], 1.0), ValueError,
     "chain"),
    ("theory alpha_max", lambda t: T.sharpness_from_labels(0.0, 2, 1.0), ValueError, "alpha_max"),
    ("hierarchy shapes", lambda t: Hy.ggn_decomposition(np.ones((2, 3)), np.ones((2, 3)), np.zeros(2, int)), ValueError,
     "jacobians"),
    # bridge
    ("unknown quantity", lambda t: conjecture(setting=st.linear_networks(), quantity="norm"), ValueError, "quantity"),
    ("unknown operator", lambda t: conjecture(setting=st.linear_networks(), operator="fisher"), ValueError, "operator"),
    ("unknown relation", lambda t: conjecture(setting=st.linear_networks(), relation="<"), ValueError, "relation"),
    ("unknown expect", lambda t: conjecture(setting=st.linear_networks(), expect="maybe"), ValueError, "expect"),
    ("prediction of wrong shape", lambda t: compare([1.0, 2.0], Measurement(np.ones(3), np.zeros(3), "m", 3, 1e-16)),
     ValueError, "every eigenvalue"),
    ("assumption not a predicate", lambda t: conjecture(setting=st.linear_networks(), assumptions=[3.0]), TypeError,
     "Assumption"),
    ("assumption rtol", lambda t: zero_loss(rtol=-1.0), ValueError, "rtol"),
    ("unknown setting loss", lambda t: build_setting("linear", (2, 2), loss="hinge"), ValueError, "loss"),
    ("unknown setting targets", lambda t: build_setting("linear", (2, 2), targets="labels"), ValueError, "targets"),
    ("unknown setting dtype", lambda t: build_setting("linear", (2, 2), dtype="float16"), ValueError, "dtype"),
    ("unknown setting kind", lambda t: build_setting(kind="resnet"), ValueError, "kind"),
    ("least-squares without targets", lambda t: build_setting("linear", (2, 2), at_least_squares_solution=True),
     ValueError, "at_least_squares_solution"),
]


def _flat_net():
    return linear_network((2, 2))


def _xy(n=8, d0=2, dL=2, nan_row=None):
    g = torch.Generator().manual_seed(0)
    X, Y = torch.randn(n, d0, generator=g, dtype=F64), torch.randn(n, dL, generator=g, dtype=F64)
    if nan_row is not None:
        X[nan_row, 0] = float("nan")
    return X, Y


def _batches(bad: str):
    X, Y = _xy()
    pairs = [(X[:4], Y[:4]), (X[4:], Y[4:])]
    if bad == "rows":
        pairs[1] = (X[4:], Y[4:7])
    if bad == "nan":
        pairs[1] = (X[4:].clone().fill_(float("nan")), Y[4:])
    if bad == "labels":
        pairs = [(X[:4], torch.tensor([0, 1, 0, 1])), (X[4:], torch.tensor([0, 1, 2, 1]))]
    return pairs


def _shuffling_loader():
    X, Y = _xy(20)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, Y), batch_size=6, shuffle=True, drop_last=True)


ROWS += [
    ("Y shorter than X, batched", lambda t: hessian(_flat_net(), "mse", _xy()[0], _xy()[1][:7], batch_size=6),
     ValueError, "Y has 7 rows but X has 8"),
    ("Y longer than X", lambda t: hessian(_flat_net(), "mse", _xy()[0][:7], _xy()[1], batch_size=6), ValueError,
     "Y has 8 rows but X has 7"),
    ("NaN in a later tensor batch", lambda t: ggn(_flat_net(), "mse", *_xy(nan_row=7), batch_size=4), ValueError,
     "NaN"),
    ("mis-sized later batch", lambda t: hessian(_flat_net(), "mse", _batches("rows")), ValueError, "batch 1"),
    ("NaN in a later batch", lambda t: ggn(_flat_net(), "mse", _batches("nan")), ValueError, "batch 1"),
    ("label out of range in a later batch", lambda t: hessian(_flat_net(), "cross_entropy", _batches("labels")),
     ValueError, "batch 1: labels"),
    ("shuffling DataLoader", lambda t: hessian(_flat_net(), "mse", _shuffling_loader()), ValueError,
     "not deterministic|changes between passes"),
    ("complex inputs", lambda t: hessian(_flat_net(), "mse", torch.ones(3, 2, dtype=torch.complex128),
                                         torch.ones(3, 2, dtype=F64)), TypeError, "complex"),
    ("complex model", lambda t: ggn(linear_network((2, 2), dtype=torch.complex128), "mse", *_xy()), TypeError,
     "complex"),
    ("half-precision model", lambda t: hessian(linear_network((2, 2), dtype=torch.float16), "mse", *_xy()),
     TypeError, "half precision"),
    ("loss without reduction", lambda t: hessian(_flat_net(), torch.nn.MSELoss(reduction="none"), *_xy()),
     ValueError, "reduction='none'"),
    ("per-sample loss callable", lambda t: hessian(_flat_net(), lambda o, y: ((o - y) ** 2).sum(1), *_xy()),
     ValueError, "not a scalar"),
    ("reduction contradicts the loss", lambda t: hessian(_flat_net(), torch.nn.MSELoss(), *_xy(), reduction="sum"),
     ValueError, "contradicts"),
    ("unknown reduction", lambda t: ggn(_flat_net(), lambda o, y: o.sum(), *_xy(), reduction="max"), ValueError,
     "reduction"),
    ("params not of the model", lambda t: hessian(_flat_net(), "mse", *_xy(), params=[torch.nn.Parameter(
        torch.ones(2))]), ValueError, "not a parameter of the model"),
    ("params empty", lambda t: ntk(_flat_net(), _xy()[0], params=[]), ValueError, "params is empty"),
    ("every parameter frozen", lambda t: hessian(_flat_net().requires_grad_(False), "mse", *_xy()), ValueError,
     "requires_grad"),
    ("mapping batch without keys", lambda t: hessian(_flat_net(), "mse", [{"x": _xy()[0], "y": _xy()[1]}]),
     TypeError, "input_key"),
    ("mapping batch missing key", lambda t: hessian(_flat_net(), "mse", [{"x": _xy()[0], "y": _xy()[1]}],
                                                    input_key="x", target_key="label"), KeyError, "label"),
    ("sequence outputs with named cross-entropy", lambda t: hessian(torch.nn.Conv1d(2, 3, 1).double(),
                                                                    "cross_entropy", torch.ones(4, 2, 5, dtype=F64),
                                                                    torch.zeros(4, 5, dtype=torch.long)),
     TypeError, "integer tensor of class labels|CrossEntropyLoss"),
    ("complex matrix to exact", lambda t: exact(torch.eye(3, dtype=torch.complex128)), TypeError, "complex"),
    ("complex array to lanczos", lambda t: lanczos(np.eye(4, dtype=complex), k=1), TypeError, "complex"),
    ("complex whiten", lambda t: whiten(torch.ones(4, 2, dtype=torch.complex64)), TypeError, "complex"),
    ("float16 whiten", lambda t: whiten(torch.ones(4, 2, dtype=torch.float16)), TypeError, "float16"),
]


ROWS += [
    ("linear_layers of a non-module", lambda t: get_weights("net"), TypeError,
     "torch.nn.Module"),
    ("kaiming widths", lambda t: kaiming_uniform_weights((2,)), ValueError,
     "widths"),
    ("balanced_factorization shape", lambda t: balanced_factorization(
        torch.ones(3, 3, dtype=F64), (2, 2, 3)), ValueError, "\\(d_L, d_0\\)"),
    ("drop_constant_columns 1-D", lambda t: drop_constant_columns(torch.ones(3)),
     ValueError, "X must be 2-D"),
    ("reduce_to_column_rank NaN", lambda t: reduce_to_column_rank(
        torch.full((3, 2), float("nan"), dtype=F64)), ValueError, "NaN"),
    ("label_proportions float", lambda t: label_proportions(torch.ones(3)),
     TypeError, "integer"),
    ("gaussian_mixture d0", lambda t: gaussian_mixture(LAB, 0), ValueError, "d0"),
    ("labels_with_proportion alpha", lambda t: labels_with_proportion(10, 4, 0.1),
     ValueError, "alpha_max"),
    ("teacher_targets d_out", lambda t: teacher_targets(X, 0), ValueError,
     "d_out"),
    ("teacher_labels one class", lambda t: teacher_labels(X, 1), ValueError,
     "num_classes"),
    ("spectra: empty", lambda t: spectra.symmetric_from_eigenvalues([]),
     ValueError, "non-empty"),
    ("spectra: unknown family", lambda t: spectra.family_spectrum("x", 5),
     ValueError, "family"),
    ("spectra: spiked n", lambda t: spectra.spiked_wishart(2), ValueError,
     "three spikes"),
    ("train: epochs 0", lambda t: TrainConfig(epochs=0), ValueError,
     "epochs"),
    ("train: Y shape", lambda t: train_full_batch(
        _flat_net(), torch.ones(3, 2, dtype=F64), torch.ones(3, 5, dtype=F64)), ValueError, "Y has shape"),
    ("measure: unknown quantity", lambda t: measure(build_setting("linear", (2, 2)), "norm"), ValueError,
     "quantity"),
    ("build_operator: unknown", lambda t: build_operator(
        build_setting("linear", (2, 2)), "fisher"), ValueError, "operator"),
    ("strategies: k", lambda t: st.singular_values(0), ValueError, "k=0"),
    ("strategies: sigma_x", lambda t: st.sigma_x(low=0.0), ValueError, "sigma_x"),
    ("strategies: activation", lambda t: st.mlps(activation="gelu"), ValueError, "activation"),
    ("strategies: max_params", lambda t: st.widths(max_params=0), ValueError, "max_params"),
    ("reports: profile", lambda t: run_reports(t, "huge"),
     ValueError, "profile"),
    ("reports: only", lambda t: run_reports(t, only=["x"]),
     ValueError, "only"),
    ("theory: num_params widths", lambda t: T.num_params((3,)), ValueError, "depth"),
    ("theory: pairwise depth", lambda t: T.pairwise_eigenvalues([1.0], [1.0], 0, 1.0), ValueError, "depth"),
    ("theory: closed form negative", lambda t: T.geometric_closed_form([-1.0], [1.0], 2), ValueError, "non-negative"),
    ("theory: max_nonzero widths", lambda t: T.max_nonzero_eigenvalues((0, 2)), ValueError, "width"),
    ("theory: shallow_lambda_max chain", lambda t: T.shallow_lambda_max(np.ones((2, 3)), np.ones((2, 4)), 1.0),
     ValueError, "chain"),
    ("theory: singh NaN", lambda t: T.singh_lambda_max(np.full((2, 2), np.nan), np.ones((2, 2)), 1.0), ValueError,
     "NaN"),
    ("theory: prefix_suffix layer", lambda t: T.prefix_suffix([np.ones((2, 2))], 2), ValueError, "layer"),
    ("theory: shallow_trace 1-D", lambda t: T.shallow_trace(np.ones(2), np.ones((2, 2)), 1.0), ValueError, "2-D"),
    ("theory: ntk X width", lambda t: T.ntk_kronecker_sum([np.ones((2, 3))], np.ones((4, 2))), ValueError, "columns"),
    ("theory: eigenvectors X", lambda t: T.balanced_ntk_eigenvectors(np.ones((2, 3)), np.ones((2, 2)), np.ones((4, 2))),
     ValueError, "columns"),
    ("theory: end_to_end rows", lambda t: T.end_to_end_least_squares(np.ones((4, 2)), np.ones((3, 2)), 1.0), ValueError,
     "rows"),
    ("theory: labels depth", lambda t: T.singular_values_from_labels(np.ones((4, 2)), 0, 1.0), ValueError, "depth"),
    ("theory: eq14 n", lambda t: T.sharpness_from_labels_singular_value(1.0, 0, 2, 1.0), ValueError, "n=0"),
    ("theory: per-sample gradients", lambda t: Hy.per_sample_gradients(np.ones((2, 3, 4)), np.ones((2, 2))), ValueError,
     "probs"),
    ("theory: gauss_newton probs", lambda t: Hy.gauss_newton(np.ones((2, 2, 4)), np.ones((2, 2))), ValueError,
     "probability"),
    ("theory: symbolic depth", lambda t: S.geometric_sum_residual_at(0), ValueError,
     "depth"),
    ("theory: symbolic sizes", lambda t: S.trace_identity_residual(0), ValueError,
     "at least 1"),
    ("theory: raw-input symbolic sizes", lambda t: S.raw_input_charpoly_residual(0), ValueError, "at least 1"),
    ("theory: rank input_rank", lambda t: R.outer_product_rank((3, 2, 2), -1), ValueError, "input_rank"),
    ("theory: rank widths", lambda t: R.hessian_rank((3,), 1), ValueError, "depth"),
    ("theory: raw inputs not commuting", lambda t: RI.shallow_spectrum_commuting(
        np.array([[1.0, 0.0]]), np.ones((2, 1)), np.array([[2.0, 1.0], [1.0, 1.0]])), ValueError, "commute"),
    ("theory: init variances", lambda t: TI.expected_ggn_trace((2, 3), [1.0, 2.0], 1.0), ValueError, "variances"),
    ("theory: balanced init scale", lambda t: TI.balanced_init_trace((2, 3), -1.0, 1.0), ValueError, "scale"),
    ("setting: input_rank whitened", lambda t: build_setting(kind="linear", widths=(3, 2), input_rank=1),
     ValueError, "sigma_x=None"),
    ("setting: input_rank zero", lambda t: build_setting(kind="linear", widths=(3, 2), sigma_x=None, input_rank=0),
     ValueError, "input_rank"),
    ("setting: input_spectrum size", lambda t: build_setting(kind="linear", widths=(3, 2), sigma_x=None,
                                                             input_spectrum=[1.0]), ValueError, "3 positive"),
    ("setting: input_spectrum whitened", lambda t: build_setting(kind="linear", widths=(3, 2), input_spectrum=[1.0] * 3),
     ValueError, "sigma_x=None"),
    ("setting: input_spectrum n < d0", lambda t: build_setting(kind="linear", widths=(3, 2), n=2, sigma_x=None,
                                                               input_spectrum=[1.0] * 3), ValueError, "n >= d0"),
    ("setting: linear_cnn without spatial", lambda t: build_setting(kind="linear_cnn", widths=(1, 2, 2), sigma_x=None),
     ValueError, "spatial"),
    ("setting: linear_cnn kernel too large", lambda t: build_setting(kind="linear_cnn", widths=(1, 2, 2), sigma_x=None,
                                                                     spatial=(2,), kernel=3), ValueError, "kernel=3"),
    ("setting: linear_cnn 3-D", lambda t: build_setting(kind="linear_cnn", widths=(1, 2, 2), sigma_x=None,
                                                        spatial=(3, 3, 3), kernel=1), ValueError, "2-D"),
    ("setting: linear_cnn labels", lambda t: build_setting(kind="linear_cnn", widths=(1, 2, 2), sigma_x=None,
                                                           spatial=(3,), kernel=1, targets="one_hot"),
     ValueError, "targets"),
]




def test_cli_names_a_missing_path(tmp_path, capsys):
    assert cli_main(["verify", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


class _TurnsNaN:
    """A symmetric operator whose products turn NaN after ``after`` columns (a model that diverges midway)."""

    def __init__(self, d=30, after=8, shape_bug=False):
        g = torch.Generator().manual_seed(0)
        M = torch.randn(d, d, generator=g, dtype=F64)
        self.A, self.after, self.count, self.shape_bug = M + M.T, after, 0, shape_bug
        self.shape, self.dtype = (d, d), F64

    def matmat(self, V):
        self.count += V.shape[1]
        if self.shape_bug:
            return (self.A @ V)[:-1]
        out = self.A @ V
        return out * float("nan") if self.count > self.after else out

    def matvec(self, v):
        return self.matmat(v[:, None])[:, 0]


def _sym(d=30):
    M = torch.randn(d, d, generator=torch.Generator().manual_seed(1), dtype=F64)
    return M + M.T


ROWS += [
    ("lanczos tol inf", lambda t: lanczos(_sym(), k=2, tol=float("inf")), ValueError, "tol = inf"),
    ("lanczos tol string", lambda t: lanczos(_sym(), k=2, tol="abc"), TypeError, "tol must be a real number"),
    ("lanczos tol 1", lambda t: lanczos(_sym(), k=2, tol=1.0), ValueError, "tol = 1.0"),
    ("lobpcg negative tol", lambda t: lobpcg(_sym(), k=2, tol=-1.0), ValueError, "tol = -1"),
    ("lobpcg tol nan", lambda t: lobpcg(_sym(), k=2, tol=float("nan")), ValueError, "tol = nan"),
    ("power tol inf", lambda t: power_iteration(_sym(), tol=float("inf")), ValueError, "tol = inf"),
    ("subspace tol string", lambda t: subspace_iteration(_sym(), k=2, tol="x"), TypeError, "tol"),
    ("power max_iter 0", lambda t: power_iteration(_sym(), max_iter=0), ValueError, "max_iter"),
    ("subspace max_iter 0", lambda t: subspace_iteration(_sym(), k=2, max_iter=0), ValueError, "max_iter"),
    ("power NaN v0", lambda t: power_iteration(_sym(), v0=torch.full((30,), float("nan"), dtype=F64)), ValueError,
     "v0 contains NaN"),
    ("power zero v0", lambda t: power_iteration(_sym(), v0=torch.zeros(30, dtype=F64)), ValueError, "v0 is zero"),
    ("power v0 length", lambda t: power_iteration(_sym(), v0=torch.ones(29, dtype=F64)), ValueError, "v0 has shape"),
    ("power complex v0", lambda t: power_iteration(_sym(), v0=torch.ones(30, dtype=torch.complex128)), TypeError,
     "complex"),
    ("lanczos product turns NaN", lambda t: lanczos(_TurnsNaN(), k=2, check_symmetry=False), ValueError,
     "NaN or Inf at product"),
    ("lobpcg product turns NaN", lambda t: lobpcg(_TurnsNaN(after=12), k=2, check_symmetry=False), ValueError,
     "NaN or Inf at product"),
    ("power product turns NaN", lambda t: power_iteration(_TurnsNaN(), check_symmetry=False), ValueError,
     "NaN or Inf at product"),
    ("subspace product turns NaN", lambda t: subspace_iteration(_TurnsNaN(), k=2, check_symmetry=False), ValueError,
     "NaN or Inf at product"),
    ("hutchinson product turns NaN", lambda t: hutchinson(_TurnsNaN(after=20), 50, check_symmetry=False), ValueError,
     "NaN or Inf at product"),
    ("hutchpp product turns NaN", lambda t: hutchpp(_TurnsNaN(after=20), 60, check_symmetry=False), ValueError,
     "NaN or Inf at product"),
    ("density product turns NaN", lambda t: spectral_density(_TurnsNaN(after=20), num_iter=10, num_vectors=3,
                                                             check_symmetry=False), ValueError, "NaN or Inf at product"),
    ("lanczos product of wrong shape", lambda t: lanczos(_TurnsNaN(shape_bug=True), k=2), ValueError,
     "product has shape"),
    ("hutchinson product of wrong shape", lambda t: hutchinson(_TurnsNaN(shape_bug=True), 10), ValueError,
     "product has shape"),
    ("entries that overflow", lambda t: lanczos(_sym() * 1e300, k=2), ValueError, "overflow"),
    ("exact of entries that overflow", lambda t: exact(_sym() * 1e300), ValueError, "overflow"),
    ("hutchinson block 0", lambda t: hutchinson(_sym(), 10, block=0), ValueError, "block"),
    ("hutchinson min_samples 1", lambda t: hutchinson(_sym(), 10, min_samples=1), ValueError, "min_samples"),
    ("hutchinson rtol inf", lambda t: hutchinson(_sym(), 10, rtol=float("inf")), ValueError, "rtol"),
    ("hutchinson rtol negative", lambda t: hutchinson(_sym(), 10, rtol=-0.1), ValueError, "rtol"),
    ("density kappa inf", lambda t: spectral_density(_sym(), kappa=float("inf")), ValueError, "kappa"),
    ("density kappa 1", lambda t: spectral_density(_sym(), kappa=1.0), ValueError, "kappa"),
    ("density negative margin", lambda t: spectral_density(_sym(), margin=-1.0), ValueError, "margin"),
    ("density margin nan", lambda t: spectral_density(_sym(), margin=float("nan")), ValueError, "margin"),
    ("imbalanced_subset label -1", lambda t: imbalanced_subset(torch.tensor([0, 1, -1, 1, 0, 1]), 4, 0.5),
     ValueError, "labels must lie"),
    ("imbalanced_subset label >= C", lambda t: imbalanced_subset(torch.tensor([0, 1, 2, 1, 0, 1]), 4, 0.5,
                                                                 num_classes=2), ValueError, "labels must lie"),
    ("build_setting widths int", lambda t: build_setting(widths=5), TypeError, "widths"),
    ("build_setting widths zero", lambda t: build_setting(widths=(2, 0)), ValueError, "widths"),
    ("reports seed too large", lambda t: run_reports(t, "test", seed=10**20), ValueError, "seed"),
    ("reports seed negative", lambda t: run_reports(t, "test", seed=-1), ValueError, "seed"),
    ("reports only empty", lambda t: run_reports(t, "test", only=[]), ValueError, "names no report group"),
    ("reports cuda on a CPU machine", lambda t: run_reports(t, "test", device="cuda:5"), ValueError, "device"),
    ("reports cpu index", lambda t: run_reports(t, "test", device="cpu:7"), ValueError, "one CPU"),
]


@pytest.mark.parametrize("call, exc, message", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_bad_input_gets_a_clear_error(tmp_path, call, exc, message):
    with pytest.raises(exc, match=message):
        call(tmp_path)
