"""Python floats given as lists never pass through torch's float32 default: ``torch.as_tensor([0.8])`` is float32,
and converting that to float64 afterwards keeps its rounding (0.800000011920929). The quick reports' 003 Fig 1
middle check read 5.6e-07 instead of 1.9e-15 through this."""
import pytest
import torch

from hessverify.estimators import spectral_density
from hessverify.models import balanced_weights


@pytest.mark.parametrize("values", [[0.8, 0.4, 0.2], (1.000001, 1.0, 0.1)])
def test_balanced_weights_take_python_floats_at_float64(values):
    W = balanced_weights((3, 3, 3), list(values), generator=torch.Generator().manual_seed(0))
    for w in W:
        s = torch.linalg.svdvals(w)
        assert torch.allclose(s, torch.tensor(sorted(values, reverse=True), dtype=torch.float64), rtol=1e-14, atol=0)


def test_a_density_grid_of_python_floats_is_kept():
    r = spectral_density(torch.diag(torch.arange(1.0, 11.0, dtype=torch.float64)), grid=[0.1, 0.2, 5.0], seed=0)
    assert r.grid.tolist() == [0.1, 0.2, 5.0]
