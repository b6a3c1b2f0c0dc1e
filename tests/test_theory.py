"""theory/: the sympy derivations re-checked, the pure-numpy closed forms against independent dense algebra,
and the argument checks."""
import numpy as np
import pytest

from theory import hierarchy as Hy, linear as T, symbolic as S


def test_eq9a_equals_eq9b_symbolically():
    assert S.geometric_sum_residual() == 0
    assert S.geometric_limit_residual() == 0
    for depth in range(1, 7):
        assert S.geometric_sum_residual_at(depth) == (0, 0)


def test_eq14_follows_from_eq9b_and_eq13():
    assert S.eq14_from_eq9_and_eq13_residual() == 0


def test_eq9_at_depth_two_is_eq15():
    assert S.eq9_at_depth_two_equals_eq15_residual() == 0


def test_trace_identity_eq7():
    assert S.trace_identity_residual() == (0, 0)


def test_closed_form_9b_matches_9a_numerically():
    rng = np.random.default_rng(0)
    si, sj = rng.uniform(0, 2, 50), rng.uniform(0, 2, 50)
    sj[:10] = si[:10]
    for depth in range(1, 7):
        a = np.array([T.pairwise_eigenvalues([x], [y], depth, 1.0)[0, 0] for x, y in zip(si, sj)])
        np.testing.assert_allclose(T.geometric_closed_form(si, sj, depth), a, rtol=1e-9)


def test_balanced_spectrum_counts_and_zero_convention():
    lam = T.balanced_spectrum((3, 1, 3), [2.0], 1.0)
    assert lam.size == T.num_params((3, 1, 3)) == 6
    # pairs (1,1): 2*4; (1,j>1) and (i>1,1): 4 each (0^0 = 1); the rest 0
    np.testing.assert_allclose(lam, [8.0, 4, 4, 4, 4, 0])
    assert T.max_nonzero_eigenvalues((3, 1, 3), as_printed=False) == 5
    assert T.max_nonzero_eigenvalues((3, 1, 3), as_printed=True) == 1


def test_kronecker_form_is_symmetric_psd():
    rng = np.random.default_rng(1)
    Ws = [rng.standard_normal((3, 2)), rng.standard_normal((2, 3))]
    K = T.ntk_kronecker_sum(Ws, rng.standard_normal((4, 2)))
    assert K.shape == (8, 8)
    np.testing.assert_allclose(K, K.T, atol=1e-12)
    assert np.linalg.eigvalsh(K).min() > -1e-12


def test_hierarchy_identity_and_printed_variant():
    rng = np.random.default_rng(0)
    N, C, p = 20, 4, 6
    J = rng.standard_normal((N, C, p))
    z = rng.standard_normal((N, C))
    P = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    y = rng.integers(0, C, N)
    G = Hy.gauss_newton(J, P)
    parts = Hy.ggn_decomposition(J, P, y)
    np.testing.assert_allclose(sum(parts.values()), G, atol=1e-12 * np.abs(G).max())
    assert np.abs(sum(Hy.ggn_decomposition(J, P, y, as_printed=True).values()) - G).max() > 1e-3 * np.abs(G).max()
    assert np.linalg.matrix_rank(parts["A1"]) <= C


