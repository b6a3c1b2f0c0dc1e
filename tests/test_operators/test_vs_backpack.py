"""Side by side with BackPACK (skipped where it is not installed; ``nox -s crosscheck`` installs it): the diagonals
of the Hessian and the GGN (``DiagHessian``, ``DiagGGNExact``) and the empirical Fisher from BackPACK's
per-sample gradients (``BatchGrad``), on a CNN and an MLP in float64. BackPACK hooks the modules it extends,
which torch.func cannot transform, so hessverify gets an unextended copy."""
import copy

import pytest
import torch
from torch import nn

from hessverify.operators import empirical_fisher, ggn, hessian
from tests.reference import rel_err
from tests.test_operators.conftest import peer

backpack = peer("backpack")
from backpack.extensions import BatchGrad, DiagGGNExact, DiagHessian  # noqa: E402

N = 7
#: BackPACK's full backward hooks warn when the inputs do not require gradients; not hessverify's concern
pytestmark = pytest.mark.filterwarnings("ignore:Full backward hook is firing:UserWarning")


def _models():
    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Tanh(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)).double()
    mlp = nn.Sequential(nn.Linear(4, 6), nn.Sigmoid(), nn.Linear(6, 3)).double()
    g = torch.Generator().manual_seed(1)
    return [("cnn", cnn, torch.randn(N, 1, 6, 6, generator=g, dtype=torch.float64)),
            ("mlp", mlp, torch.randn(N, 4, generator=g, dtype=torch.float64))]


@pytest.mark.parametrize("name, model, X", _models(), ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("kind", ["cross_entropy", "mse"])
def test_diagonals_and_empirical_fisher_match_backpack(name, model, X, kind):
    g = torch.Generator().manual_seed(2)
    T = torch.arange(N) % 3 if kind == "cross_entropy" else torch.randn(N, 3, generator=g, dtype=torch.float64)
    loss = nn.CrossEntropyLoss() if kind == "cross_entropy" else nn.MSELoss()
    extended, loss_ext = backpack.extend(copy.deepcopy(model)), backpack.extend(copy.deepcopy(loss))
    with backpack.backpack(DiagGGNExact(), DiagHessian(), BatchGrad()):
        loss_ext(extended(X), T).backward()
    params = list(extended.parameters())
    diag_ggn = torch.cat([p.diag_ggn_exact.reshape(-1) for p in params])
    diag_h = torch.cat([p.diag_h.reshape(-1) for p in params])
    # BatchGrad: gradients of each sample's contribution to the mean, grad l_i / D (D = N for cross-entropy,
    # N * 3 entries for MSELoss), so the empirical Fisher (1/D) sum_i grad l_i grad l_i^T is D B^T B
    B = torch.cat([p.grad_batch.reshape(N, -1) for p in params], 1)
    D = N if kind == "cross_entropy" else N * 3
    assert rel_err(ggn(model, loss, X, T, batch_size=3).dense().diagonal()[:, None], diag_ggn[:, None]) < 1e-12
    assert rel_err(hessian(model, loss, X, T, batch_size=3).dense().diagonal()[:, None], diag_h[:, None]) < 1e-12
    assert rel_err(empirical_fisher(model, loss, X, T, batch_size=3).dense(), D * B.T @ B) < 1e-12


def test_an_extended_model_is_a_clear_error():
    """A module BackPACK extended runs autograd.Functions that torch.func cannot transform: one clear error."""
    _, model, X = _models()[1]
    with pytest.raises(ValueError, match="setup_context"):
        ggn(backpack.extend(copy.deepcopy(model)), nn.MSELoss(), X, torch.zeros(N, 3, dtype=torch.float64))
