"""Exact Jacobian, Gauss-Newton and Hessian of a linear model under the ``"mse"`` loss, in rational arithmetic.

A network of ``nn.Linear``/``nn.Conv1d``/``nn.Conv2d``/``nn.Flatten`` layers (no activation) is a chain of affine
maps. On augmented features ``[h; 1]`` layer ``l`` is the matrix ``A_l = A_l^0 + sum_j theta_j B_j``: each
parameter enters linearly through a fixed 0/1 pattern ``B_j`` (a weight entry of a dense layer is one position,
a convolution weight one position per output location, a bias the augmented column), found by probing the layer
with unit weights on unit inputs, which floating point computes exactly. With ``H_l = A_l ... A_1 [X^T; 1^T]``,
``P_l = S A_L ... A_{l+1}`` (``S`` drops the constant row) and the residual ``R = f(X) - Y``:

- ``J[(i, a), (l, j)] = (P_l B_j H_{l-1})[a, i]`` (003 eq 4: ``J`` is ``n d_L x p``, sample-major rows);
- ``G = J^T J / n`` (003 eq 3);
- ``H = G + F / n`` with ``F[(l, j), (m, k)] = <R, P_l B_j A_{l-1} ... A_{m+1} B_k H_{m-1}>`` for ``l > m``
  (the second derivative of the multilinear output; ``F`` is zero within a layer), mirrored for ``l < m``.

Every entry is a rational number computed without rounding (FLINT ``fmpq``), so ranks and zero counts of these
matrices are exact (``hessverify.exact.rank``).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import flint
import numpy as np
import torch
from torch import nn
from torch.func import functional_call

#: layers with an exact route: affine in their parameters, linear in their input
SUPPORTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Flatten, nn.Identity)


class NoExactRoute(ValueError):
    """The model or loss has no exact rational representation here (a non-linear layer, a non-MSE loss)."""


def rational(x) -> flint.fmpq:
    """``x`` (int, float, Fraction, numpy scalar, fmpq) as an exact FLINT rational (a float is its exact value).

    Parameters
    ----------
    x : int, float, Fraction, numpy scalar or flint.fmpq
        The number.

    Returns
    -------
    flint.fmpq
        Its exact value.
    """
    if isinstance(x, flint.fmpq):
        return x
    if isinstance(x, flint.fmpz):
        return flint.fmpq(x)
    f = Fraction(x.item() if hasattr(x, "item") else x)
    return flint.fmpq(f.numerator, f.denominator)


def rational_array(a) -> np.ndarray:
    """An object array of ``fmpq`` from a tensor, an array or nested lists (floats are taken exactly).

    Parameters
    ----------
    a : array_like
        A tensor, an array or nested lists.

    Returns
    -------
    numpy.ndarray
        Object array of ``fmpq``, the shape of ``a``.
    """
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().double().numpy()
    arr = np.asarray(a, dtype=object)
    out = np.empty(arr.shape, dtype=object)
    for idx, v in np.ndenumerate(arr):
        out[idx] = rational(v)
    return out


def _zeros(*shape) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    out.fill(flint.fmpq(0))
    return out


def _identity(n: int) -> np.ndarray:
    out = _zeros(n, n)
    for i in range(n):
        out[i, i] = flint.fmpq(1)
    return out


@dataclass
class _Layer:
    """One affine layer on augmented features: ``A = A0 + sum_j theta_j B_j``."""

    A0: np.ndarray                      # (d_out + 1, d_in + 1) object
    patterns: list[tuple[str, list]]    # per parameter entry: (flat name, [(row, col, value), ...])
    values: dict[str, np.ndarray]       # parameter name -> object array of its rational values (flattened)

    def matrix(self) -> np.ndarray:
        A = self.A0.copy()
        for name, entries in self.patterns:
            param, j = name.rsplit("#", 1)
            theta = self.values[param][int(j)]
            if theta != 0:
                for r, c, v in entries:
                    A[r, c] += theta * v
        return A


def _leaves(model: nn.Module) -> list[nn.Module]:
    if isinstance(model, nn.Sequential):
        if type(model).forward is not nn.Sequential.forward:  # a subclass with its own forward is not a chain
            raise NoExactRoute(f"{type(model).__name__} overrides nn.Sequential.forward; the exact route reads a "
                               "model as the chain of its layers, which would not be this model")
        return [leaf for child in model for leaf in _leaves(child)]
    base = next((t for t in SUPPORTED if isinstance(model, t)), None)
    if base is not None:
        if type(model).forward is not base.forward:
            raise NoExactRoute(f"{type(model).__name__} overrides {base.__name__}.forward; the exact route knows "
                               f"only {base.__name__}'s own map")
        return [model]
    raise NoExactRoute(f"{type(model).__name__} has no exact route (supported: nn.Sequential of "
                       f"{', '.join(t.__name__ for t in SUPPORTED)})")


def _probe(layer: nn.Module, in_shape: tuple[int, ...], names: dict[int, str]) -> tuple[np.ndarray, list, tuple]:
    """The fixed part and the 0/1 pattern of every parameter entry of ``layer`` (exact: unit weights, unit inputs)."""
    d_in = int(np.prod(in_shape))
    probe = torch.cat([torch.eye(d_in, dtype=torch.float64), torch.zeros(1, d_in, dtype=torch.float64)])
    probe = probe.reshape(d_in + 1, *in_shape)
    own = dict(layer.named_parameters(recurse=False))
    zeros = {k: torch.zeros_like(p, dtype=torch.float64) for k, p in own.items()}
    buffers = {k: b for k, b in layer.named_buffers(recurse=False)}

    def run(params, x):
        return functional_call(layer, {**params, **buffers}, (x,)).double()

    def affine(params) -> np.ndarray:
        out = run(params, probe).reshape(d_in + 1, -1)
        M = torch.cat([(out[:d_in] - out[d_in]).T, out[d_in:].T], dim=1)  # (d_out, d_in + 1)
        return M.numpy()

    with torch.no_grad():
        base = affine(zeros)
    d_out = base.shape[0]
    A0 = _zeros(d_out + 1, d_in + 1)
    for (r, c), v in np.ndenumerate(base):
        if v != 0:
            A0[r, c] = rational(v)
    A0[d_out, d_in] = flint.fmpq(1)
    patterns = []
    for key, p in own.items():
        units = torch.eye(p.numel(), dtype=torch.float64).reshape(p.numel(), *p.shape)
        with torch.no_grad():
            outs = torch.vmap(lambda u: run({**zeros, key: u}, probe))(units).reshape(p.numel(), d_in + 1, -1)
        for j in range(p.numel()):
            out = outs[j]
            B = torch.cat([(out[:d_in] - out[d_in]).T, out[d_in:].T], dim=1).numpy() - base
            entries = [(int(r), int(c), rational(v)) for r, c in zip(*np.nonzero(B)) for v in [B[r, c]]]
            patterns.append((f"{names[id(p)]}#{j}", entries))
    with torch.no_grad():
        out_shape = tuple(run(zeros, probe[:1]).shape[1:])
    return A0, patterns, out_shape


class ExactProblem:
    """A linear model, its inputs and targets in exact rational arithmetic (module docstring).

    Parameters
    ----------
    model : nn.Module
        An ``nn.Sequential`` (nested allowed) of ``nn.Linear``, ``nn.Conv1d``, ``nn.Conv2d``, ``nn.Flatten``.
    X : tensor or array, shape ``(n, *input_shape)``
        Inputs; floats are read exactly. ``X_exact`` overrides them with rationals.
    Y : tensor or array, shape ``(n, d_L)``, optional
        Targets of the ``"mse"`` loss ``1/(2n) ||f(X) - Y||_F^2`` (003 eq 2); without them only the outputs and
        the Jacobian are available.
    values : dict, optional
        Parameter name -> rational values (object array); defaults to the model's floats, read exactly.
    X_exact, Y_exact : object arrays, optional
        Rational inputs and targets when the floats are roundings of them.
    """

    def __init__(self, model: nn.Module, X, Y=None, *, values: dict | None = None, X_exact=None, Y_exact=None):
        named = list(model.named_parameters())
        ids = [id(p) for _, p in named]
        if len(set(ids)) != len(ids):
            raise NoExactRoute("tied (shared) parameters have no exact route here")
        names = {id(p): name for name, p in named}
        self.trainable = [name for name, p in named if p.requires_grad]
        vals = {name: rational_array(p).reshape(-1) for name, p in named}
        for name, v in (values or {}).items():
            if name not in vals:
                raise ValueError(f"values has {name!r}, which is not a parameter of the model")
            vals[name] = np.asarray(v, dtype=object).reshape(-1)
        Xr = X_exact if X_exact is not None else rational_array(X)
        self.n = int(Xr.shape[0])
        shape = tuple(Xr.shape[1:])
        self.layers: list[_Layer] = []
        for leaf in _leaves(model):
            A0, patterns, shape = _probe(leaf, shape, names)
            self.layers.append(_Layer(A0, patterns, vals))
        self.d_out = int(np.prod(shape))
        H0 = _zeros(Xr[0].size + 1, self.n)
        H0[:-1] = np.asarray(Xr, dtype=object).reshape(self.n, -1).T
        H0[-1] = flint.fmpq(1)
        self.A = [layer.matrix() for layer in self.layers]
        self.H = [H0]
        for A in self.A:
            self.H.append(A.dot(self.H[-1]))
        S = _zeros(self.d_out, self.d_out + 1)
        S[:, :-1] = _identity(self.d_out)
        self.P = [S]  # P[l] = S A_L ... A_{l+2}, built backwards, then reversed: P[l] is P_{>l} of layer l
        for A in reversed(self.A[1:]):
            self.P.append(self.P[-1].dot(A))
        self.P.reverse()
        self.output = S.dot(self.H[-1])  # (d_L, n)
        self.residual = None
        if Y is not None or Y_exact is not None:
            Yr = np.asarray(Y_exact if Y_exact is not None else rational_array(Y), dtype=object).reshape(self.n, -1)
            if Yr.shape[1] != self.d_out:
                raise ValueError(f"Y has {Yr.shape[1]} columns but the model has {self.d_out} outputs")
            self.residual = self.output - Yr.T  # (d_L, n)
        self.columns = [(l, name, entries) for l, layer in enumerate(self.layers)
                        for name, entries in layer.patterns if name.rsplit("#", 1)[0] in self.trainable]

    @property
    def num_params(self) -> int:
        return len(self.columns)

    def jacobian(self) -> flint.fmpq_mat:
        """``J`` (``n d_L x p``, sample-major rows), exactly (003 eq 4)."""
        J = _zeros(self.n * self.d_out, self.num_params)
        for col, (l, _, entries) in enumerate(self.columns):
            block = _zeros(self.d_out, self.n)
            for r, c, v in entries:
                block = block + v * np.multiply.outer(self.P[l][:, r], self.H[l][c, :])
            J[:, col] = block.T.reshape(-1)
        return flint.fmpq_mat(J.tolist()) if J.size else flint.fmpq_mat(J.shape[0], J.shape[1])

    def functional(self) -> flint.fmpq_mat:
        """``n (H - G)``: the residual-weighted second derivative of the outputs ``F`` (module docstring)."""
        if self.residual is None:
            raise ValueError("the functional term needs targets: pass Y (or Y_exact)")
        p = self.num_params
        F = _zeros(p, p)
        by_layer: dict[int, list[int]] = {}
        for col, (l, _, _) in enumerate(self.columns):
            by_layer.setdefault(l, []).append(col)
        for m in sorted(by_layer):
            M = _identity(self.A[m].shape[0])  # A_{l-1} ... A_{m+1}, grown as l increases
            for l in range(m + 1, len(self.layers)):
                if l > m + 1:
                    M = self.A[l - 1].dot(M)
                if l not in by_layer:
                    continue
                Z = self.P[l].T.dot(self.residual).dot(self.H[m].T)  # (d_l + 1, d_{m-1} + 1)
                for j in by_layer[l]:
                    T = _zeros(M.shape[1], Z.shape[1])
                    for r, c, v in self.columns[j][2]:
                        T = T + v * np.multiply.outer(M[c, :], Z[r, :])
                    for k in by_layer[m]:
                        total = flint.fmpq(0)
                        for r2, c2, v2 in self.columns[k][2]:
                            total += v2 * T[r2, c2]
                        F[j, k] = total
                        F[k, j] = total
        return flint.fmpq_mat(F.tolist()) if p else flint.fmpq_mat(0, 0)

    def ggn(self) -> flint.fmpq_mat:
        """``G = J^T J / n`` (003 eq 3)."""
        J = self.jacobian()
        return J.transpose() * J / self.n

    def hessian(self) -> flint.fmpq_mat:
        """``H = G + F / n``, the Hessian of ``1/(2n) ||f(X) - Y||_F^2``."""
        return self.ggn() + self.functional() / self.n