@pytest.mark.parametrize("call, match", [
    (lambda: T.balanced_spectrum((3, 0, 2), [1.0], 1.0), "width"),
    (lambda: T.balanced_spectrum((3,), [], 1.0), "depth"),
    (lambda: T.balanced_spectrum((3, 2), [1.0], 1.0), "exactly 2"),
    (lambda: T.balanced_spectrum((3, 2), [1.0, -1.0], 1.0), "non-negative"),
    (lambda: T.balanced_spectrum((3, 2), [1.0, 1.0], 0.0), "sigma_x"),
    (lambda: T.shallow_spectrum(np.ones((2, 3)), np.ones((4, 3)), 1.0), "chain"),
    (lambda: T.sharpness_from_labels(1.5, 2, 1.0), "alpha_max"),
    (lambda: Hy.ggn_decomposition(np.ones((2, 3, 4)), np.ones((2, 3)), np.array([0, 1])), "probability"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_theory_imports_neither_torch_nor_hessverify():
    """DESIGN.md layering: theory/ is plain numpy/scipy/sympy."""
    import subprocess
    import sys

    code = ("import sys, theory.linear, theory.hierarchy, theory.symbolic; "
            "bad = [m for m in ('torch', 'hessverify') if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


@pytest.mark.parametrize("shape", [(2, 2, 2), (2, 1, 3), (3, 2, 1), (1, 3, 2)])
def test_raw_input_spectrum_proved_symbolically(shape):
    assert S.raw_input_charpoly_residual(*shape) == 0


def test_raw_input_spectrum_against_dense_ggn():
    """theory.raw_inputs against an independent dense J^T J / n (numpy), with a covariance built to commute."""
    from theory.raw_inputs import covariance_bounds, shallow_spectrum_commuting

    rng = np.random.default_rng(3)
    d0, d1, d2, n = 4, 3, 2, 9
    W1, W2 = rng.normal(size=(d1, d0)), rng.normal(size=(d2, d1))
    V = np.linalg.svd(W1)[2].T
    c = np.array([0.5, 2.0, 2.0, 3.0])
    Q = np.linalg.qr(rng.normal(size=(n, d0)))[0]
    X = np.sqrt(n) * Q @ np.diag(np.sqrt(c)) @ V.T
    # J of vec(f(X)) w.r.t. (vec W1, vec W2), rows sample-major
    J = np.zeros((n * d2, d0 * d1 + d1 * d2))
    for i in range(n):
        J[i * d2:(i + 1) * d2, :d0 * d1] = np.kron(W2, X[i][None, :])
        J[i * d2:(i + 1) * d2, d0 * d1:] = np.kron(np.eye(d2), (W1 @ X[i])[None, :])
    dense = np.sort(np.linalg.eigvalsh(J.T @ J / n))[::-1]
    Sigma = X.T @ X / n
    np.testing.assert_allclose(shallow_spectrum_commuting(W1, W2, Sigma), dense, atol=1e-12 * dense[0])
    lo, hi = covariance_bounds(np.sort(np.linalg.eigvalsh(_whitened_ggn(W1, W2)))[::-1], Sigma)
    assert np.all(dense <= hi + 1e-12) and np.all(dense >= lo - 1e-12)


def _whitened_ggn(W1, W2):
    d1, d0 = W1.shape
    d2 = W2.shape[0]
    X = np.sqrt(d0) * np.eye(d0)  # X^T X / n = I with n = d0
    J = np.zeros((d0 * d2, d0 * d1 + d1 * d2))
    for i in range(d0):
        J[i * d2:(i + 1) * d2, :d0 * d1] = np.kron(W2, X[i][None, :])
        J[i * d2:(i + 1) * d2, d0 * d1:] = np.kron(np.eye(d2), (W1 @ X[i])[None, :])
    return J.T @ J / d0


def test_rank_formulas_known_values():
    from theory import hessian_rank as R

    # one hidden layer of width 5 on full-rank 3-dim inputs, 2 outputs: q = 2
    assert R.outer_product_rank((3, 5, 2), 3) == 2 * (3 + 2 - 2)
    assert R.functional_rank((3, 5, 2), 3) == 2 * 2 * 5 + 2 * 2 * 2 - 2 * 4
    assert R.hessian_rank((3, 5, 2), 3) == 2 * 2 * 5 + 2 * (3 + 2) - 2 * 4
    # a bottleneck of width 1 makes q = 1
    assert R.outer_product_rank((4, 1, 3), 4) == 1 * (4 + 3 - 1)
    assert R.outer_product_rank_with_bias((4, 1, 3), 4, 10, False) == 6 + 3
    assert R.outer_product_rank_with_bias((4, 1, 3), 4, 4, True) == 6 + 3 - 1
    assert R.conv_output_size((7, 6), 3, 2) == (3, 2)


def test_expected_init_trace_by_monte_carlo_in_numpy():
    """theory.initialisation against a plain numpy Monte Carlo of eq (7)'s ingredients (||J||_F^2 by kron)."""
    from theory.initialisation import balanced_init_trace, expected_ggn_trace, torch_default_variances

    rng = np.random.default_rng(0)
    widths = (3, 4, 2)
    X = np.sqrt(3) * np.eye(3)
    vals = []
    for _ in range(20000):
        W1 = rng.uniform(-1, 1, (4, 3)) / np.sqrt(3)
        W2 = rng.uniform(-1, 1, (2, 4)) / np.sqrt(4)
        # ||J||_F^2 / n = ||W2||_F^2 ||X||_F^2 / n + d2 ||W1 X||_F^2 / n
        vals.append((np.sum(W2**2) * np.sum(X**2) + 2 * np.sum((W1 @ X.T) ** 2)) / 3)
    pred = expected_ggn_trace(widths, torch_default_variances(widths), 1.0)
    assert abs(np.mean(vals) - pred) < 5 * np.std(vals) / np.sqrt(len(vals))
    assert balanced_init_trace((3, 2), 0.5, 2.0) == 4.0 * 6
    assert np.isclose(balanced_init_trace((3, 2, 2, 4), 0.5, 1.0), 2 * 0.5**4 * (3 + 4 + 2))


def test_gauss_newton_equals_the_per_sample_sum():
    """002 eq (2) term by term: ``(1/N) sum_i J_i^T (diag p_i - p_i p_i^T) J_i`` (the code contracts it in two
    matrix products)."""
    import numpy as np

    from theory.hierarchy import gauss_newton

    rng = np.random.default_rng(3)
    J = rng.standard_normal((30, 4, 25))
    P = rng.dirichlet(np.ones(4), 30)
    ref = sum(J[i].T @ (np.diag(P[i]) - np.outer(P[i], P[i])) @ J[i] for i in range(30)) / 30
    assert np.abs(gauss_newton(J, P) - ref).max() <= 1e-13 * np.abs(ref).max()
