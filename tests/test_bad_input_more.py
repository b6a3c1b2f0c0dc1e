"""More bad inputs over every public entry point (the table of test_bad_input.py, continued): each gets a
ValueError/TypeError that names the argument, raised at the public boundary."""
import numpy as np
import pytest
import torch

from hessverify.claims import Measurement, build_setting, compare, measure
from hessverify.claims import assumptions as A, strategies as st
from hessverify.claims import conjecture
from hessverify.data import (gaussian_inputs, gaussian_mixture, labels_with_proportion, load_real_dataset, one_hot,
                             pool_images, random_labels, whiten)
from hessverify.data import DataFilesMissingError, load_mnist_csv
from hessverify.estimators import (exact, hutchinson, hutchpp, lanczos, lanczos_ritz, lobpcg, spectral_density)
from hessverify.models import balanced_weights, linear_network, load_weights, unbalanced_weights
from hessverify.operators import cuda_graphed, ggn, hessian, ntk
from hessverify.training import TrainConfig

F64 = torch.float64
X = torch.randn(6, 2, dtype=F64, generator=torch.Generator().manual_seed(0))
Y = torch.randn(6, 2, dtype=F64, generator=torch.Generator().manual_seed(1))
_M = torch.randn(10, 10, dtype=F64, generator=torch.Generator().manual_seed(2))
S = _M + _M.T


def net():
    return linear_network((2, 2))


