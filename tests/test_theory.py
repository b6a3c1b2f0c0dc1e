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
