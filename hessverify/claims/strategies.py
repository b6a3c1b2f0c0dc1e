"""Hypothesis strategies of settings, composed from small named pieces so that shrinking gives a readable
minimal example (``build_setting(...)`` with the smallest widths, seed 0, round numbers).

Every network strategy draws the awkward cases by default, because an outside reviewer finds exactly those
(each with a fair probability, and each shrinks towards the plain Gaussian case):

- inputs (:mod:`hessverify.claims.inputs`): constant features, duplicated samples, the all-ones vector in the
  column space, ill-conditioned inputs (condition ~1e8); rank-deficient inputs and ``n < d0`` where the inputs
  are raw;
- weights: zero and repeated singular values, width-1 bottlenecks, tiny (1e-3) and huge scales;
- rational settings (``exact=True``, :mod:`hessverify.exact`), on which ranks are computed exactly.

Every strategy takes keyword arguments to constrain it; a constraint is an assumption the claim states.
"""
from __future__ import annotations

import math

from hypothesis import assume
from hypothesis import strategies as st

from hessverify.claims.inputs import INPUTS
from hessverify.claims.settings import build_setting

__all__ = ["widths", "singular_values", "sigma_x", "input_recipes", "balanced_linear_networks", "linear_networks",
           "shallow_linear_networks", "mlps", "symmetric_matrices", "spectra", "networks_with_input_rank",
           "linear_cnns", "raw_covariance_networks"]

_ROUND = [0.0, 0.5, 1.0, 1.5, 2.0]
#: the extreme scales every scale strategy also draws (tiny and huge)
TINY, HUGE = 1e-3, 1e3


def widths(depth=st.integers(1, 6), width=st.integers(1, 6), *, max_params: int = 240) -> st.SearchStrategy:
    """Width tuples ``(d0, ..., dL)``: bottlenecks, ``d0 != dL`` and width 1 included.

    Parameters
    ----------
    depth : int or strategy of int
        The number of layers ``L``.
    width : int or strategy of int
        Each width, drawn independently.
    max_params : int
        At least 1: tuples with more weights than this (``sum_l d_l d_{l-1}``) are filtered out.

    Returns
    -------
    SearchStrategy
        Of tuples of ``L + 1`` ints.
    """
    if max_params < 1:
        raise ValueError(f"max_params={max_params} must be at least 1")
    depth = st.just(depth) if isinstance(depth, int) else depth
    width = st.just(width) if isinstance(width, int) else width

    def build(L):
        return st.lists(width, min_size=L + 1, max_size=L + 1).map(tuple)

    return depth.flatmap(build).filter(lambda w: sum(a * b for a, b in zip(w[:-1], w[1:])) <= max_params)


