"""The Fisher information and the empirical Fisher of a loss that is a negative log-likelihood.

Write the loss as ``L = (1/D) sum_i l_i`` (a mean; ``D`` the operator's number of targets, ``num_targets``) or
``L = sum_i l_i`` (a sum), with ``l_i = -log q(y_i | f_i)`` (up to a constant) the term of sample ``i`` (a row of
the leading dimension; for a sequence output, the whole sequence) and ``f_i`` the model output. Kunstner, Balles
and Hennig 2019 (arXiv 1905.12558, §1) define, for the sum over the data,

- the Fisher ``F = sum_n E_{y ~ q(.|f_n)} [grad log q(y|f_n) grad log q(y|f_n)^T]``, and
- the empirical Fisher ``F~ = sum_n grad log q(y_n|f_n) grad log q(y_n|f_n)^T`` (observed labels ``y_n``).

Here both carry the loss's normalisation: ``1/D`` times those sums for a mean (as curvlinops' ``EFLinearOperator``
and ``FisherMCLinearOperator``), so that they sit next to the Hessian and the GGN of the same ``L``. With
``g_i = grad_f l_i`` both are ``sum_i J_i^T M_i J_i``: the empirical Fisher has ``M_i = g_i g_i^T / D``; the Fisher
has ``M_i = E_y[g_i g_i^T] / D``, which for an exponential family in the natural parameter ``f`` is the output
Hessian ``d^2 l_i / d f_i^2``: the Fisher *is* the GGN (Kunstner et al. §3; Martens 2020, "New insights and
perspectives on the natural gradient method"). That holds exactly for

- softmax cross-entropy (``"cross_entropy"``, ``nn.CrossEntropyLoss``): ``q`` categorical in ``softmax(f)``;
- squared error: ``"mse"`` (``l_i = |f_i - y_i|^2 / 2``, ``q = N(f, I)``) and ``nn.MSELoss``
  (``l_i = |f_i - y_i|^2``, ``q = N(f, I/2)``);
- ``nn.BCEWithLogitsLoss``: ``q`` Bernoulli in ``sigmoid(f)``;

and there :func:`fisher` uses the GGN's products. For any other likelihood, pass ``sampler(output, generator)``
drawing targets from ``q(.|f)``: the expectation becomes a Monte-Carlo mean over ``mc_samples`` draws per sample,
fixed by ``seed`` (the same draws in every product, so the operator is one symmetric positive semi-definite
matrix). ``mc_samples`` with a named likelihood draws from it (a check of the identity).

The scale follows the loss's count of targets (as every operator here): the ``nn`` losses that average over the
target's entries (``MSELoss``, ``PoissonNLLLoss``, ``BCEWithLogitsLoss``, ...) count entries, cross-entropy its
targets, and a callable *samples*. A callable that averages over every entry (``((f - y)**2).mean()``) must say so
with ``num_targets_fn=lambda X, Y: Y.numel()``; otherwise its Fisher comes out ``1/d_L`` of the likelihood's (the
loss alone cannot show whether its mean runs over samples or entries).

Products: ``J v`` forward, the per-sample rank-one (or rank-``M``) output matrix, ``J^T u`` backward. No
per-sample parameter gradient is stored.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.func import grad, vmap

from hessverify._validation import check_positive_int
from hessverify.operators.ggn import GGNOperator
from hessverify.operators.losses import LossLike

Sampler = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def _categorical(output: torch.Tensor, Y: torch.Tensor, generator: torch.Generator, *, ignore_index=None,
                 soft: bool = False) -> torch.Tensor:
    """Labels drawn from ``softmax(output)`` over dim 1 (shape of ``Y``); ignored positions stay ignored, soft
    (probability) targets become one-hot draws."""
    C = output.shape[1]
    probs = torch.softmax(output, dim=1).movedim(1, -1).reshape(-1, C)
    draw = torch.multinomial(probs, 1, generator=generator).reshape(output.movedim(1, -1).shape[:-1])
    if soft:
        return nn.functional.one_hot(draw, C).movedim(-1, 1).to(Y.dtype)
    draw = draw.to(Y.dtype)
    return draw if ignore_index is None else torch.where(Y == ignore_index, Y, draw)


def _gaussian(variance: float) -> Sampler:
    def sample(output: torch.Tensor, Y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(output.shape, generator=generator, dtype=output.dtype, device=output.device)
        return output + variance**0.5 * noise
    return sample


def _bernoulli(output: torch.Tensor, Y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.bernoulli(torch.sigmoid(output), generator=generator).to(Y.dtype)


def known_likelihood(loss: LossLike):
    """The sampler ``(output, Y, generator) -> targets`` of the likelihood whose negative log is ``loss``'s term,
    for the losses named in the module docstring; ``None`` for others. Losses with class weights, ``pos_weight``
    or label smoothing are not log-likelihoods and get ``None``."""
    if loss == "mse":
        return _gaussian(1.0)
    if loss == "cross_entropy":
        return _categorical
    if isinstance(loss, nn.MSELoss):
        return _gaussian(0.5)
    if isinstance(loss, nn.CrossEntropyLoss) and loss.weight is None and not loss.label_smoothing:
        return lambda out, Y, g: _categorical(out, Y, g, ignore_index=loss.ignore_index, soft=Y.is_floating_point())
    if isinstance(loss, nn.BCEWithLogitsLoss) and loss.weight is None and loss.pos_weight is None:
        return _bernoulli
    return None


def _outer_products(G: torch.Tensor, JV: torch.Tensor, scale: float) -> torch.Tensor:
    """``scale sum_m G_m,i (G_m,i . JV_k,i)`` per sample ``i``: ``G`` is ``(M, n_b, ...)``, ``JV`` ``(k, n_b, ...)``."""
    alpha = torch.einsum("mi...,ki...->kmi", G, JV)
    return scale * torch.einsum("kmi,mi...->ki...", alpha, G)


class _GradientOuterProducts(GGNOperator):
    """``sum_b c_b sum_{i in b} J_i^T (1/M sum_m G_mi G_mi^T) J_i`` with ``G_m = grad_f L_b(f, Y_m)`` for ``M``
    target sets ``Y_m`` per batch; ``c_b = w_b D_b`` for a mean (``G_i = g_i / D_b``, so ``c_b G G^T = g g^T / D``)
    and 1 for a sum."""

    def _targets(self, f0: torch.Tensor, yb, index: int) -> list:
        raise NotImplementedError

    def _prepare(self, xb, yb, w: float):
        xb, yb, w, f0, pullback = super()._prepare(xb, yb, w)
        self._batch_index = getattr(self, "_batch_index", -1) + 1
        targets = self._targets(f0, yb, self._batch_index)
        G = self._output_gradients(f0, targets)
        count = w * self.num_targets if self.loss.reduction == "mean" else 1.0
        return xb, yb, w, f0, pullback, G, w * count / len(targets)

    def _output_gradients(self, f0: torch.Tensor, targets: list) -> torch.Tensor:
        """``grad_f L_b(f0, Y_m)`` for every target set, ``(M, *f0.shape)``: vectorised over the draws, or one at a
        time for a loss that ``vmap`` cannot batch."""
        g = grad(lambda o, y: self.loss.fn(o, y))
        if len(targets) > 1:
            try:
                return vmap(g, in_dims=(None, 0))(f0, torch.stack(targets)).detach()
            except (RuntimeError, NotImplementedError, TypeError):
                pass
        return torch.stack([g(f0, y) for y in targets]).detach()

    def _states(self):
        self._batch_index = -1  # batches are numbered on every pass: the same draws in every product
        yield from super()._states()

    def _probe(self) -> None:
        self._batch_index = -1
        super()._probe()

    def _output_product(self, state, JV: torch.Tensor) -> torch.Tensor:
        G, scale = state[5], state[6]
        return _outer_products(G, JV, scale)


class EmpiricalFisherOperator(_GradientOuterProducts):
    """``F~ = (1/D) sum_i grad l_i grad l_i^T`` (a mean; the sum for a sum) with the observed targets.

    Parameters
    ----------
    model, loss, X, Y, params, batch_size, reduction, input_key, target_key, batch_size_fn, num_targets_fn, \
