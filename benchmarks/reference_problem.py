"""The reference problem of the estimator issue: tanh MLP 64-64-64-10 with biases, cross-entropy,
512 Gaussian inputs, float64, CPU."""
from __future__ import annotations

import torch

from hessverify.models import linear_network


def reference_problem(seed: int = 0, n: int = 512, widths=(64, 64, 64, 10)):
    """``(model, X, labels)``, deterministic given ``seed``."""
    torch.manual_seed(seed)
    model = linear_network(widths, activation="tanh", bias=True)
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, widths[0], generator=g, dtype=torch.float64)
    labels = torch.randint(widths[-1], (n,), generator=g)
    return model, X, labels
