"""Sympy derivations behind the closed forms of 003, re-checked by the test suite.

Each function returns a sympy expression that must simplify to zero (or ``True``) for the derivation to hold.
"""
from __future__ import annotations

import sympy as sp

a, b, sx, n, s = sp.symbols("a b sigma_x n s", positive=True)
L = sp.symbols("L", integer=True, positive=True)
l = sp.symbols("l", integer=True, positive=True)


def geometric_sum_residual():
    """003 eq (9a) = eq (9b) for ``a = sigma_i^2 != b = sigma_j^2``: ``sum_{l=1}^L a^{L-l} b^{l-1} (a - b) -
    (a^L - b^L)``, which must be 0 for every ``L``.

    Returns
    -------
    sympy.Expr
        The residual, which simplifies to 0.
    """
    total = sp.summation(a ** (L - l) * b ** (l - 1), (l, 1, L))
    total = sp.piecewise_fold(total)
    if isinstance(total, sp.Piecewise):  # sympy splits off the case a == b; keep the generic (otherwise) branch
        total = next(expr for expr, cond in total.args if cond is sp.true)
    return sp.simplify(total * (a - b) - (a**L - b**L))


def geometric_limit_residual():
    """003 eq (9b), second case: ``lim_{b -> a} (a^L - b^L) / (a - b) = L a^{L-1}``; returns the difference.

    Returns
    -------
    sympy.Expr
        The residual, which simplifies to 0.
    """
    return sp.simplify(sp.limit((a**L - b**L) / (a - b), b, a) - L * a ** (L - 1))