check_deterministic
        As for :class:`~hessverify.operators.ModelOperator` (the constructor is ModelOperator's).
    """

    product_name = "empirical Fisher product (J v in forward mode, J^T u in reverse mode)"

    def _targets(self, f0, yb, index):
        return [yb]


class FisherOperator(_GradientOuterProducts):
    """The Fisher ``(1/D) sum_i J_i^T E_{y ~ q(.|f_i)}[g g^T] J_i``: the GGN where that is exact, else Monte Carlo.

    Parameters
    ----------
    model, loss, X, Y
        As for :class:`~hessverify.operators.ModelOperator`; ``loss`` a negative log-likelihood (module docstring).
    mc_samples : int, optional
        Draws per sample of a Monte-Carlo Fisher (required with ``sampler``; with a named likelihood, draws
        from it instead of the exact formula); None: exact (the GGN).
    seed : int
        Non-negative; batch ``b`` draws from the stream ``(seed, b)``, the same in every product.
    sampler : callable, optional
        ``sampler(output, generator) -> targets`` shaped like ``Y``, drawn from ``q(.|output)``.
    **options
        ``params``, ``batch_size``, ``reduction``, ``input_key``, ``target_key``, ``batch_size_fn``,
        ``num_targets_fn``, ``check_deterministic``: as for :class:`~hessverify.operators.ModelOperator`.
    """

    product_name = "Fisher product (J v in forward mode, J^T u in reverse mode)"

    def __init__(self, model: nn.Module, loss: LossLike, X, Y=None, *, mc_samples: int | None = None, seed: int = 0,
                 sampler: Sampler | None = None, **options):
        if sampler is not None and not callable(sampler):
            raise TypeError(f"sampler must be a callable(output, generator) -> targets, got {type(sampler).__name__}")
        known = known_likelihood(loss)
        if sampler is None and known is None:
            raise ValueError(
                f"the Fisher of {loss!r} needs its likelihood: it is exact for 'mse', 'cross_entropy', nn.MSELoss, "
                "nn.CrossEntropyLoss and nn.BCEWithLogitsLoss (without class weights or label smoothing); for another "
                "loss pass sampler=(lambda output, generator: targets drawn from the model's predictive distribution) "
                "and mc_samples=")
        if sampler is not None and mc_samples is None:
            raise ValueError("a sampler= gives a Monte-Carlo Fisher: state its number of draws per sample, "
                             "mc_samples= (e.g. 100), and its seed=")
        #: ``True`` when the Fisher is computed exactly (as the GGN); ``False`` for a Monte-Carlo estimate
        self.exact = mc_samples is None
        self.mc_samples = None if mc_samples is None else check_positive_int("mc_samples", mc_samples)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise TypeError(f"seed must be a non-negative int, got {seed!r}")
        self.seed = int(seed)
        self._sample = (lambda out, Y, g: sampler(out, g)) if sampler is not None else known
        super().__init__(model, loss, X, Y, **options)
        if not self.exact and not self.data.fixed_order:
            raise ValueError("a Monte-Carlo Fisher needs the data in a fixed order (tensors or a list of batches), so "
                             "that every product uses the same draws; this data source may change between passes")

    def _targets(self, f0, yb, index):
        g = torch.Generator(device=f0.device)
        g.manual_seed(int(np.random.SeedSequence([self.seed, index]).generate_state(1)[0]))
        draws = []
        for _ in range(self.mc_samples):
            y = self._sample(f0, yb, g)
            if not isinstance(y, torch.Tensor) or y.shape != yb.shape:
                got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
                raise ValueError(f"sampler returned {got}; it must return targets shaped like Y {tuple(yb.shape)}")
            draws.append(y.to(yb.device))
        return draws

    def _prepare(self, xb, yb, w: float):
        if self.exact:  # the GGN's own state, skipping the outer products of the Monte-Carlo path
            return super(_GradientOuterProducts, self)._prepare(xb, yb, w)
        return super()._prepare(xb, yb, w)

    def _output_product(self, state, JV: torch.Tensor) -> torch.Tensor:
        if self.exact:
            return super(_GradientOuterProducts, self)._output_product(state, JV)
        return super()._output_product(state, JV)

    def __repr__(self) -> str:
        how = "exact" if self.exact else f"mc_samples={self.mc_samples}, seed={self.seed}"
        return f"FisherOperator(shape={self.shape}, dtype={self.dtype}, {how})"


def fisher(model: nn.Module, loss: LossLike, X, Y=None, *, mc_samples: int | None = None, seed: int = 0,
           sampler: Sampler | None = None, params=None, batch_size: int | None = None, reduction: str | None = None,
           input_key=None, target_key=None, batch_size_fn=None, num_targets_fn=None,
           check_deterministic: bool = True) -> FisherOperator:
    """The Fisher information of the model's predictive distribution, in the loss's normalisation (module docstring;
    Kunstner et al. 2019, arXiv 1905.12558, §1).

    Parameters
    ----------
    model, loss, X, Y, params, batch_size, reduction, input_key, target_key, batch_size_fn, num_targets_fn, check_deterministic
        As for :func:`hessverify.operators.hessian`. ``loss`` must be a negative log-likelihood: exact for
        ``"mse"``, ``"cross_entropy"``, ``nn.MSELoss``, ``nn.CrossEntropyLoss``, ``nn.BCEWithLogitsLoss``
        (where the Fisher equals the GGN); any other loss with ``sampler``.
    mc_samples : int, optional
        Draws per sample of a Monte-Carlo Fisher (required with ``sampler``); with a named likelihood, draws from
        it instead of the exact formula. ``None``: exact.
    seed : int
        Seeds the draws (batch ``b`` uses the stream ``(seed, b)``), so the operator is one fixed matrix.
    sampler : callable, optional
        ``sampler(output, generator) -> targets`` shaped like ``Y``, drawn from ``q(.|output)``, where
        ``loss`` is the mean (or sum) of ``-log q`` over the targets.

    Returns
    -------
    FisherOperator
        ``d x d``, positive semi-definite; ``F.exact``, ``F.mc_samples``, ``F.seed`` say how it was computed.
    """
    return FisherOperator(model, loss, X, Y, mc_samples=mc_samples, seed=seed, sampler=sampler, params=params,
                          batch_size=batch_size, reduction=reduction, input_key=input_key, target_key=target_key,
                          batch_size_fn=batch_size_fn, num_targets_fn=num_targets_fn,
                          check_deterministic=check_deterministic)


def empirical_fisher(model: nn.Module, loss: LossLike, X, Y=None, *, params=None, batch_size: int | None = None,
                     reduction: str | None = None, input_key=None, target_key=None, batch_size_fn=None,
                     num_targets_fn=None, check_deterministic: bool = True) -> EmpiricalFisherOperator:
    """The empirical Fisher ``(1/D) sum_i grad l_i grad l_i^T`` (a mean loss; ``sum_i`` for a sum) of the per-sample
    loss terms ``l_i`` at the observed targets: Kunstner et al. 2019's ``F~`` (arXiv 1905.12558, §1) in the
    loss's normalisation, curvlinops' ``EFLinearOperator``.

    Parameters
    ----------
    model, loss, X, Y, params, batch_size, reduction, input_key, target_key, batch_size_fn, num_targets_fn, check_deterministic
        As for :func:`hessverify.operators.hessian`; ``loss`` any loss that is a mean or sum over samples. A
        sample is a row of the leading dimension (a whole sequence for ``(n, C, T)`` outputs).

    Returns
    -------
    EmpiricalFisherOperator
        ``d x d``, positive semi-definite, of rank at most the number of samples.
    """
    return EmpiricalFisherOperator(model, loss, X, Y, params=params, batch_size=batch_size, reduction=reduction,
                                   input_key=input_key, target_key=target_key, batch_size_fn=batch_size_fn,
                                   num_targets_fn=num_targets_fn, check_deterministic=check_deterministic)
