"""The Fisher and the empirical Fisher by their definitions (hessverify.literature.fisher_definition) against the
closed forms from a dense autograd Jacobian (torch.autograd.functional.jacobian, not hessverify's operators)."""
import pytest
import torch
from torch.autograd.functional import jacobian
from torch.func import functional_call

from hessverify.claims import build_setting
from hessverify.literature.fisher_definition import (empirical_fisher_by_definition, fisher_by_definition,
                                                     preconditioned_cosine, relative_distance)


def dense_jacobian(model, X):
    """``(n, d_L, d)``: d f(x_i) / d theta by autograd, in ``model.parameters()`` order."""
    names = [k for k, _ in model.named_parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    shapes = [p.shape for p in model.parameters()]

    def f(theta):
        params, i = {}, 0
        for k, shape in zip(names, shapes):
            params[k] = theta[i:i + shape.numel()].reshape(shape)
            i += shape.numel()
        return functional_call(model, params, (X,))

    return jacobian(f, flat)


def setting(loss, **kw):
    return build_setting(kind="mlp", widths=(3, 5, 4), n=9, activation="tanh", bias=True, loss=loss, seed=2, **kw)


def test_cross_entropy_fisher_is_j_diag_p_minus_ppt_j():
    s = setting("cross_entropy")
    J = dense_jacobian(s.model, s.X)
    with torch.no_grad():
        p = torch.softmax(s.model(s.X), dim=1)
    M = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    ref = torch.einsum("nad,nab,nbe->de", J, M, J) / s.n
    F, bound = fisher_by_definition(s.model, "cross_entropy", s.X)
    assert torch.all((F - ref).abs() <= bound + 1e-15)
    assert relative_distance(F, ref) < 1e-14


@pytest.mark.parametrize("weight_scale", [1.0, 100.0])
def test_mse_fisher_is_jtj_even_with_large_outputs(weight_scale):
    """The 2 d_L-point rule is exact for the Gaussian's second moment; at weight scale 100 (outputs ~1e4) the
    residuals are formed without cancellation (targets f + offset would lose 12 digits)."""
    s = setting("mse", weight_scale=weight_scale)
    J = dense_jacobian(s.model, s.X)
    ref = torch.einsum("nad,nae->de", J, J) / s.n
    F, bound = fisher_by_definition(s.model, "mse", s.X)
    assert relative_distance(F, ref) < 1e-14
    assert torch.all((F - ref).abs() <= bound + 4 * torch.finfo(torch.float64).eps * ref.abs().max())


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_empirical_fisher_is_jt_r_rt_j(loss):
    s = setting(loss, targets="teacher")
    J = dense_jacobian(s.model, s.X)
    with torch.no_grad():
        out = s.model(s.X)
    r = out - s.Y if loss == "mse" else torch.softmax(out, dim=1) - torch.nn.functional.one_hot(s.labels, 4)
    ref = torch.einsum("nad,na,nb,nbe->de", J, r, r, J) / s.n
    assert relative_distance(empirical_fisher_by_definition(s.model, loss, s.X, s.loss_targets), ref) < 1e-13


def test_preconditioned_cosine():
    A = torch.diag(torch.tensor([4.0, 1.0], dtype=torch.float64))
    g = torch.tensor([1.0, 1.0], dtype=torch.float64)
    assert preconditioned_cosine(A, A, g, 0.1) == pytest.approx(1.0)
    # (A)^-1 g = (1/4, 1) and (I)^-1 g = (1, 1): cosine (1/4 + 1) / (sqrt(1/16 + 1) sqrt(2))
    B = torch.eye(2, dtype=torch.float64)
    assert preconditioned_cosine(A, B, g, 0.0) == pytest.approx(1.25 / ((1 / 16 + 1) ** 0.5 * 2**0.5))
