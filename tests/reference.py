"""Dense float64 ground truth from ``torch.autograd.functional`` for the operator tests."""
from __future__ import annotations

import torch
from torch.func import functional_call


def flat_loss_and_outputs(model, loss, X, Y):
    """``(theta0, L(theta), f(theta))`` closures over a flat parameter vector."""
    named = list(model.named_parameters())
    names = [n for n, _ in named]
    shapes = [p.shape for _, p in named]
    numels = [p.numel() for _, p in named]
    theta0 = torch.cat([p.detach().reshape(-1) for _, p in named])

    def f(theta):
        params = {n: t.view(s) for n, t, s in zip(names, torch.split(theta, numels), shapes)}
        return functional_call(model, params, (X,))

    def L(theta):
        out = f(theta)
        if loss == "mse":
            return 0.5 * ((out - Y) ** 2).sum() / X.shape[0]
        return torch.nn.functional.cross_entropy(out, Y)

    return theta0, L, f


def dense_hessian(model, loss, X, Y) -> torch.Tensor:
    theta0, L, _ = flat_loss_and_outputs(model, loss, X, Y)
    return torch.autograd.functional.hessian(L, theta0)


def dense_jacobian(model, X) -> torch.Tensor:
    """``J`` of ``f(X).reshape(-1)``, shape ``(n d_L, p)``."""
    theta0, _, f = flat_loss_and_outputs(model, "mse", X, None)
    return torch.autograd.functional.jacobian(lambda t: f(t).reshape(-1), theta0)


def dense_ggn(model, loss, X, Y) -> torch.Tensor:
    """``J^T H_f J`` with ``H_f`` the autograd Hessian of the loss in the outputs."""
    J = dense_jacobian(model, X)
    theta0, _, f = flat_loss_and_outputs(model, loss, X, Y)
    out = f(theta0).detach()

    def loss_of_out(o):
        o = o.reshape(out.shape)
        if loss == "mse":
            return 0.5 * ((o - Y) ** 2).sum() / X.shape[0]
        return torch.nn.functional.cross_entropy(o, Y)

    Hf = torch.autograd.functional.hessian(loss_of_out, out.reshape(-1))
    return J.T @ Hf @ J


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.linalg.matrix_norm(a - b) / torch.linalg.matrix_norm(b).clamp_min(1e-300))
