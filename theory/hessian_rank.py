"""Rank formulas for the loss Hessian of deep linear networks (Singh, Bachmann, Hofmann, "Analytic insights
into structure and rank of neural network Hessian maps", NeurIPS 2021, arXiv 2106.16225).

Notation of the paper: ``L`` layers, input dimension ``d``, hidden widths ``M_1..M_{L-1}``, ``K`` outputs,
``r = rank(X)`` (the rank of the input covariance), ``q = min(r, M_1, ..., M_{L-1}, K)``, ``s = min(r, K)``.
The loss is the mean squared error; ``H = H_o + H_f`` (outer-product / Gauss-Newton term plus functional
term). The formulas are transcribed from the authors' reference notebook (github.com/dalab/hessian-rank,
``hessian_rank.ipynb``), which cites them as the paper's results; where our copy of the paper's theorem
numbering could not be read, the claim files say so. No bias terms.
"""
from __future__ import annotations

from collections.abc import Sequence
import math
import operator

from theory._checks import check_widths


def _q_s(widths: Sequence[int], input_rank: int) -> tuple[int, int, list[int], int]:
    widths = check_widths(widths)
    message = f"input_rank={input_rank!r} must be a non-negative int (the rank of X)"
    if isinstance(input_rank, bool):
        raise ValueError(message)
    try:
        input_rank = operator.index(input_rank)  # numpy integers too
    except TypeError:
        raise ValueError(message) from None
    if input_rank < 0:
        raise ValueError(message)
    hidden = list(widths[1:-1])
    K = widths[-1]
    q = min([input_rank, K, *hidden])
    return q, min(input_rank, K), hidden, K


def outer_product_rank(widths: Sequence[int], input_rank: int) -> int:
    r"""2106.16225 (outer-product Hessian of a deep linear network): ``rank(H_o) = q (r + K - q)``.

    .. math::

        \operatorname{rank}(H_o) = q\,(r + K - q)

    Parameters
    ----------
    widths : Sequence[int]
        ``(d_0, d_1, ..., d_L)``: input width, hidden widths, output width.
    input_rank : int
        ``r = rank(X)``, the rank of the inputs.

    Returns
    -------
    int
        ``q (r + K - q)`` with ``q = min(r, d_1, ..., d_L)`` and ``K = d_L``.
    """
    q, _, _, K = _q_s(widths, input_rank)
    return q * (input_rank + K - q)


def functional_rank(widths: Sequence[int], input_rank: int) -> int:
    """2106.16225 (functional Hessian, MSE): ``rank(H_f) = 2 q sum_l M_l + 2 q s - L q^2``.

    Parameters
    ----------
    widths : Sequence[int]
        ``(d_0, d_1, ..., d_L)``: input width, hidden widths, output width.
    input_rank : int
        ``r = rank(X)``, the rank of the inputs.

    Returns
    -------
    int
        The rank of the functional Hessian ``H_f``; 0 at depth 1, where the loss is quadratic in the weights
        (``H = G``, ``H_f = 0``) and the formula, stated for deep networks, would give ``q^2``.
    """
    q, s, hidden, _ = _q_s(widths, input_rank)
    L = len(widths) - 1
    if L == 1:
        return 0
    return 2 * q * sum(hidden) + 2 * q * s - L * q * q


def hessian_rank(widths: Sequence[int], input_rank: int) -> int:
    """2106.16225 (full loss Hessian, MSE): ``rank(H) = 2 q sum_l M_l + q (r + K) - L q^2``.

    Parameters
    ----------
    widths : Sequence[int]
        ``(d_0, d_1, ..., d_L)``: input width, hidden widths, output width.
    input_rank : int
        ``r = rank(X)``, the rank of the inputs.

    Returns
    -------
    int
        The rank of the full loss Hessian, at most the number of parameters.
    """
    q, _, hidden, K = _q_s(widths, input_rank)
    L = len(widths) - 1
    return 2 * q * sum(hidden) + q * (input_rank + K) - L * q * q


def outer_product_rank_with_bias(widths: Sequence[int], input_rank: int, n: int, ones_in_row_space: bool) -> int:
    """Derived here (first version, refuted: see ``outer_product_rank_with_bias_corrected``): with a bias in every
    layer the network computes ``x -> A x + c`` (``rank A <= q``, ``c`` free through the last bias), so the
    tangent space is ``{dA X + dc 1^T}``: ``q (r + K - q)`` directions from ``dA`` plus ``K`` from ``dc``, less
    the ``q`` directions ``dc`` in the column space of ``A`` when the all-ones sample vector lies in the row
    space of ``X`` (then ``dc 1^T = dA X`` for a tangent ``dA``); and at most the ``n K`` rows of the Jacobian.
    It overcounts by ``K - q`` when the all-ones vector is in the span and ``q = r < K``.

    Parameters
    ----------
    widths : Sequence[int]
        ``(d_0, d_1, ..., d_L)``: input width, hidden widths, output width.
    input_rank : int
        ``r = rank(X)``, the rank of the inputs.
    n : int
        The number of samples.
    ones_in_row_space : bool
        Whether the all-ones sample vector lies in the row space of ``X``.

    Returns
    -------
    int
        The first (refuted) rank formula, capped at ``n K``.
    """
    q, _, _, K = _q_s(widths, input_rank)
    return min(outer_product_rank(widths, input_rank) + K - (q if ones_in_row_space else 0), n * K)


