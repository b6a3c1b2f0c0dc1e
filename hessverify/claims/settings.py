"""A *setting*: model, data and targets built deterministically from a small spec of plain values.

Hypothesis draws the spec (``hessverify.strategies``); ``build_setting(**spec)`` rebuilds the same setting
anywhere, so a counterexample prints as a call that can be pasted back. Every random draw (inputs, weights,
biases, labels) comes from a generator seeded with ``seed``: the same call gives the same tensors bit for bit
in any process, whatever the global torch RNG state.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
import inspect

import numpy as np
import torch

from hessverify.claims.inputs import INPUTS, exact_whitened_inputs, float_inputs, raw_inputs
from hessverify.data import labels_with_proportion, one_hot, whiten
from hessverify.exact.construct import cayley_orthogonal, diagonal, dyadic, orthonormal_columns, to_fmpq_mat
from hessverify.exact.linear_models import ExactProblem, rational_array
from hessverify.exact.rank import exact_rank
from hessverify.models import balanced_factorization, balanced_weights, get_weights, linear_network
from hessverify._validation import as_int, check_allocation, check_choice, check_positive_int_sequence

KINDS = ("balanced_linear", "linear", "mlp", "symmetric_matrix", "linear_cnn")
TARGETS = ("zero_loss", "teacher", "one_hot", "random_labels")
LOSSES = ("mse", "cross_entropy")
_DTYPES = {"float64": torch.float64, "float32": torch.float32}


@dataclass(frozen=True)
class Setting:
    """What a conjecture sees. ``weights`` are numpy arrays ``(d_l, d_{l-1})``; ``X`` is ``(n, d0)``.

    Built by :func:`build_setting` (or drawn by a strategy), never by hand; ``repr`` is the call that rebuilds it.

    Attributes
    ----------
    spec : dict
        The arguments of :func:`build_setting` that made it (``kind``, ``widths``, ``n``, ``sigma_x``, ``seed``
        and every other one that differs from its default).
    widths : tuple of int
        Layer widths ``(d0, ..., dL)``; channel counts for a linear CNN; ``(size,)`` for a symmetric matrix.
    weights : list of numpy.ndarray
        The weight matrices ``W_l`` as float64 ``(d_l, d_{l-1})`` (empty for a linear CNN and a matrix).
    X : torch.Tensor
        The inputs ``(n, d0)`` (``(n, C_0, *spatial)`` for a CNN), whitened unless ``sigma_x`` is None.
    Y : torch.Tensor
        The MSE targets (one-hot labels when there are labels); the model's own outputs for ``"zero_loss"``.
    labels : torch.Tensor or None
        Integer class labels ``(n,)`` for label targets and cross-entropy, else None.
    loss : str
        ``"mse"`` or ``"cross_entropy"`` (``"none"`` for a symmetric matrix).
    sigma_x : float or None
        The whitening scale (``X^T X / n = sigma_x^2 I``; for ``exact=True`` the dyadic scale actually used);
        None for raw inputs.
    singular_values : numpy.ndarray or None
        The shared singular values of balanced weights (003 App. C), else None.
    model : torch.nn.Module
        The network at the setting's weights, in the spec's dtype.
    matrix : numpy.ndarray or None
        ``kind="symmetric_matrix"``: the matrix ``Q diag(eigenvalues) Q^T``, else None.
    eigenvalues : numpy.ndarray or None
        ``kind="symmetric_matrix"``: its eigenvalues, descending, else None.
    exact : ExactData or None
        The rationals of an ``exact=True`` setting, else None.
    """

    spec: dict
    widths: tuple[int, ...]
    weights: list
    X: torch.Tensor
    Y: torch.Tensor
    labels: torch.Tensor | None
    loss: str
    sigma_x: float | None
    singular_values: np.ndarray | None
    model: torch.nn.Module = field(repr=False)
    matrix: np.ndarray | None = None
    eigenvalues: np.ndarray | None = None
    exact: ExactData | None = field(default=None, repr=False)

    @property
    def depth(self) -> int:
        return len(self.widths) - 1

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def d0(self) -> int:
        return self.widths[0]

    @property
    def dL(self) -> int:
        return self.widths[-1]

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def dtype(self) -> torch.dtype:
        return _DTYPES[self.spec.get("dtype", "float64")]

    @cached_property
    def input_rank(self) -> int:
        """``rank(X)`` of the inputs as built (flattened per sample): exact for a rational setting, otherwise
        numpy's numerical rank (singular values above ``max(n, d) eps s_max``)."""
        if self.exact is not None and self.exact.X is not None:
            return exact_rank(to_fmpq_mat(np.asarray(self.exact.X, dtype=object).reshape(self.n, -1)))
        return int(np.linalg.matrix_rank(self.X.double().reshape(self.n, -1).cpu().numpy()))

    @cached_property
    def alpha_max(self) -> float | None:
        """Largest class proportion (003 §4) when the targets are labels."""
        if self.labels is None:
            return None
        return float(torch.bincount(self.labels).max()) / self.n

    @property
    def loss_targets(self) -> torch.Tensor:
        """What the loss compares against: ``Y`` for MSE, ``labels`` for cross-entropy. (``spec["targets"]``
        is the recipe that made them.)"""
        return self.labels if self.loss == "cross_entropy" else self.Y

    @cached_property
    def loss_value(self) -> float:
        """The training loss at the setting's weights (``"mse"``: ``1/(2n) ||f(X) - Y||_F^2``, 003 eq 2)."""
        with torch.no_grad():
            out = self.model(self.X)
            if self.loss == "cross_entropy":
                return float(torch.nn.functional.cross_entropy(out, self.labels))
            return float(((out - self.Y) ** 2).sum() / (2 * self.n))

    def reproduce(self) -> str:
        """A Python expression that rebuilds this setting (after ``import hessverify``)."""
        args = ", ".join(f"{k}={_literal(v)}" for k, v in self.spec.items())
        return f"hessverify.claims.build_setting({args})"

    def __repr__(self) -> str:
        return self.reproduce()

    def _repr_pretty_(self, printer, cycle) -> None:  # hypothesis/IPython pretty printer
        printer.text(self.reproduce())