def singular_values(k: int, *, low: float = 0.0, high: float = 2.0, allow_zero: bool = True) -> st.SearchStrategy:
    """``k`` singular values: distinct, repeated (drawn from round numbers), zero, or tiny (``1e-3``, when
    ``low`` allows it).

    Parameters
    ----------
    k : int
        How many (``min(widths)`` for balanced weights), at least 1.
    low, high : float
        The range, ``0 <= low <= high``; values other than the round ones are rounded to 6 decimals.
    allow_zero : bool
        Whether zero may be drawn.

    Returns
    -------
    SearchStrategy
        Of lists of ``k`` floats, descending.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k={k!r} must be a positive int (min(widths))")
    if not 0 <= low <= high:
        raise ValueError(f"need 0 <= low <= high for singular values, got low={low}, high={high}")
    value = st.floats(low, high, allow_nan=False, allow_infinity=False).map(lambda x: round(x, 6))
    round_values = [v for v in [*_ROUND, TINY] if low <= v <= high and (allow_zero or v > 0)]
    if not allow_zero:
        value = value.filter(lambda x: x > 0)
    piece = st.one_of(st.sampled_from(round_values), value) if round_values else value
    return st.lists(piece, min_size=k, max_size=k).map(lambda s: sorted(s, reverse=True))


def sigma_x(low: float = 0.25, high: float = 3.0, *, extremes: bool = True) -> st.SearchStrategy:
    """Input scale of 003 Assumption 2: round values, any value in ``[low, high]``, and (``extremes``) the tiny
    and huge scales ``1e-3`` and ``1e3``.

    Parameters
    ----------
    low, high : float
        The range of the round values (1, 0.5, 2; ``low`` if none fits) and of the others (rounded to 4
        decimals), ``0 < low <= high``.
    extremes : bool
        Also draw ``1e-3`` and ``1e3``, whatever the range.

    Returns
    -------
    SearchStrategy
        Of floats.
    """
    if not 0 < low <= high:
        raise ValueError(f"need 0 < low <= high for sigma_x, got low={low}, high={high}")
    pieces = [st.sampled_from([v for v in (1.0, 0.5, 2.0) if low <= v <= high] or [low]),
              st.floats(low, high).map(lambda x: round(x, 4))]
    if extremes:
        pieces.append(st.sampled_from([TINY, HUGE]))
    return st.one_of(*pieces)


_sigma_x, _singular_values, _widths = sigma_x, singular_values, widths  # parameters below shadow these names


def weight_scales(low: float = 0.2, high: float = 2.0) -> st.SearchStrategy:
    """Scales of Gaussian weights: any value in ``[low, high]``, and the tiny and huge ``1e-3``, ``1e2``."""
    return st.one_of(st.floats(low, high).map(lambda x: round(x, 3)), st.sampled_from([TINY, 100.0]))


def input_recipes() -> st.SearchStrategy:
    """An input recipe (:data:`hessverify.claims.inputs.INPUTS`); Gaussian half of the time, shrinking to it.

    Returns
    -------
    SearchStrategy
        Of recipe names, for ``build_setting(inputs=...)``.
    """
    return st.one_of(st.just("gaussian"), st.sampled_from(INPUTS))


def _value(x):
    return x if isinstance(x, st.SearchStrategy) else st.just(x)


def _recipe_fits(recipe: str, n: int, d0: int, whitened: bool, exact: bool) -> bool:
    """Whether ``recipe`` can build inputs of this shape (whitening needs full column rank; exact whitening
    exists only for Gaussian and evenly duplicated samples)."""
    if not whitened:
        return True
    if exact:
        return recipe == "gaussian" or (recipe == "duplicated" and n % 2 == 0 and n // 2 >= d0)
    return recipe != "duplicated" or math.ceil(n / 2) >= d0


@st.composite
def _network(draw, kind, widths_st, n_extra, sigma, seed, inputs, exact, **fixed):
    w = draw(widths_st)
    scale = draw(sigma)
    whitened = scale is not None
    n = w[0] + draw(n_extra)
    if not whitened:  # raw inputs may have fewer samples than features
        n = draw(st.one_of(st.just(n), st.integers(1, n)))
    is_exact = bool(draw(_value(exact)))
    recipe = draw(_value(inputs))
    if not _recipe_fits(recipe, n, w[0], whitened, is_exact):
        recipe = "gaussian"
    spec = dict(kind=kind, widths=w, n=n, sigma_x=scale, seed=draw(seed), inputs=recipe, exact=is_exact)
    for key, val in fixed.items():
        if callable(val) and not isinstance(val, st.SearchStrategy):
            val = val(w)
        spec[key] = draw(_value(val))
    return build_setting(**{k: v for k, v in spec.items() if v is not None or k == "sigma_x"})


def balanced_linear_networks(*, widths=None, depth=st.integers(1, 6), n_extra=st.integers(0, 6), sigma_x=None,
                             singular_values=None, seed=st.integers(0, 2**16), targets="zero_loss",
                             allow_zero_singular_values: bool = True, inputs=None, exact=st.booleans(),
                             **fixed) -> st.SearchStrategy:
    """Strongly balanced deep linear networks (003 Assumption 3) on whitened inputs (Assumption 2), with
    ``n = d0 + n_extra`` samples and zero loss by default (Assumption 1). ``exact`` draws rational settings
    (Cayley-orthogonal factors, exactly whitened inputs) half of the time.

    Parameters
    ----------
    widths : strategy of tuple of int, optional
        The width tuples; default :func:`widths` of ``depth``.
    depth : int or strategy of int
        The number of layers when ``widths`` is not given.
    n_extra : strategy of int
        Samples beyond ``d0`` (whitening needs ``n >= d0``).
    sigma_x : strategy, optional
        The input scale; default :func:`sigma_x`. ``st.none()`` gives raw inputs (then ``n`` may also be drawn
        below ``d0 + n_extra``, down to 1).
    singular_values : strategy or callable, optional
        The singular values, or ``widths -> strategy``; default :func:`singular_values` of ``min(widths)``.
    seed : strategy of int
        The setting's seed.
    targets : str or strategy
        As for :func:`~hessverify.claims.build_setting`.
    allow_zero_singular_values : bool
        Whether the default singular values include zero.
    inputs : str or strategy, optional
        The input recipe; default :func:`input_recipes`. A recipe that cannot build the drawn shape (whitened
        duplicates with ``ceil(n/2) < d0``; exact whitening of anything but Gaussian or evenly duplicated
        inputs) is replaced by ``"gaussian"``.
    exact : bool or strategy of bool
        Rational settings (:mod:`hessverify.exact`).
    **fixed
        Further :func:`~hessverify.claims.build_setting` arguments: values, strategies, or ``widths -> value or
        strategy``.

    Returns
    -------
    SearchStrategy
        Of :class:`~hessverify.claims.Setting`.
    """
    w = widths if widths is not None else _widths(depth=depth)
    sv = singular_values if singular_values is not None else (
        lambda ws: _singular_values(min(ws), allow_zero=allow_zero_singular_values))
    return _network("balanced_linear", w, n_extra, sigma_x if sigma_x is not None else _sigma_x(), seed,
                    inputs if inputs is not None else input_recipes(), exact, singular_values=sv, targets=targets,
                    **fixed)


def linear_networks(*, widths=None, depth=st.integers(1, 6), n_extra=st.integers(0, 6), sigma_x=None,
                    weight_scale=None, seed=st.integers(0, 2**16), targets="zero_loss", inputs=None,
                    exact=st.booleans(), **fixed) -> st.SearchStrategy:
    """Linear networks with arbitrary (Gaussian) weights on whitened inputs; ``sigma_x=st.none()`` for raw.

    Parameters
    ----------
    widths, depth, n_extra, sigma_x, seed, targets, inputs, exact, **fixed
        As for :func:`balanced_linear_networks`.
    weight_scale : float or strategy, optional
        Weights are ``N(0, weight_scale^2 / fan_in)``; default any scale in ``[0.2, 2]`` or the extremes ``1e-3``
        and ``100``.

    Returns
    -------
    SearchStrategy
        Of :class:`~hessverify.claims.Setting`.
    """
    w = widths if widths is not None else _widths(depth=depth)
    return _network("linear", w, n_extra, sigma_x if sigma_x is not None else _sigma_x(), seed,
                    inputs if inputs is not None else input_recipes(), exact,
                    weight_scale=weight_scale if weight_scale is not None else weight_scales(), targets=targets,
                    **fixed)


def shallow_linear_networks(**kwargs) -> st.SearchStrategy:
    """Two-layer linear networks (003 Appendix B) with Gaussian weights: :func:`linear_networks` with ``depth=2``.

    Parameters
    ----------
    **kwargs
        As for :func:`linear_networks` (``depth`` defaults to 2).

    Returns
    -------
    SearchStrategy
        Of :class:`~hessverify.claims.Setting`.
    """
    kwargs.setdefault("depth", 2)
    return linear_networks(**kwargs)


def mlps(activation: str = "tanh", *, widths=None, depth=st.integers(1, 4), n_extra=st.integers(0, 8),
         sigma_x=None, bias=True, loss="mse", targets="teacher", seed=st.integers(0, 2**16),
         weight_scale=None, inputs=None, **fixed) -> st.SearchStrategy:
    """Non-linear MLPs ``Linear, act, ..., Linear`` with biases; ``loss="cross_entropy"`` draws labels.

    Parameters
    ----------
    activation : {"tanh", "relu", "sigmoid"}
        The activation.
    widths : strategy of tuple of int, optional
        The width tuples; default :func:`widths` of ``depth`` with at most 200 weights (and ``dL >= 2`` for
        cross-entropy).
    depth, n_extra, sigma_x, seed, inputs, **fixed
        As for :func:`balanced_linear_networks`; never rational.
    bias : bool or strategy
        Biases on every layer.
    loss : {"mse", "cross_entropy"}
        The loss.
    targets : str or strategy
        As for :func:`~hessverify.claims.build_setting` (a teacher by default).
    weight_scale : float or strategy, optional
        As for :func:`linear_networks`; default any scale in ``[0.3, 2]`` or the extremes ``1e-3`` and ``100``.

    Returns
    -------
    SearchStrategy
        Of :class:`~hessverify.claims.Setting`.
    """
    if activation not in ("tanh", "relu", "sigmoid"):
        raise ValueError(f"activation={activation!r} is not supported; use 'tanh', 'relu' or 'sigmoid'")
    if loss not in ("mse", "cross_entropy"):
        raise ValueError(f"loss={loss!r} is not supported by mlps(); use 'mse' or 'cross_entropy'")
    w = widths if widths is not None else _widths(depth=depth, max_params=200)
    if loss == "cross_entropy":
        w = w.filter(lambda ws: ws[-1] >= 2)
    return _network("mlp", w, n_extra, sigma_x if sigma_x is not None else _sigma_x(), seed,
                    inputs if inputs is not None else input_recipes(), False, activation=activation, bias=bias,
                    loss=loss, targets=targets,
                    weight_scale=weight_scale if weight_scale is not None else weight_scales(0.3, 2.0), **fixed)


def spectra(size=st.integers(2, 40), *, low: float = -50.0, high: float = 50.0, repeats: bool = True):
    """Eigenvalue lists: random values, optionally with exact repeats (clusters of equal values), zeros and
    values near zero (``1e-17``: floating point cannot tell them from 0, exact arithmetic can).

    Parameters
    ----------
    size : strategy of int
        The number of eigenvalues.
    low, high : float
        The range of the values (rounded to 4 decimals); 0 and ``1e-17`` are drawn where the range holds them.
    repeats : bool
        With ``size > 2``, half of the time make the first 2 to 4 values equal.

    Returns
    -------
    SearchStrategy
        Of lists of floats (unsorted).
    """
    value = st.one_of(st.floats(low, high, allow_nan=False).map(lambda x: round(x, 4)),
                      st.sampled_from([v for v in (0.0, 1e-17) if low <= v <= high] or [low]))

    @st.composite
    def build(draw):
        m = draw(size)
        vals = draw(st.lists(value, min_size=m, max_size=m))
        if repeats and m > 2 and draw(st.booleans()):
            copies = draw(st.integers(2, min(4, m)))
            vals[:copies] = [vals[0]] * copies
        return vals

    return build()


def symmetric_matrices(eigenvalues=None, *, seed=st.integers(0, 2**16), exact=st.booleans()) -> st.SearchStrategy:
    """Symmetric matrices ``Q diag(eigenvalues) Q^T`` with a known spectrum (``s.matrix``, ``s.eigenvalues``);
    ``exact`` draws rational ones (Cayley ``Q``) half of the time.

    Parameters
    ----------
    eigenvalues : strategy of list of float, optional
        The spectra; default :func:`spectra`.
    seed : strategy of int
        The setting's seed (it draws ``Q``).
    exact : bool or strategy of bool
        Rational matrices.

    Returns
    -------
    SearchStrategy
        Of :class:`~hessverify.claims.Setting` with ``kind="symmetric_matrix"``.
    """
    eig = eigenvalues if eigenvalues is not None else spectra()
    return st.builds(lambda e, sd, ex: build_setting(kind="symmetric_matrix", eigenvalues=list(e), seed=sd,
                                                     sigma_x=None, exact=ex), eig, seed, _value(exact))


@st.composite
def networks_with_input_rank(draw, *, depth=st.integers(2, 4), width=st.integers(1, 5), activation=None,
                             bias: bool = False, targets: str = "teacher", max_params: int = 240,
                             seed=st.integers(0, 2**16), inputs=None, exact=None):
    """Raw inputs of every rank: ``n`` from 1 to ``d0 + 4`` (so ``n < d0`` too) and ``X = G1 G2`` of inner
    dimension ``input_rank`` from 1 to ``d0 + 1``, then an input recipe. Linear (``activation=None``; rational,
    ``exact=True``, by default so ranks are exact) or an MLP; no bias by default; teacher targets leave a
    non-zero residual. ``Setting.input_rank`` is the rank of the inputs drawn (exact when rational).

    Parameters
    ----------
    depth, width : int or strategy of int
        As for :func:`widths`.
    activation : {"tanh", "relu", "sigmoid"}, optional
        None: linear networks; else MLPs with this activation.
    bias : bool
        Biases on every layer.
    targets : str
        As for :func:`~hessverify.claims.build_setting`.
    max_params : int
        As for :func:`widths`.
    seed : strategy of int
        The setting's seed.
    inputs : str or strategy, optional
        The input recipe; default :func:`input_recipes`.
    exact : bool or strategy of bool, optional
        Rational settings; default True for linear networks, False for MLPs.

    Returns
    -------
    SearchStrategy
        Of :class:`~hessverify.claims.Setting` with raw inputs.
    """
    w = draw(_widths(depth=depth, width=width, max_params=max_params))
    n = draw(st.integers(1, w[0] + 4))
    is_exact = draw(_value(exact if exact is not None else activation is None))
    spec = dict(kind="linear" if activation is None else "mlp", widths=w, n=n, sigma_x=None, seed=draw(seed),
                input_rank=draw(st.integers(1, w[0] + 1)), targets=targets, bias=bias,
                inputs=draw(_value(inputs if inputs is not None else input_recipes())), exact=bool(is_exact))
    if activation is not None:
        spec["activation"] = activation
    return build_setting(**spec)


@st.composite
def linear_cnns(draw, *, dims=st.sampled_from([1, 2]), convolutions=st.integers(1, 2), channels=st.integers(1, 3),
                kernel=st.integers(1, 3), stride=st.integers(1, 2), extra=st.integers(0, 4), n=st.integers(1, 6),
                outputs=st.integers(1, 3), max_params: int = 400, seed=st.integers(0, 2**16), exact=True):
    """Linear CNNs (2305.09088): ``convolutions`` 1-D or 2-D convolutions with ``channels``, ``kernel`` and
    ``stride``, then a dense read-out; the input side is the least on which every layer fits, plus ``extra``.
    Rational (``exact=True``) by default, so their ranks are exact.

    Parameters
    ----------
    dims : strategy of int
        1-D or 2-D inputs.
    convolutions : strategy of int
        The number of convolutions ``L``.
    channels : strategy of int
        Each of the ``L + 1`` channel counts (input and after each convolution).
    kernel, stride : strategy of int
        Shared by all convolutions.
    extra : strategy of int
        Added to the least input side (at most 2 for 2-D inputs).
    n : strategy of int
        The number of samples.
    outputs : strategy of int
        The read-out's outputs ``K``.
    max_params : int
        Settings with more parameters are rejected (``hypothesis.assume``).
    seed : strategy of int
        The setting's seed.
    exact : bool or strategy of bool
        Rational settings.

    Returns
    -------
    SearchStrategy
        Of :class:`~hessverify.claims.Setting` with ``kind="linear_cnn"``.
    """
    dim, L, k, s = draw(dims), draw(convolutions), draw(kernel), draw(stride)
    ch = tuple([draw(channels) for _ in range(L + 1)] + [draw(outputs)])
    side = 1
    for _ in range(L):  # the least input side whose L-th feature map has side >= 1
        side = (side - 1) * s + k
    side += draw(extra) if dim == 1 else min(draw(extra), 2)
    setting = build_setting(kind="linear_cnn", widths=ch, n=draw(n), sigma_x=None, seed=draw(seed),
                            spatial=(side,) * dim, kernel=k, stride=s, exact=bool(draw(_value(exact))))
    assume(setting.num_params <= max_params)
    return setting


@st.composite
def raw_covariance_networks(draw, *, width=st.integers(1, 4), n_extra=st.integers(0, 4),
                            variance=st.sampled_from([0.25, 0.5, 1.0, 2.0, 3.0]), balanced=st.booleans(),
                            seed=st.integers(0, 2**16)):
    """Two-layer linear networks (balanced or Gaussian weights) on raw inputs whose covariance commutes with
    ``W1^T W1`` (``build_setting(input_spectrum=...)``): the case gradient flow from small balanced
    initialisation tends to. Variances repeat (round values), so eigenspaces of any dimension occur.

    Parameters
    ----------
    width : int or strategy of int
        Each of the three widths.
    n_extra : strategy of int
        Samples beyond ``d0``.
    variance : strategy of float
        Each of the ``d0`` input variances (``input_spectrum``).
    balanced : strategy of bool
        Balanced weights (with :func:`singular_values`) or Gaussian ones.
    seed : strategy of int
        The setting's seed.

    Returns
    -------
    SearchStrategy
        Of :class:`~hessverify.claims.Setting` with raw inputs.
    """
    w = draw(_widths(depth=2, width=width))
    spec = dict(widths=w, n=w[0] + draw(n_extra), sigma_x=None, seed=draw(seed),
                input_spectrum=[draw(variance) for _ in range(w[0])])
    if draw(balanced):
        return build_setting(kind="balanced_linear", singular_values=draw(_singular_values(min(w))), **spec)
    return build_setting(kind="linear", **spec)
