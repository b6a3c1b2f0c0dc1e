"""Closed forms for deep linear networks on whitened data (document 003).

Conventions: weights ``W_l`` have shape ``(d_l, d_{l-1})``; data ``X`` is ``(n, d0)`` (the paper's ``X^T``)
with ``X^T X / n = sigma_x^2 I`` (Assumption 2); the GGN is ``J^T J / n`` and the NTK ``J J^T / n`` with
sample-major rows. Eigenvalues are returned descending.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from theory._checks import (check_depth, check_nonnegative, check_samples, check_sigma_x, check_singular_values,
                            check_weights, check_widths)


def num_params(widths: Sequence[int]) -> int:
    """003 §2.1: ``p = sum_l d_{l-1} d_l``.

    Parameters
    ----------
    widths : Sequence[int]
        ``(d_0, d_1, ..., d_L)``: input width, hidden widths, output width.

    Returns
    -------
    int
        ``p``.
    """
    widths = check_widths(widths)
    return int(sum(a * b for a, b in zip(widths[:-1], widths[1:])))


def _padded(s: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros(size)
    out[: min(size, s.size)] = np.sort(s)[::-1][:size]
    return out


def pairwise_eigenvalues(s_in: np.ndarray, s_out: np.ndarray, depth: int, sigma_x: float) -> np.ndarray:
    r"""003 eq (9a): ``lambda_ij = sigma_x^2 sum_{l=1}^L s_i^{2(L-l)} t_j^{2(l-1)}`` for all pairs, as a
    ``(len(s_in), len(s_out))`` array, with ``0^0 = 1`` (``(W^T W)^0 = I``).

    .. math::

        \lambda_{ij} = \sigma_x^2 \sum_{l=1}^{L} s_i^{2(L-l)}\, t_j^{2(l-1)}

    Parameters
    ----------
    s_in : np.ndarray
        ``s_i``: the singular values on the input side (``W_1``'s), zeros padded.
    s_out : np.ndarray
        ``t_j``: the singular values on the output side (``W_L``'s), zeros padded.
    depth : int
        ``L``.
    sigma_x : float
        The input scale ``sigma_x`` of whitened inputs, ``X^T X / n = sigma_x^2 I`` (003 Assumption 2).

    Returns
    -------
    numpy.ndarray
        ``lambda_ij``, shape ``(len(s_in), len(s_out))``.
    """
    depth, sigma_x = check_depth(depth), check_sigma_x(sigma_x)
    s2 = check_nonnegative("s_in", s_in).reshape(-1)[:, None] ** 2
    t2 = check_nonnegative("s_out", s_out).reshape(-1)[None, :] ** 2
    total = np.zeros((s2.shape[0], t2.shape[1]))
    for l in range(1, depth + 1):
        total = total + np.power(s2, depth - l) * np.power(t2, l - 1)  # numpy: 0.0 ** 0 == 1.0
    return sigma_x**2 * total


def geometric_closed_form(s_i: np.ndarray, s_j: np.ndarray, depth: int) -> np.ndarray:
    r"""003 eq (9b): ``(s_i^{2L} - s_j^{2L}) / (s_i^2 - s_j^2)``, and ``L s^{2(L-1)}`` where ``s_i = s_j``.

    .. math::

        \frac{s_i^{2L} - s_j^{2L}}{s_i^2 - s_j^2}\ (s_i \ne s_j), \qquad L\, s^{2(L-1)}\ (s_i = s_j = s)

    Parameters
    ----------
    s_i : np.ndarray
        Singular values ``s_i`` (broadcast against ``s_j``).
    s_j : np.ndarray
        Singular values ``s_j``.
    depth : int
        ``L``.

    Returns
    -------
    numpy.ndarray
        The closed form, elementwise.
    """
    depth = check_depth(depth)
    a, b = check_nonnegative("s_i", s_i) ** 2, check_nonnegative("s_j", s_j) ** 2
    same = np.isclose(a, b, rtol=1e-12, atol=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (a**depth - b**depth) / (a - b)
    return np.where(same, depth * np.power(a, depth - 1), ratio)


def balanced_spectrum(widths: Sequence[int], singular_values: Sequence[float], sigma_x: float) -> np.ndarray:
    """All ``p`` GGN eigenvalues (descending, zeros included) of a strongly balanced deep linear network on
    whitened data: 003 eq (8)-(9).

    The eigenvectors ``q_ij`` of eq 9 run over all right singular vectors ``v_i`` of ``W_1`` (``i in [d0]``)
    and left singular vectors ``u_j`` of ``W_L`` (``j in [d_L]``), with ``sigma_i = 0`` beyond
    ``k = min(widths)``; eq (9a) then gives ``d0 * d_L`` NTK eigenvalues, the rest of the ``p`` are zero.

    Parameters
    ----------
    widths : Sequence[int]
        ``(d_0, d_1, ..., d_L)``: input width, hidden widths, output width.
    singular_values : Sequence[float]
        The shared singular values ``sigma_1..sigma_k`` of every layer, ``k = min(widths)``.
    sigma_x : float
        The input scale ``sigma_x`` of whitened inputs, ``X^T X / n = sigma_x^2 I`` (003 Assumption 2).

    Returns
    -------
    numpy.ndarray
        The ``p`` eigenvalues, descending.
    """
    widths = check_widths(widths)
    k = min(widths)
    s = check_singular_values(singular_values, k)
    depth = len(widths) - 1
    d0, dL = widths[0], widths[-1]
    s_in = np.concatenate([s, np.zeros(d0 - k)])
    s_out = np.concatenate([s, np.zeros(dL - k)])
    lam = pairwise_eigenvalues(s_in, s_out, depth, check_sigma_x(sigma_x)).ravel()
    return _padded(lam, num_params(widths))


def max_nonzero_eigenvalues(widths: Sequence[int], as_printed: bool = True) -> int:
    """How many GGN eigenvalues can be non-zero for balanced weights.

    As printed (003, remark after eq 9): ``min(d_0, ..., d_L)^2``. Derived from eq (9a) with ``0^0 = 1``: the
    pairs with ``sigma_i != 0`` or ``sigma_j != 0``, i.e. ``k (d_0 + d_L - k)`` for depth >= 2 (``d_0 d_L``
    for depth 1), with ``k = min(widths)``.

    Parameters
    ----------
    widths : Sequence[int]
        ``(d_0, d_1, ..., d_L)``: input width, hidden widths, output width.
    as_printed : bool
        The remark as printed (True) or the count derived from eq (9a).

    Returns
    -------
    int
        The largest number of non-zero GGN eigenvalues.
    """
    widths = check_widths(widths)
    k = min(widths)
    if as_printed:
        return k * k
    if len(widths) == 2:
        return widths[0] * widths[1]
    return k * (widths[0] + widths[-1] - k)


def shallow_spectrum(W1: np.ndarray, W2: np.ndarray, sigma_x: float, *, as_printed: bool = False) -> np.ndarray:
    r"""All ``p = d0 d1 + d1 d2`` GGN eigenvalues of a two-layer linear network on whitened data, any weights:
    003 eq (15), ``lambda_ij = sigma_x^2 (sigma_i(W1)^2 + sigma_j(W2)^2)``.

    As printed, ``i in [min(d0, d1)]`` and ``j in [min(d1, d2)]`` (and the remaining eigenvalues are zero).
    The derivation from eq (5) runs over all right singular vectors of ``W1`` (``i in [d0]``) and all left
    singular vectors of ``W2`` (``j in [d2]``), with zero singular values beyond the rank: the pairs with one
    zero singular value are non-zero too. ``as_printed=False`` (default) returns the derived spectrum.

    .. math::

        \lambda_{ij} = \sigma_x^2\bigl(\sigma_i(W_1)^2 + \sigma_j(W_2)^2\bigr)

    Parameters
    ----------
    W1 : np.ndarray
        The first layer's weights, shape ``(d_1, d_0)``.
    W2 : np.ndarray
        The second layer's weights, shape ``(d_2, d_1)``.
    sigma_x : float
        The input scale ``sigma_x`` of whitened inputs, ``X^T X / n = sigma_x^2 I`` (003 Assumption 2).
    as_printed : bool
        Only the printed index ranges (True), or every pair (the derived spectrum).

    Returns
    -------
    numpy.ndarray
        The ``p`` eigenvalues, descending.
    """
    W1, W2 = check_weights([W1, W2])
    sigma_x = check_sigma_x(sigma_x)
    d0, d1, d2 = W1.shape[1], W1.shape[0], W2.shape[0]
    s1 = np.linalg.svd(W1, compute_uv=False)
    s2 = np.linalg.svd(W2, compute_uv=False)
    if not as_printed:
        s1 = np.concatenate([s1, np.zeros(d0 - s1.size)])
        s2 = np.concatenate([s2, np.zeros(d2 - s2.size)])
    lam = sigma_x**2 * (s1[:, None] ** 2 + s2[None, :] ** 2)
    return _padded(lam.ravel(), d0 * d1 + d1 * d2)


def shallow_lambda_max(W1: np.ndarray, W2: np.ndarray, sigma_x: float) -> float:
    r"""003 eq (10): ``lambda_max = sigma_x^2 (||W1||_2^2 + ||W2||_2^2)``.

    .. math::

        \lambda_{\max} = \sigma_x^2\bigl(\|W_1\|_2^2 + \|W_2\|_2^2\bigr)

    Parameters
    ----------
    W1 : np.ndarray
        The first layer's weights, shape ``(d_1, d_0)``.
    W2 : np.ndarray
        The second layer's weights, shape ``(d_2, d_1)``.
    sigma_x : float
        The input scale ``sigma_x`` of whitened inputs, ``X^T X / n = sigma_x^2 I`` (003 Assumption 2).

    Returns
    -------
    float
        ``lambda_max``.
    """
    W1, W2 = check_weights([W1, W2])
    return check_sigma_x(sigma_x) ** 2 * (np.linalg.norm(W1, 2) ** 2 + np.linalg.norm(W2, 2) ** 2)


def singh_lambda_max(W1: np.ndarray, W2: np.ndarray, sigma_x: float) -> float:
    """The rival statement 003 attributes to Singh et al. [29, App. D.3.3]: ``max(||W1||_2^2, ||W2||_2^2)``
    (times ``sigma_x^2`` for whitened inputs of scale ``sigma_x``).

    Parameters
    ----------
    W1 : np.ndarray
        The first layer's weights, shape ``(d_1, d_0)``.
    W2 : np.ndarray
        The second layer's weights, shape ``(d_2, d_1)``.
    sigma_x : float
        The input scale ``sigma_x`` of whitened inputs, ``X^T X / n = sigma_x^2 I`` (003 Assumption 2).

    Returns
    -------
    float
        ``sigma_x^2 max(||W1||_2^2, ||W2||_2^2)``.
    """
    W1, W2 = check_weights([W1, W2])
    return check_sigma_x(sigma_x) ** 2 * max(np.linalg.norm(W1, 2) ** 2, np.linalg.norm(W2, 2) ** 2)


def prefix_suffix(weights: Sequence[np.ndarray], layer: int) -> tuple[np.ndarray, np.ndarray]:
    """003 eq (4): ``P_l = W_{l-1} ... W_1`` (``d_{l-1} x d_0``) and ``S_l = W_L ... W_{l+1}`` (``d_L x d_l``).

    Parameters
    ----------
    weights : Sequence[np.ndarray]
        The weight matrices ``[W_1, ..., W_L]``, ``W_l`` of shape ``(d_l, d_{l-1})``.
    layer : int
        ``l``, 1-based.

    Returns
    -------
    tuple of numpy.ndarray
        ``(P_l, S_l)``; an empty product is the identity.
    """
    Ws = check_weights(weights)
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 1 <= layer <= len(Ws):
        raise ValueError(f"layer={layer!r} must be an int in [1, {len(Ws)}] (1-based, as in 003 eq 4)")
    d0, dL = Ws[0].shape[1], Ws[-1].shape[0]
    P = np.eye(d0)
    for W in Ws[: layer - 1]:
        P = W @ P
    S = np.eye(Ws[layer - 1].shape[0])
    for W in Ws[layer:]:
        S = W @ S
    assert S.shape[0] == dL
    return P, S


def ggn_trace(weights: Sequence[np.ndarray], sigma_x: float) -> float:
    r"""003 eq (7): ``Tr(J J^T / n) = sigma_x^2 sum_l ||P_l||_F^2 ||S_l||_F^2`` (eq 11 for two layers).

    .. math::

        \operatorname{Tr}(J J^\top / n) = \sigma_x^2 \sum_{l=1}^{L} \|P_l\|_F^2\, \|S_l\|_F^2

    Parameters
    ----------
    weights : Sequence[np.ndarray]
        The weight matrices ``[W_1, ..., W_L]``, ``W_l`` of shape ``(d_l, d_{l-1})``.
    sigma_x : float
        The input scale ``sigma_x`` of whitened inputs, ``X^T X / n = sigma_x^2 I`` (003 Assumption 2).

    Returns
    -------
    float
        ``Tr G``.
    """
    Ws = check_weights(weights)
    total = 0.0
    for l in range(1, len(Ws) + 1):
        P, S = prefix_suffix(Ws, l)
        total += np.linalg.norm(P, "fro") ** 2 * np.linalg.norm(S, "fro") ** 2
    return check_sigma_x(sigma_x) ** 2 * total


def shallow_trace(W1: np.ndarray, W2: np.ndarray, sigma_x: float) -> float:
    """003 eq (11): ``Tr = sigma_x^2 (d_2 ||W1||_F^2 + d_0 ||W2||_F^2)``.

    Parameters
    ----------
    W1 : np.ndarray
        The first layer's weights, shape ``(d_1, d_0)``.
    W2 : np.ndarray
        The second layer's weights, shape ``(d_2, d_1)``.
    sigma_x : float
        The input scale ``sigma_x`` of whitened inputs, ``X^T X / n = sigma_x^2 I`` (003 Assumption 2).

    Returns
    -------
    float
        ``Tr G``.
    """
    W1, W2 = check_weights([W1, W2])
    d0, d2 = W1.shape[1], W2.shape[0]
    return check_sigma_x(sigma_x) ** 2 * (d2 * np.linalg.norm(W1, "fro") ** 2 + d0 * np.linalg.norm(W2, "fro") ** 2)


def lambda_max_upper_bound(weights: Sequence[np.ndarray], sigma_x: float) -> float:
    r"""003 eq (6): ``lambda_max <= sigma_x^2 sum_l sigma_max(P_l)^2 sigma_max(S_l)^2``.

    .. math::

        \lambda_{\max} \le \sigma_x^2 \sum_{l=1}^{L} \sigma_{\max}(P_l)^2\, \sigma_{\max}(S_l)^2

    Parameters
    ----------
    weights : Sequence[np.ndarray]
        The weight matrices ``[W_1, ..., W_L]``, ``W_l`` of shape ``(d_l, d_{l-1})``.
    sigma_x : float
        The input scale ``sigma_x`` of whitened inputs, ``X^T X / n = sigma_x^2 I`` (003 Assumption 2).

    Returns
    -------
    float
        The bound.
    """
    Ws = check_weights(weights)
    total = 0.0
    for l in range(1, len(Ws) + 1):
        P, S = prefix_suffix(Ws, l)
        total += _spectral_norm(P) ** 2 * _spectral_norm(S) ** 2
    return check_sigma_x(sigma_x) ** 2 * total


def _spectral_norm(M: np.ndarray) -> float:
    return float(np.linalg.norm(M, 2)) if M.size else 0.0


def ntk_kronecker_sum(weights: Sequence[np.ndarray], X: np.ndarray) -> np.ndarray:
    r"""003 eq (5): ``J J^T / n = sum_l (X P_l^T P_l X^T / n) kron (S_l S_l^T)`` in our ``(n, d0)`` layout
    (sample-major rows), an ``(n d_L) x (n d_L)`` matrix. Eq (8) is its balanced special case.

    .. math::

        \frac{J J^\top}{n} = \sum_{l=1}^{L} \frac{X P_l^\top P_l X^\top}{n} \otimes S_l S_l^\top

    Parameters
    ----------
    weights : Sequence[np.ndarray]
        The weight matrices ``[W_1, ..., W_L]``, ``W_l`` of shape ``(d_l, d_{l-1})``.
    X : np.ndarray
        The inputs, shape ``(n, d_0)`` (raw or whitened).

    Returns
    -------
    numpy.ndarray
        ``J J^T / n``, shape ``(n d_L, n d_L)``.
    """
    Ws = check_weights(weights)
    X = check_samples("X", X, cols=Ws[0].shape[1])
    n = X.shape[0]
    K = 0.0
    for l in range(1, len(Ws) + 1):
        P, S = prefix_suffix(Ws, l)
        K = K + np.kron(X @ P.T @ P @ X.T / n, S @ S.T)
    return K


def balanced_ntk_eigenvectors(W1: np.ndarray, WL: np.ndarray, X: np.ndarray) -> np.ndarray:
    """003 eq (9) / (16): ``q_ij = (X v_i / sqrt(n)) kron u_j`` for right singular vectors ``v_i`` of ``W1``
    and left singular vectors ``u_j`` of ``W_L``; columns ordered ``i``-major, shape ``(n d_L, d0 d_L)``.

    Parameters
    ----------
    W1 : np.ndarray
        The first layer's weights ``(d_1, d_0)``.
    WL : np.ndarray
        The last layer's weights ``(d_L, d_{L-1})``.
    X : np.ndarray
        The whitened inputs, shape ``(n, d_0)``.

    Returns
    -------
    numpy.ndarray
        The vectors ``q_ij`` as columns, shape ``(n d_L, d0 d_L)``.
    """
    W1, WL = check_weights([W1]), check_weights([WL])
    X = check_samples("X", X, cols=W1[0].shape[1])
    n = X.shape[0]
    _, _, Vt = np.linalg.svd(W1[0], full_matrices=True)
    U, _, _ = np.linalg.svd(WL[0], full_matrices=True)
    cols = [np.kron(X @ Vt[i] / np.sqrt(n), U[:, j]) for i in range(Vt.shape[0]) for j in range(U.shape[1])]
    return np.stack(cols, axis=1)


def end_to_end_least_squares(X: np.ndarray, Y: np.ndarray, sigma_x: float) -> np.ndarray:
    """003 eq (12): ``W_L ... W_1 = Y^T X / (n sigma_x^2)`` in our layout (``Y`` is ``(n, d_L)``).

    Parameters
    ----------
    X : np.ndarray
        The whitened inputs, shape ``(n, d_0)``.
    Y : np.ndarray
        The targets, shape ``(n, d_L)``.
    sigma_x : float
        The input scale ``sigma_x`` of whitened inputs, ``X^T X / n = sigma_x^2 I`` (003 Assumption 2).

    Returns
    -------
    numpy.ndarray
        The end-to-end map, shape ``(d_L, d_0)``.
    """
    X = check_samples("X", X)
    Y = check_samples("Y", Y, rows=X.shape[0])
    return Y.T @ X / (X.shape[0] * check_sigma_x(sigma_x) ** 2)


def singular_values_from_labels(Y: np.ndarray, depth: int, sigma_x: float, X: np.ndarray | None = None) -> np.ndarray:
    r"""003 eq (13): ``sigma_i(W)^L = sigma_i(Y) / (sqrt(n) sigma_x)``, so ``sigma_i(W) = (.)^(1/L)``.

    As printed, ``X`` is not needed (Assumption 1, zero loss, puts the labels in the row space of ``X``).
    Given ``X``, the derived form at the least-squares solution uses the labels projected on the column
    space of ``X``: ``sigma_i(Pi_X Y)`` with ``Pi_X = X X^T / (n sigma_x^2)``.

    .. math::

        \sigma_i(W)^L = \frac{\sigma_i(Y)}{\sqrt{n}\, \sigma_x}

    Parameters
    ----------
    Y : np.ndarray
        The targets, shape ``(n, d_L)``.
    depth : int
        ``L``.
    sigma_x : float
        The input scale ``sigma_x`` of whitened inputs, ``X^T X / n = sigma_x^2 I`` (003 Assumption 2).
    X : np.ndarray | None
        The whitened inputs; None: the form as printed.

    Returns
    -------
    numpy.ndarray
        ``sigma_i(W)``, descending (the order of the SVD).
    """
    Y = check_samples("Y", Y)
    depth = check_depth(depth)
    n = Y.shape[0]
    if X is not None:
        X = check_samples("X", X, rows=n)
        Y = X @ (X.T @ Y) / (n * check_sigma_x(sigma_x) ** 2)
    s = np.linalg.svd(Y, compute_uv=False)
    return (s / (np.sqrt(n) * check_sigma_x(sigma_x))) ** (1.0 / depth)


def sharpness_from_labels_singular_value(sigma_max_Y: float, n: int, depth: int, sigma_x: float) -> float:
    r"""003 eq (14): ``lambda_max = L sigma_x^{2/L} n^{-(1 - 1/L)} sigma_max(Y)^{2(1 - 1/L)}``.

    .. math::

        \lambda_{\max} = L\, \sigma_x^{2/L}\, n^{-(1 - 1/L)}\, \sigma_{\max}(Y)^{2(1 - 1/L)}

    Parameters
    ----------
    sigma_max_Y : float
        ``sigma_max(Y)``.
    n : int
        The number of samples.
    depth : int
        ``L``.
    sigma_x : float
        The input scale ``sigma_x`` of whitened inputs, ``X^T X / n = sigma_x^2 I`` (003 Assumption 2).

    Returns
    -------
    float
        ``lambda_max``.
    """
    depth, sigma_x = check_depth(depth), check_sigma_x(sigma_x)
    sigma_max_Y = float(check_nonnegative("sigma_max_Y", sigma_max_Y))
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n={n!r} must be a positive int (number of samples)")
    return depth * sigma_x ** (2 / depth) * sigma_max_Y ** (2 * (1 - 1 / depth)) / n ** (1 - 1 / depth)


def sharpness_from_labels(alpha_max: float, depth: int, sigma_x: float) -> float:
    """003 eq (14) for one-hot labels: ``sigma_max(Y)^2 / n = alpha_max`` gives
    ``lambda_max = L sigma_x^{2/L} alpha_max^{1 - 1/L}``, independent of ``n``.

    Parameters
    ----------
    alpha_max : float
        The largest class proportion.
    depth : int
        ``L``.
    sigma_x : float
        The input scale ``sigma_x`` of whitened inputs, ``X^T X / n = sigma_x^2 I`` (003 Assumption 2).

    Returns
    -------
    float
        ``lambda_max``.
    """
    if not 0 < alpha_max <= 1:
        raise ValueError(f"alpha_max={alpha_max} must lie in (0, 1]: it is a proportion of samples")
    depth = check_depth(depth)
    return depth * check_sigma_x(sigma_x) ** (2 / depth) * alpha_max ** (1 - 1 / depth)


def least_squares_floor(X: np.ndarray, Y: np.ndarray, rank: int | None = None) -> float:
    """The smallest MSE loss ``1/(2n) ||X W^T - Y||_F^2`` over linear maps ``W`` of rank at most ``rank`` (a deep
    linear network's end-to-end map has rank ``<= min(widths)``): reduced-rank regression with identity weights,
    ``(||Y - P_X Y||^2 + sum_{i > rank} sigma_i(P_X Y)^2) / (2n)`` with ``P_X`` the projector on ``X``'s columns
    (Eckart-Young on the fitted values). Any inputs, whitened or raw.

    Parameters
    ----------
    X : np.ndarray
        The inputs, shape ``(n, d_0)``.
    Y : np.ndarray
        The targets, shape ``(n, d_L)``.
    rank : int | None
        The largest rank of the map; None: no limit.

    Returns
    -------
    float
        The smallest loss.
    """
    X, Y = np.asarray(X, dtype=float), np.asarray(Y, dtype=float)
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise ValueError(f"X {X.shape} and Y {Y.shape} must be 2-D with the same number of rows (samples)")
    U, s, _ = np.linalg.svd(X, full_matrices=False)
    U = U[:, s > s.max(initial=0.0) * max(X.shape) * np.finfo(float).eps]
    fitted = U @ (U.T @ Y)
    total = float(np.sum((Y - fitted) ** 2))
    if rank is not None:
        sv = np.linalg.svd(fitted, compute_uv=False)
        total += float(np.sum(sv[int(rank):] ** 2))
    return total / (2 * X.shape[0])