ROWS = [
    ('one_hot negative', lambda t: one_hot(torch.tensor([0,-1]), 2), ValueError, 'labels must lie in \\[0, 2\\); f'),
    ('one_hot label>=C', lambda t: one_hot(torch.tensor([0,3]), 2), ValueError, 'labels must lie in \\[0, 2\\); f'),
    ('one_hot float labels', lambda t: one_hot(torch.tensor([0.,1.]), 2), TypeError, 'labels must be a 1-D integer'),
    ('one_hot C=0', lambda t: one_hot(torch.tensor([0]), 0), ValueError, 'num_classes = 0 must be at l'),
    ('whiten sigma 0', lambda t: whiten(X, 0.0), ValueError, 'sigma_x = 0\\.0 must be finite'),
    ('whiten sigma nan', lambda t: whiten(X, float('nan')), ValueError, 'sigma_x = nan must be finite'),
    ('whiten 3d', lambda t: whiten(torch.ones(2,2,2)), ValueError, 'X must be 2-D with shape \\(n,'),
    ('gaussian_inputs n=0', lambda t: gaussian_inputs(0, 2), ValueError, 'n = 0 must be at least 1'),
    ('gaussian_inputs d=-1', lambda t: gaussian_inputs(3, -1), ValueError, 'd0 = -1 must be at least 1'),
    ('gaussian_mixture bad', lambda t: gaussian_mixture(10, 2, 0), TypeError, 'labels must be a non-empty 1'),
    ('random_labels C=1', lambda t: random_labels(10, 1), ValueError, 'num_classes = 1 must be at l'),
    ('labels_with_proportion alpha 2', lambda t: labels_with_proportion(10, 2, 2.0, torch.Generator()),
     ValueError, 'alpha_max=2\\.0 must lie in \\[1'),
    ('pool_images wrong size', lambda t: pool_images(torch.ones(3, 50), 28, 2),
     ValueError, 'X has shape \\(3, 50\\); pool_im'),
    ('pool_images factor 0', lambda t: pool_images(torch.ones(3, 784), 28, 0),
     ValueError, 'factor=0 must be a positive'),
    ('load_real_dataset unknown', lambda t: load_real_dataset("imagenet"), ValueError, "name='imagenet' is not a kno"),
    ('load_mnist_csv missing', lambda t: load_mnist_csv("/nonexistent.csv"),
     DataFilesMissingError, '/nonexistent\\.csv does not exist'),
    ('linear_network widths str', lambda t: linear_network("22"), TypeError, 'widths must be a sequence of'),
    ('linear_network activation', lambda t: linear_network((2,2), activation="gelu"), ValueError, "activation='gelu' is not sup"),
    ('balanced_weights nan', lambda t: balanced_weights((2,2), torch.tensor([float('nan'), 1.0])),
     ValueError, 'singular_values contains NaN'),
    ('balanced_weights count', lambda t: balanced_weights((2,2), torch.tensor([1.0])),
     ValueError, 'singular_values has 1 entrie'),
    ('unbalanced scale', lambda t: unbalanced_weights((2,2), 0), ValueError, 'singular_values has 1 entrie'),
    ('load_weights count', lambda t: load_weights(net(), [torch.ones(2,2), torch.ones(2,2)]),
     ValueError, 'weights has 2 matrices but t'),
    ('load_weights nan', lambda t: load_weights(net(), [torch.full((2,2), float('nan'))]),
     ValueError, 'weights\\[0\\] contains NaN or I'),
    ('hessian backend', lambda t: hessian(net(), "mse", X, Y, backend="magic"), ValueError, "backend='magic' is not suppo"),
    ('hessian compile without jvp', lambda t: hessian(net(), "mse", X, Y, compile=True), ValueError, "compile=True needs backend='"),
    ('hessian compile int', lambda t: hessian(net(), "mse", X, Y, backend="jvp", compile=3),
     TypeError, 'compile must be a bool or a'),
    ('hessian batch_size 0', lambda t: hessian(net(), "mse", X, Y, batch_size=0),
     ValueError, 'batch_size = 0 must be at least 1'),
    ('hessian batch_size float', lambda t: hessian(net(), "mse", X, Y, batch_size=2.5),
     TypeError, 'batch_size must be an int, got float 2\\.5'),
    ('hessian batch_size with list', lambda t: hessian(net(), "mse", [(X, Y)], batch_size=2),
     ValueError, 'batch_size= splits tensors;'),
    ('hessian input_key only', lambda t: hessian(net(), "mse", [(X, Y)], input_key="x"),
     ValueError, 'pass both input_key= and tar'),
    ('hessian batch_size_fn not callable', lambda t: hessian(net(), "mse", X, Y, batch_size_fn=3),
     TypeError, 'batch_size_fn must be a call'),
    ('hessian batch_size_fn bad return', lambda t: hessian(net(), "mse", {"a": X}, Y, batch_size_fn=lambda x: "six"), ValueError, "batch_size_fn returned 'six'"),
    ('hessian dict X mismatched', lambda t: hessian(net(), "mse", {"a": X, "b": X[:3]}, Y),
     ValueError, 'X is a mapping whose tensors'),
    ('hessian one-shot iterator', lambda t: hessian(net(), "mse", iter([(X,Y)])),
     TypeError, 'X is a one-shot iterator; op'),
    ('hessian batch not pair', lambda t: hessian(net(), "mse", [X]), TypeError, 'batch 0 is a Tensor, not a p'),
    ('hessian empty list', lambda t: hessian(net(), "mse", []), ValueError, 'the data hold no samples; pa'),
    ('hessian loss name', lambda t: hessian(net(), "l1", X, Y), ValueError, "loss='l1' is not a known los"),
    ('hessian loss int', lambda t: hessian(net(), 3, X, Y), ValueError, 'loss=3 is not a known loss;'),
    ('hessian model not module', lambda t: hessian(lambda x: x, "mse", X, Y),
     TypeError, 'model must be a torch\\.nn\\.Mod'),
    ('hessian Y int for mse', lambda t: hessian(net(), "mse", X, torch.ones(6,2,dtype=torch.long)), TypeError, "the data: Y for loss='mse' m"),
    ('hessian CE float labels', lambda t: hessian(net(), "cross_entropy", X, Y), TypeError, "the data: Y for loss='cross_"),
    ('hessian CE 2d labels', lambda t: hessian(net(), "cross_entropy", X, torch.zeros(6,2,dtype=torch.long)), TypeError, "the data: Y for loss='cross_"),
    ('hessian Y NaN', lambda t: hessian(net(), "mse", X, torch.full((6,2), float('nan'), dtype=F64)),
     ValueError, 'Y contains NaN or Inf; clean'),
    ('hessian X 1-D', lambda t: hessian(net(), "mse", torch.ones(2,dtype=F64), torch.ones(2,dtype=F64)),
     ValueError, 'X must have a leading sample'),
    ('hessian loss raising', lambda t: hessian(net(), lambda o,y: o @ y, X, Y),
     ValueError, 'the data: the loss callable'),
    ('hessian loss NaN', lambda t: hessian(net(), lambda o,y: (o-y).sum()*float('nan'), X, Y),
     ValueError, 'the data: the loss is nan; c'),
    ('hessian train-mode dropout', lambda t: hessian(torch.nn.Sequential(torch.nn.Linear(2,2), torch.nn.Dropout()).double(), "mse", X, Y),
     ValueError, 'model contains Dropout \\(1\\) i'),
    ('hessian params int', lambda t: hessian(net(), "mse", X, Y, params=3), TypeError, 'params must be an iterable o'),
    ('ntk X list', lambda t: ntk(net(), [[1.0,2.0]]), TypeError, 'X must be a torch\\.Tensor of'),
    ('ntk X float32', lambda t: ntk(net(), X.float()), TypeError, 'X has dtype torch\\.float32 bu'),
    ('ggn matvec wrong len', lambda t: ggn(net(), "mse", X, Y).matvec(torch.ones(3,dtype=F64)),
     ValueError, 'v has leading size 3 but the'),
    ('ggn matmat 1-D', lambda t: ggn(net(), "mse", X, Y).matmat(torch.ones(4,dtype=F64)),
     ValueError, 'V must be 2-D of shape \\(4, k'),
    ('ggn matvec numpy', lambda t: ggn(net(), "mse", X, Y).matvec(np.ones(4)),
     TypeError, 'v must be a torch\\.Tensor, go'),
    ('ggn matvec float32', lambda t: ggn(net(), "mse", X, Y).matvec(torch.ones(4)),
     TypeError, 'v has dtype torch\\.float32 bu'),
    ('cuda_graphed on cpu', lambda t: cuda_graphed(hessian(net(), "mse", X, Y)),
     ValueError, 'op is on cpu; CUDA graphs ne'),
    ('exact nonsquare', lambda t: exact(torch.ones(3,4,dtype=F64)), ValueError, 'op must be square, got shape'),
    ('exact asymmetric', lambda t: exact(torch.triu(torch.ones(3,3,dtype=F64))),
     ValueError, 'op is not symmetric: \\|\\|A - A'),
    ('exact string', lambda t: exact("matrix"), TypeError, 'op must be a square tensor/a'),
    ('lanczos which', lambda t: lanczos(S, k=2, which="XX"), ValueError, "which='XX' is not supported"),
    ('lanczos reorth', lambda t: lanczos(S, k=2, reorth="partial"), ValueError, "reorth='partial' is not supp"),
    ('lanczos k=0', lambda t: lanczos(S, k=0), ValueError, 'k=0 must satisfy 1 <= k <= 9'),
    ('lanczos k=n', lambda t: lanczos(S, k=10), ValueError, 'k=10 must satisfy 1 <= k <='),
    ('lanczos k float', lambda t: lanczos(S, k=2.0), TypeError, 'k must be an int, got float'),
    ('lanczos max_iter 0', lambda t: lanczos(S, k=2, max_iter=0), ValueError, 'max_iter = 0 must be at least 1'),
    ('lanczos sync_every 0', lambda t: lanczos(S, k=2, sync_every=0), ValueError, 'sync_every = 0 must be at leas'),
    ('lanczos certify str', lambda t: lanczos(S, k=2, certify_multiplicities="yes"),
     TypeError, 'certify_multiplicities must'),
    ('lanczos_ritz num_iter 0', lambda t: lanczos_ritz(S, num_iter=0), ValueError, 'num_iter = 0 must be at least'),
    ('lanczos_ritz reorth', lambda t: lanczos_ritz(S, reorth="x"), ValueError, "reorth='x' is not supported;"),
    ('lobpcg k too big', lambda t: lobpcg(S, k=8), ValueError, "LOBPCG's block of 12 vectors"),
    ('hutchinson distribution', lambda t: hutchinson(S, 10, distribution="uniform"), ValueError, "distribution='uniform' is no"),
    ('hutchinson num_samples 0', lambda t: hutchinson(S, 0), ValueError, 'num_matvecs = 0 must be at lea'),
    ('hutchpp num_matvecs 2', lambda t: hutchpp(S, 2), ValueError, 'num_matvecs \\(a third each fo'),
    ('hutchpp distribution', lambda t: hutchpp(S, 9, distribution="x"), ValueError, "distribution='x' is not supp"),
    ('density num_iter 0', lambda t: spectral_density(S, num_iter=0), ValueError, 'num_iter = 0 must be at least'),
    ('density num_vectors 0', lambda t: spectral_density(S, num_vectors=0), ValueError, 'num_vectors = 0 must be at lea'),
    ('trace ci level 2', lambda t: hutchinson(S, 10, seed=0).ci(2.0), ValueError, 'level=2\\.0 must lie in \\(0, 1\\)'),
    ('trace ci level nan', lambda t: hutchinson(S, 10, seed=0).ci(float('nan')),
     ValueError, 'level=nan must lie in \\(0, 1\\)'),
    ('compare relation', lambda t: compare(1.0, Measurement(np.asarray(1.0), np.asarray(0.), "m", 1, 1e-16), "lt"), ValueError, "relation='lt' is not support"),
    ('measure unknown operator', lambda t: measure(build_setting("linear",(2,2)), "trace", "fisher"), ValueError, "operator='fisher' is not sup"),
    ('measure top_k without k', lambda t: measure(build_setting("linear",(2,2)), "top_k"), ValueError, "quantity='top_k' needs k="),
    ('matrix operator on network', lambda t: measure(build_setting("linear",(2,2)), "trace", "matrix"), ValueError, "operator='matrix' needs a sy"),
    ('build_setting sigma neg', lambda t: build_setting("linear",(2,2), sigma_x=-1.0),
     ValueError, 'sigma_x = -1\\.0 must be finit'),
    ('build_setting n < d0 whitened', lambda t: build_setting("linear",(3,2), n=2),
     ValueError, 'whiten needs at least as man'),
    ('build_setting alpha 0', lambda t: build_setting("linear",(2,2), targets="one_hot", alpha_max=0.0),
     ValueError, 'alpha_max=0\\.0 must lie in \\[1'),
    ('build_setting activation', lambda t: build_setting("mlp",(2,2), activation="gelu"), ValueError, "activation='gelu' is not sup"),
    ('build_setting sv count', lambda t: build_setting("balanced_linear",(2,2), singular_values=[1.0,1.0,1.0]),
     ValueError, 'singular_values has 3 entrie'),
    ('build_setting eigenvalues None', lambda t: build_setting("symmetric_matrix", eigenvalues=None), ValueError, "eigenvalues=None: kind='symm"),
    ('build_setting seed neg', lambda t: build_setting("linear",(2,2), seed=-1),
     ValueError, 'seed = -1 must be at least 0'),
    ('build_setting seed float', lambda t: build_setting("linear",(2,2), seed=1.5),
     TypeError, 'seed must be an int, got float 1\\.5'),
    ('st.widths max_params 0', lambda t: st.widths(max_params=0), ValueError, 'max_params=0 must be at leas'),
    ('st.singular_values k 0', lambda t: st.singular_values(0), ValueError, 'k=0 must be a positive int \\('),
    ('st.sigma_x low 0', lambda t: st.sigma_x(0.0), ValueError, 'need 0 < low <= high for sig'),
    ('st.mlps activation', lambda t: st.mlps("gelu"), ValueError, "activation='gelu' is not sup"),
    ('st.mlps loss', lambda t: st.mlps(loss="hinge"), ValueError, "loss='hinge' is not supporte"),
    ('zero_loss rtol nan', lambda t: A.zero_loss(float('nan')), ValueError, 'rtol = nan must be finite an'),
    ('whitened rtol str', lambda t: A.whitened_inputs("a"), TypeError, 'rtol must be a real number,'),
    ('balanced rtol 0', lambda t: A.balanced_weights(0.0), ValueError, 'rtol = 0\\.0 must be finite an'),
    ('conjecture k negative', lambda t: conjecture(setting=st.linear_networks(), quantity="top_k", k=-1), ValueError, "quantity='top_k' needs k >="),
    ('conjecture quantity int', lambda t: conjecture(setting=st.linear_networks(), quantity=3),
     TypeError, 'quantity must be a name or a'),
    ('TrainConfig lr 0', lambda t: TrainConfig(lr=0.0), ValueError, 'lr = 0\\.0 must lie in \\(0, inf\\)'),
    ('TrainConfig epochs 0', lambda t: TrainConfig(epochs=0), ValueError, 'epochs = 0 must be at least'),
]


@pytest.mark.parametrize("call, exc, message", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_bad_input_gets_a_clear_error(tmp_path, call, exc, message):
    with pytest.raises(exc, match=message):
        call(tmp_path)