def _literal(v):
    if isinstance(v, float):
        return repr(float(v))
    if isinstance(v, (list, tuple)):
        inner = ", ".join(_literal(x) for x in v)
        return f"({inner},)" if isinstance(v, tuple) and len(v) == 1 else (f"({inner})" if isinstance(v, tuple) else f"[{inner}]")
    return repr(v)


def _seeded_biases(model: torch.nn.Module, g: torch.Generator, *, dyadic_values: bool = False) -> None:
    """PyTorch's default bias init ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, drawn from ``g`` (not the global RNG);
    rounded to dyadic rationals for exact settings."""
    with torch.no_grad():
        for layer in (m for m in model.modules() if isinstance(m, torch.nn.Linear)):
            bound = 1 / layer.in_features ** 0.5
            b = torch.rand(layer.out_features, generator=g, dtype=torch.float64) * 2 * bound - bound
            layer.bias.copy_(dyadic(b) if dyadic_values else b)


def _labels(n: int, num_classes: int, alpha_max: float | None, g: torch.Generator) -> torch.Tensor:
    if alpha_max is None:
        return torch.randint(num_classes, (n,), generator=g)
    return labels_with_proportion(n, num_classes, alpha_max, g)


def build_setting(
    kind: str = "balanced_linear",
    widths=(2, 2),
    n: int | None = None,
    sigma_x: float | None = 1.0,
    seed: int = 0,
    singular_values=None,
    weight_scale: float = 1.0,
    activation: str | None = None,
    bias: bool = False,
    targets: str = "zero_loss",
    loss: str = "mse",
    alpha_max: float | None = None,
    at_least_squares_solution: bool = False,
    eigenvalues=None,
    dtype: str = "float64",
    input_rank: int | None = None,
    input_spectrum=None,
    spatial=None,
    kernel: int | None = None,
    stride: int = 1,
    inputs: str = "gaussian",
    exact: bool = False,
) -> Setting:
    """Build a setting from its spec (see ``hessverify.strategies`` for what each field means).

    ``sigma_x=None`` leaves the inputs raw; otherwise they are whitened (003 App. C). ``inputs`` picks a recipe
    (:mod:`hessverify.claims.inputs`: ``"gaussian"``, ``"constant_feature"``, ``"duplicated"``,
    ``"ones_in_span"``, ``"ill_conditioned"``). ``at_least_squares_solution`` replaces the weights by the balanced
    factorisation of the (rank-k truncated) least-squares solution ``Y^T X / (n sigma_x^2)`` (003 eq 12), the
    minimiser gradient flow reaches from balanced initialisation.

    ``input_rank=r`` (raw inputs only) draws ``X = G1 G2 / sqrt(r)`` with Gaussian ``G1 (n x r)``, ``G2 (r x d0)``,
    so ``rank(X) = min(n, r, d0)``; ``n < d0`` is allowed with raw inputs. ``input_spectrum=c`` (``d0`` positive
    values) gives inputs with ``X^T X / n = V diag(c) V^T``, ``V`` the right singular vectors of ``W_1``: a raw
    input covariance that commutes with ``W_1^T W_1``. ``kind="linear_cnn"``: ``widths`` are channel counts
    ``(C_0, C_1, ..., C_{L-1}, K)``; ``L-1`` convolutions (``kernel``, ``stride``, no bias, no activation) over
    inputs of shape ``(n, C_0, *spatial)`` (1-D or 2-D), then a dense read-out to ``K`` outputs.

    ``exact=True`` (linear models and symmetric matrices) builds every number as a rational: dyadic draws,
    rational orthogonal matrices for balanced weights and whitened inputs (:mod:`hessverify.exact.construct`),
    targets computed exactly. ``Setting.exact`` then holds the rationals and the tensors are their float64
    roundings (equal to them where dyadic); ranks are measured exactly (:mod:`hessverify.exact`). Exactly
    whitened inputs have the scale ``c / sqrt(n)`` with ``c`` the 10-bit dyadic rational nearest
    ``sigma_x sqrt(n)``, which ``Setting.sigma_x`` reports (within 0.1% of the spec's).

    Parameters
    ----------
    kind : {"balanced_linear", "linear", "mlp", "symmetric_matrix", "linear_cnn"}
        Balanced linear network (003 App. C), linear network with Gaussian weights, network with an activation,
        ``Q diag(eigenvalues) Q^T`` with a random orthogonal ``Q``, or a linear CNN.
    widths : sequence of int
        Layer widths ``(d0, ..., dL)``, at least two, each positive (channel counts for ``"linear_cnn"``;
        unused for ``"symmetric_matrix"``).
    n : int, optional
        Number of samples; default ``widths[0]``.
    sigma_x : float or None
        Whiten the inputs to ``X^T X / n = sigma_x^2 I`` (003 Assumption 2); None: raw inputs.
    seed : int
        In ``[0, 2^63)``: seeds every draw.
    singular_values : array_like, optional
        The ``min(widths)`` shared singular values of balanced weights (``"balanced_linear"``, default all ones;
        or ``"mlp"``).
    weight_scale : float
        Gaussian weights are ``N(0, weight_scale^2 / fan_in)`` (``"linear"``, ``"mlp"``, ``"linear_cnn"``).
    activation : {"tanh", "relu", "sigmoid"}, optional
        The activation of ``"mlp"`` (required there, refused elsewhere).
    bias : bool
        Give the dense layers biases, drawn as PyTorch's default ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.
    targets : {"zero_loss", "teacher", "one_hot", "random_labels"}
        The model's own outputs (003 Assumption 1), a random linear teacher ``X T^T`` (a CNN: its outputs plus
        Gaussian noise), or random class labels with their one-hot ``Y`` (``"one_hot"`` and ``"random_labels"``
        build the same).
    loss : {"mse", "cross_entropy"}
        The loss; ``"cross_entropy"`` always draws labels (not for CNNs and matrices).
    alpha_max : float, optional
        Largest class proportion of the labels (003 §4); None: uniform random labels.
    at_least_squares_solution : bool
        Replace the weights by the balanced factorisation of the least-squares solution (003 eq 12).
    eigenvalues : array_like, optional
        ``kind="symmetric_matrix"``: the finite eigenvalues of the matrix (required there).
    dtype : {"float64", "float32"}
        Precision of the model and data.
    input_rank : int, optional
        Raw inputs of rank ``min(n, r, d0)`` (needs ``sigma_x=None``).
    input_spectrum : array_like, optional
        ``d0`` positive values ``c``: raw inputs with ``X^T X / n = V diag(c) V^T`` (needs ``sigma_x=None`` and
        ``n >= d0``).
    spatial : tuple of int, optional
        ``kind="linear_cnn"``: the input's spatial shape, ``(D,)`` or ``(H, W)`` (required there).
    kernel : int, optional
        ``kind="linear_cnn"``: the convolutions' kernel size (required there).
    stride : int
        ``kind="linear_cnn"``: the convolutions' stride.
    inputs : {"gaussian", "constant_feature", "duplicated", "ones_in_span", "ill_conditioned"}
        The input recipe (:mod:`hessverify.claims.inputs`).
    exact : bool
        Build every number as a rational (linear models and symmetric matrices only).

    Returns
    -------
    Setting
        Model, data and targets; the same call gives the same tensors bit for bit.

    Raises
    ------
    ValueError
        For an unknown choice, or an option the ``kind`` (or the other options) does not take.
    TypeError
        For a flag that is not a bool.
    """
    check_choice("kind", kind, KINDS)
    if kind != "symmetric_matrix":
        widths = check_positive_int_sequence("widths", widths, min_len=2)
    check_choice("targets", targets, TARGETS)
    check_choice("loss", loss, LOSSES)
    check_choice("dtype", dtype, tuple(_DTYPES))
    check_choice("inputs", inputs, INPUTS)
    seed = as_int("seed", seed, minimum=0, maximum=2**63 - 1)
    if activation is not None:
        check_choice("activation", activation, ("tanh", "relu", "sigmoid"))
    if kind != "symmetric_matrix":  # the sizes the widths imply, before anything is drawn
        rows = widths[0] if n is None else as_int("n", n, minimum=1)
        check_allocation("the inputs (n x widths[0])", (rows, widths[0]), hint="lower widths or n")
        for a, b in zip(widths[:-1], widths[1:]):
            check_allocation("a weight matrix of widths", (b, a), hint="lower the widths")
    for name, flag in (("bias", bias), ("exact", exact), ("at_least_squares_solution", at_least_squares_solution)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    _check_kind_options(kind, activation, singular_values, exact, at_least_squares_solution, input_spectrum, loss)
    if input_spectrum is not None and (inputs != "gaussian" or input_rank is not None):
        raise ValueError("input_spectrum= draws its own raw inputs (full rank, that covariance), so inputs= and "
                         "input_rank= would be ignored: pass one or the other")
    given = dict(kind=kind, widths=tuple(widths), n=n, sigma_x=sigma_x, seed=seed, singular_values=singular_values,
                 weight_scale=weight_scale, activation=activation, bias=bias, targets=targets, loss=loss,
                 alpha_max=alpha_max, at_least_squares_solution=at_least_squares_solution, eigenvalues=eigenvalues,
                 dtype=dtype, input_rank=input_rank, input_spectrum=input_spectrum, spatial=spatial, kernel=kernel,
                 stride=stride, inputs=inputs, exact=bool(exact))
    always = ("kind", "widths", "n", "sigma_x", "seed")
    spec = {k: v for k, v in given.items() if k in always or v != _DEFAULTS[k]}
    g = torch.Generator().manual_seed(seed)
    if kind == "symmetric_matrix":
        return _symmetric_matrix_setting(spec, eigenvalues, g, exact)
    torch_dtype = _DTYPES[dtype]
    n = widths[0] if n is None else check_positive_int_sequence("n", [n], min_len=1)[0]
    if kind == "linear_cnn":
        return _linear_cnn_setting(spec, widths, n, spatial, kernel, stride, weight_scale, targets, g, torch_dtype,
                                   exact)
    r = None
    if input_rank is not None:
        if sigma_x is not None:
            raise ValueError("input_rank needs raw inputs: pass sigma_x=None (whitened inputs have full rank)")
        r = check_positive_int_sequence("input_rank", [input_rank], min_len=1)[0]
    X_exact = None
    if exact and sigma_x is not None:
        X_exact, sigma_x = exact_whitened_inputs(inputs, n, widths[0], sigma_x, g)
        X = float_inputs(X_exact)
    else:
        X = raw_inputs(inputs, n, widths[0], r, g, exact=exact)
        if exact:
            X_exact, X = X, float_inputs(X)
        if sigma_x is not None:
            X = whiten(X, sigma_x)
    sv, weights, W_exact = None, None, None
    if kind in ("linear", "mlp"):  # drawn for an mlp with singular_values too (then replaced), as before
        weights = [torch.randn(b, a, generator=g, dtype=torch.float64) * weight_scale / a**0.5
                   for a, b in zip(widths[:-1], widths[1:])]
        if exact:
            weights = [dyadic(w) for w in weights]
            W_exact = [rational_array(w) for w in weights]
    if kind == "balanced_linear" or (kind == "mlp" and singular_values is not None):
        sv = np.asarray(singular_values if singular_values is not None else np.ones(min(widths)), dtype=float)
        if exact:
            W_exact = exact_balanced_weights(widths, sv, g)
        else:
            weights = balanced_weights(widths, torch.as_tensor(sv), generator=g)
    if W_exact is not None:
        weights = [float_inputs(w) for w in W_exact]
    model = linear_network(widths, activation=activation if kind == "mlp" else None, bias=bias, weights=weights)
    if bias:
        _seeded_biases(model, g, dyadic_values=exact)
    labels, Y, Y_exact = None, None, None
    if targets in ("one_hot", "random_labels") or loss == "cross_entropy":
        labels = _labels(n, widths[-1], alpha_max, g)
        Y = one_hot(labels, widths[-1])
        Y_exact = rational_array(Y) if exact else None
    elif targets == "teacher":
        T = torch.randn(widths[-1], widths[0], generator=g, dtype=torch.float64) / widths[0] ** 0.5
        if exact:
            Y_exact = X_exact.dot(rational_array(dyadic(T)).T)
            Y = float_inputs(Y_exact)
        else:
            Y = X @ T.T
    if at_least_squares_solution:
        if sigma_x is None or Y is None:
            raise ValueError("at_least_squares_solution needs whitened inputs (sigma_x) and targets other than zero_loss")
        W_star = (Y.T @ X / (n * sigma_x**2))
        weights = balanced_factorization(W_star, widths, generator=g)
        model = linear_network(widths, weights=weights)
        sv = torch.linalg.svdvals(weights[0]).numpy()[: min(widths)]
    if input_spectrum is not None:
        X = _inputs_commuting_with(weights[0], input_spectrum, n, sigma_x, g)
        if targets == "teacher" and loss != "cross_entropy":  # the teacher of the inputs the setting returns
            Y = X @ T.T
    exact_data = None
    if exact:
        values = exact_parameter_values(model, W_exact)
        if Y_exact is None:  # zero loss (003 Assumption 1): the model's own outputs, exactly
            Y_exact = ExactProblem(model, X, values=values, X_exact=X_exact).output.T
            Y = float_inputs(Y_exact)
        exact_data = ExactData(values, X_exact, Y_exact)
    if Y is None:  # zero loss (003 Assumption 1): targets are the model's own outputs
        with torch.no_grad():
            Y = model(X)
    model = model.to(torch_dtype)
    X, Y = X.to(torch_dtype), Y.to(torch_dtype)
    return Setting(spec=spec, widths=widths, weights=[w.double().numpy() for w in get_weights(model)], X=X, Y=Y,
                   labels=labels, loss=loss, sigma_x=sigma_x, singular_values=sv, model=model, exact=exact_data)


def _check_kind_options(kind, activation, singular_values, exact, at_least_squares_solution, input_spectrum,
                        loss) -> None:
    """Options that only some kinds take: refused elsewhere instead of silently ignored."""
    if activation is not None and kind != "mlp":
        raise ValueError(f"activation={activation!r} needs kind='mlp'; kind={kind!r} builds a linear model")
    if kind == "mlp" and activation is None:
        raise ValueError("kind='mlp' needs activation='tanh', 'relu' or 'sigmoid' (kind='linear' for none)")
    if singular_values is not None and kind not in ("balanced_linear", "mlp"):
        raise ValueError(f"singular_values is for kind='balanced_linear' (or 'mlp'); kind={kind!r} draws Gaussian "
                         "weights")
    if loss == "cross_entropy" and kind in ("linear_cnn", "symmetric_matrix"):
        raise ValueError(f"loss='cross_entropy' is not available for kind={kind!r}")
    if exact:
        if kind == "mlp":
            raise ValueError("exact=True needs a linear model (kind 'linear', 'balanced_linear', 'linear_cnn') or "
                             "kind='symmetric_matrix'; an activation has no rational form")
        if at_least_squares_solution or input_spectrum is not None:
            raise ValueError("exact=True does not combine with at_least_squares_solution or input_spectrum (both "
                             "need an SVD, which is not rational)")


@dataclass(frozen=True)
class ExactData:
    """The rationals a setting was built from (``exact=True``): parameter values by name (flat object arrays of
    ``fmpq``), inputs, targets, and for ``kind="symmetric_matrix"`` the matrix."""

    values: dict | None
    X: np.ndarray | None
    Y: np.ndarray | None
    matrix: np.ndarray | None = None


def exact_balanced_weights(widths, singular_values, g: torch.Generator) -> list[np.ndarray]:
    """003 Appendix C with rational orthonormal factors (Cayley): ``W_l = U_l S U_{l-1}^T`` exactly balanced."""
    k = min(widths)
    if len(singular_values) != k:
        raise ValueError(f"singular_values has {len(singular_values)} entries but min(widths) = {k}; pass exactly "
                         f"{k}")
    if not np.all(np.isfinite(singular_values)) or np.any(np.asarray(singular_values) < 0):
        raise ValueError("singular_values must be finite and non-negative")
    S = diagonal(singular_values)
    V = orthonormal_columns(widths[0], k, g)
    out = []
    for d_out in widths[1:]:
        U = orthonormal_columns(d_out, k, g)
        out.append(U.dot(S).dot(V.T))
        V = U
    return out


def exact_parameter_values(model: torch.nn.Module, weights_exact) -> dict:
    """Parameter name -> flat rationals: the exact weights where given, the (dyadic) floats otherwise."""
    values = {name: rational_array(p).reshape(-1) for name, p in model.named_parameters()}
    if weights_exact is not None:
        names = [name for name, _ in model.named_parameters() if name.endswith("weight")]
        for name, W in zip(names, weights_exact):
            values[name] = np.asarray(W, dtype=object).reshape(-1)
    return values


def _symmetric_matrix_setting(spec, eigenvalues, g, exact) -> Setting:
    """``Q diag(eigenvalues) Q^T``: ``Q`` Haar (QR of a Gaussian), or rational orthogonal (Cayley) when exact."""
    lam = np.asarray(eigenvalues if eigenvalues is not None else [], dtype=float)
    if lam.ndim != 1 or lam.size < 1 or not np.isfinite(lam).all():
        raise ValueError(f"eigenvalues={eigenvalues!r}: kind='symmetric_matrix' needs a finite 1-D list of "
                         "eigenvalues")
    exact_data = None
    if exact:
        Q = cayley_orthogonal(lam.size, g)
        A_exact = Q.dot(diagonal(lam)).dot(Q.T)
        A = float_inputs(A_exact).numpy()
        exact_data = ExactData(None, None, None, A_exact)
    else:
        Q, R = torch.linalg.qr(torch.randn(lam.size, lam.size, generator=g, dtype=torch.float64))
        Q = (Q * torch.sign(torch.diagonal(R))).numpy()
        A = Q @ np.diag(lam) @ Q.T
    empty = torch.zeros(0, 1, dtype=torch.float64)
    return Setting(spec, (lam.size,), [], empty, empty, None, "none", None, None, torch.nn.Identity(),
                   matrix=(A + A.T) / 2, eigenvalues=np.sort(lam)[::-1], exact=exact_data)


def _inputs_commuting_with(W1: torch.Tensor, spectrum, n: int, sigma_x, g: torch.Generator) -> torch.Tensor:
    """Inputs with ``X^T X / n = V diag(c) V^T``, ``V`` the right singular vectors of ``W1`` (see build_setting)."""
    c = torch.as_tensor(np.asarray(spectrum, dtype=float))
    d0 = W1.shape[1]
    if sigma_x is not None:
        raise ValueError("input_spectrum gives raw inputs with that covariance: pass sigma_x=None")
    if c.ndim != 1 or c.numel() != d0 or not bool(torch.isfinite(c).all()) or bool((c <= 0).any()):
        raise ValueError(f"input_spectrum={spectrum!r} must be {d0} positive finite values (one per input feature)")
    if n < d0:
        raise ValueError(f"input_spectrum needs n >= d0 samples for a full covariance; got n={n} < d0={d0}")
    V = torch.linalg.svd(W1.double(), full_matrices=True).Vh.T
    Q, _ = torch.linalg.qr(torch.randn(n, d0, generator=g, dtype=torch.float64))
    return n**0.5 * Q @ torch.diag(c.sqrt()) @ V.T


def _linear_cnn_setting(spec, channels, n, spatial, kernel, stride, weight_scale, targets, g, dtype,
                        exact: bool = False) -> Setting:
    """A linear CNN (see build_setting), its Gaussian inputs, and targets; weights ``N(0, scale^2 / fan_in)``
    (every draw dyadic when ``exact``)."""
    if spatial is None or kernel is None:
        raise ValueError("kind='linear_cnn' needs spatial=(D,) or (H, W) and kernel=")
    spatial = tuple(check_positive_int_sequence("spatial", spatial, min_len=1))
    if len(spatial) > 2:
        raise ValueError(f"spatial={spatial!r}: linear_cnn supports 1-D (D,) and 2-D (H, W) inputs")
    kernel, stride = check_positive_int_sequence("kernel/stride", [kernel, stride], min_len=2)
    conv = torch.nn.Conv1d if len(spatial) == 1 else torch.nn.Conv2d
    layers, size = [], spatial
    for c_in, c_out in zip(channels[:-2], channels[1:-1]):
        if min(size) < kernel:
            raise ValueError(f"kernel={kernel} is larger than the feature map {size}; use a smaller kernel or "
                             "fewer convolutions")
        layers.append(conv(c_in, c_out, kernel, stride=stride, bias=False, dtype=torch.float64))
        size = tuple((s - kernel) // stride + 1 for s in size)
    layers += [torch.nn.Flatten(), torch.nn.Linear(channels[-2] * int(np.prod(size)), channels[-1], bias=False,
                                                   dtype=torch.float64)]
    model = torch.nn.Sequential(*layers)
    with torch.no_grad():
        for p in model.parameters():
            fan_in = p[0].numel()
            w = torch.randn(p.shape, generator=g, dtype=torch.float64) * weight_scale / fan_in**0.5
            p.copy_(dyadic(w) if exact else w)
    X = torch.randn(n, channels[0], *spatial, generator=g, dtype=torch.float64)
    if exact:
        X = dyadic(X)
    if targets not in ("zero_loss", "teacher"):
        raise ValueError(f"targets={targets!r} is not supported for kind='linear_cnn'; use 'zero_loss' or 'teacher'")
    exact_data = None
    if exact:
        values = exact_parameter_values(model, None)
        out_exact = ExactProblem(model, X, values=values).output.T
        Y_exact = out_exact
        if targets == "teacher":
            Y_exact = out_exact + rational_array(dyadic(torch.randn(out_exact.shape, generator=g,
                                                                     dtype=torch.float64)))
        Y = float_inputs(Y_exact)
        exact_data = ExactData(values, rational_array(X), Y_exact)
    else:
        with torch.no_grad():
            out = model(X)
        Y = out if targets == "zero_loss" else out + torch.randn(out.shape, generator=g, dtype=torch.float64)
    model = model.to(dtype)
    return Setting(spec=spec, widths=tuple(channels), weights=[], X=X.to(dtype), Y=Y.to(dtype), labels=None,
                   loss="mse", sigma_x=None, singular_values=None, model=model, exact=exact_data)


_DEFAULTS = {name: p.default for name, p in inspect.signature(build_setting).parameters.items()}