def outer_product_rank_with_bias_corrected(widths: Sequence[int], input_rank: int, n: int,
                                           ones_in_span: bool) -> int:
    """Derived here (corrects ``outer_product_rank_with_bias``): ``rank(H_o)`` of a deep linear network with a
    bias in every layer, at generic weights, is ``min(q (r + K - q) + K - e, n K)`` with

    - ``e = 0`` when the all-ones sample vector is not in the column space of ``X`` (``n x d0``);
    - ``e = K`` when it is and ``q = r`` (the end-to-end map ``A`` has rank ``>= r``);
    - ``e = q`` when it is and ``q < r``.

    Derivation: the Jacobian's image is ``S1 + S2`` with ``S1 = {X dA^T : dA tangent to the rank-q_A matrices
    at A}`` (dimension ``q (r + K - q)``, 2106.16225) and ``S2 = {1 dc^T}`` (dimension ``K``; the last bias
    makes ``dc`` free). If ``1 = X w`` then ``1 dc^T = X (dc w^T)^T`` lies in ``S1`` iff ``dc w'^T`` is tangent for
    some ``w'`` with ``X w' = 1``, i.e. iff ``U_perp^T dc = 0`` or some such ``w'`` lies in the row space of ``A``.
    The latter holds at generic weights iff ``1`` is in the column space of ``X V`` (``V`` the row space of
    ``A``, dimension ``q_A``), which is all of the column space of ``X`` iff ``q_A >= r``, i.e. ``q = r``. So the
    intersection is ``S2`` (``e = K``) when ``q = r`` and ``{dc in col(A)}`` (``e = q``) otherwise.

    Parameters
    ----------
    widths : Sequence[int]
        ``(d_0, d_1, ..., d_L)``: input width, hidden widths, output width.
    input_rank : int
        ``r = rank(X)``, the rank of the inputs.
    n : int
        The number of samples.
    ones_in_span : bool
        Whether the all-ones sample vector lies in the column space of ``X`` (``n x d0``).

    Returns
    -------
    int
        ``min(q (r + K - q) + K - e, n K)``.
    """
    q, _, _, K = _q_s(widths, input_rank)
    if not ones_in_span:
        extra = K
    elif q == input_rank:
        extra = 0
    else:
        extra = K - q
    return min(outer_product_rank(widths, input_rank) + extra, n * K)


def conv_output_size(size: Sequence[int], kernel: int, stride: int) -> tuple[int, ...]:
    """Spatial size after a 'valid' convolution: ``(D - k) // s + 1`` per axis.

    Parameters
    ----------
    size : Sequence[int]
        The input's spatial size ``D`` per axis.
    kernel : int
        The kernel size ``k`` (the same on every axis).
    stride : int
        The stride ``s``.

    Returns
    -------
    tuple of int
        ``(D - k) // s + 1`` per axis.
    """
    return tuple((d - kernel) // stride + 1 for d in size)


def linear_cnn_outer_product_rank_bound(channels: Sequence[int], spatial: Sequence[int], kernel: int, stride: int,
                                        n: int, input_rank: int) -> int:
    """An upper bound on ``rank(H_o)`` of a linear CNN (``L-1`` convolutions, then a dense read-out to ``K``),
    after 2305.09088's strategy of writing each convolution as a Toeplitz matrix, derived here:

    - the CNN is a deep linear network with Toeplitz weights, widths ``(C_0 D_0, C_1 D_1, ..., K)``, so its
      Jacobian is the dense one times a fixed matrix: ``rank <= q (r + K - q)`` (2106.16225, generic maximum);
    - splitting the Jacobian into convolution and read-out columns: ``rank <= #conv weights + K rank(F)`` with
      ``rank(F) <= min(n, r, C_{L-1} D_{L-1})`` for the read-out features ``F``;
    - and ``rank <= n K`` (rows), ``<= #weights`` (columns).

    Parameters
    ----------
    channels : Sequence[int]
        ``(C_0, C_1, ..., C_{L-1}, K)``: channel counts, then the read-out's outputs.
    spatial : Sequence[int]
        The input's spatial size ``D_0`` per axis (1-D or 2-D).
    kernel : int
        The kernel size of every convolution.
    stride : int
        The stride of every convolution.
    n : int
        The number of samples.
    input_rank : int
        The rank of the flattened inputs ``(n, C_0 D_0)``.

    Returns
    -------
    int
        The least of the bounds listed above.
    """
    channels = check_widths(channels)
    sizes = [tuple(spatial)]
    for _ in channels[1:-1]:
        sizes.append(conv_output_size(sizes[-1], kernel, stride))
    flat = [c * int(math.prod(sz)) for c, sz in zip(channels[:-1], sizes)] + [channels[-1]]
    K = channels[-1]
    conv_weights = sum(a * b * kernel ** len(spatial) for a, b in zip(channels[:-2], channels[1:-1]))
    readout = flat[-2] * K
    toeplitz = outer_product_rank(flat, input_rank)
    split = conv_weights + K * min(n, input_rank, flat[-2])
    return int(min(toeplitz, split, n * K, conv_weights + readout))