def geometric_sum_residual_at(depth: int):
    """The same identity at a concrete depth, including the equal case: returns (generic, equal) residuals.

    Parameters
    ----------
    depth : int
        ``L``.

    Returns
    -------
    tuple of sympy.Expr
        ``(generic, equal)``, both 0 after simplification.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth={depth!r} must be a positive int")
    total = sum(a ** (depth - k) * b ** (k - 1) for k in range(1, depth + 1))
    generic = sp.simplify(total - sp.cancel((a**depth - b**depth) / (a - b)))
    equal = sp.simplify(total.subs(b, a) - depth * a ** (depth - 1))
    return generic, equal


def eq14_from_eq9_and_eq13_residual():
    """003 eq (14) from eq (9b) (``lambda_max = L sigma_x^2 sigma_1^{2(L-1)}``) and eq (13)
    (``sigma_1^L = s / (sqrt(n) sigma_x)``, ``s = sigma_max(Y)``): the difference must be 0.

    Returns
    -------
    sympy.Expr
        The residual, which simplifies to 0.
    """
    sigma1 = (s / (sp.sqrt(n) * sx)) ** (1 / L)
    lam = L * sx**2 * sigma1 ** (2 * (L - 1))
    printed = L * sx ** (sp.Integer(2) / L) * s ** (2 * (1 - 1 / L)) / n ** (1 - 1 / L)
    return sp.simplify(sp.powsimp(sp.expand_power_base(lam / printed, force=True), force=True) - 1)


def eq9_at_depth_two_equals_eq15_residual():
    """003 eq (9a) at ``L = 2`` with shared singular values equals eq (15): ``sigma_x^2 (s_i^2 + s_j^2)``.

    Returns
    -------
    sympy.Expr
        The residual, which simplifies to 0.
    """
    si, sj = sp.symbols("s_i s_j", nonnegative=True)
    eq9 = sx**2 * sum(si ** (2 * (2 - k)) * sj ** (2 * (k - 1)) for k in (1, 2))
    return sp.simplify(eq9 - sx**2 * (si**2 + sj**2))


def trace_identity_residual(d0: int = 2, d1: int = 2, dL: int = 2, num_samples: int = 3):
    """003 eq (7) for one summand: ``Tr((X^T P^T P X / n) kron (S S^T)) = Tr(P X X^T P^T / n) ||S||_F^2``, and
    with ``X X^T / n = sigma_x^2 I`` this is ``sigma_x^2 ||P||_F^2 ||S||_F^2``. Small explicit symbolic matrices.

    Parameters
    ----------
    d0 : int
        Input width.
    d1 : int
        Width of the layer ``P`` maps to.
    dL : int
        Output width (rows of ``S``).
    num_samples : int
        ``n``.

    Returns
    -------
    tuple of sympy.Expr
        The residuals of the trace identity and of its whitened form, each 0 after expansion.
    """
    if min(d0, d1, dL, num_samples) < 1:
        raise ValueError("d0, d1, dL and num_samples must all be at least 1")
    P = sp.Matrix(d1, d0, lambda i, j: sp.Symbol(f"p{i}{j}"))
    S = sp.Matrix(dL, d1, lambda i, j: sp.Symbol(f"s{i}{j}"))
    X = sp.Matrix(d0, num_samples, lambda i, j: sp.Symbol(f"x{i}{j}"))
    from sympy.physics.quantum import TensorProduct

    lhs = (TensorProduct(X.T * P.T * P * X / num_samples, S * S.T)).trace()
    mid = (P * X * X.T * P.T / num_samples).trace() * (S * S.T).trace()
    XXt = sp.eye(d0) * num_samples * sx**2
    rhs = (P * XXt * P.T / num_samples).trace() * sum(v**2 for v in S)
    return sp.expand(lhs - mid), sp.expand(rhs - sx**2 * sum(v**2 for v in P) * sum(v**2 for v in S))


def raw_input_charpoly_residual(d0: int = 2, d1: int = 2, d2: int = 2):
    """``theory.raw_inputs``: the GGN of ``f = W2 W1 x`` with ``W1 = diag(s)``, ``W2 = diag(t)`` (rectangular)
    and input covariance ``diag(c)`` (the rotated coordinates of the commuting case; rotations keep the
    spectrum) has characteristic polynomial ``lambda^(p - d0 d2) prod_{a,b} (lambda - c_b (t_a^2 + s_b^2))``.
    Returns the difference of the two polynomials, which must expand to 0.

    Parameters
    ----------
    d0 : int
        Input width.
    d1 : int
        Hidden width.
    d2 : int
        Output width.

    Returns
    -------
    sympy.Expr
        The difference of the polynomials, which expands to 0.
    """
    if min(d0, d1, d2) < 1:
        raise ValueError("d0, d1 and d2 must all be at least 1")
    k1, k2 = min(d0, d1), min(d1, d2)
    sv = sp.symbols(f"s0:{k1}", positive=True)
    tv = sp.symbols(f"t0:{k2}", positive=True)
    cv = sp.symbols(f"c0:{d0}", positive=True)
    lam = sp.Symbol("lambda")
    W1 = sp.Matrix(d1, d0, lambda i, j: sv[i] if i == j and i < k1 else 0)
    W2 = sp.Matrix(d2, d1, lambda i, j: tv[i] if i == j and i < k2 else 0)
    dW1 = sp.Matrix(d1, d0, lambda i, j: sp.Symbol(f"b{i}_{j}"))
    dW2 = sp.Matrix(d2, d1, lambda i, j: sp.Symbol(f"a{i}_{j}"))
    E = dW2 * W1 + W2 * dW1
    form = (E * sp.diag(*cv) * E.T).trace() / 2
    G = sp.hessian(form, list(dW1) + list(dW2))
    s_pad = list(sv) + [0] * (d0 - k1)
    t_pad = list(tv) + [0] * (d2 - k2)
    p = d0 * d1 + d1 * d2
    predicted = lam ** (p - d0 * d2) * sp.prod([lam - cv[b] * (t_pad[a] ** 2 + s_pad[b] ** 2)
                                                for a in range(d2) for b in range(d0)])
    return sp.expand(G.charpoly(lam).as_expr() - predicted)
