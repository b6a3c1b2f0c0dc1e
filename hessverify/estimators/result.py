"""Result types: what an estimator found and the certificate that says how far to trust it."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from scipy import stats


@dataclass(frozen=True)
class SpectralResult:
    """Eigenvalue estimates with their certificate.

    ``residuals[i]`` bounds the distance from ``eigenvalues[i]`` to the nearest true eigenvalue (for a
    symmetric ``A`` and unit ``y``: ``min_j |lambda_j - theta| <= ||A y - theta y||``). ``converged[i]`` says
    whether that bound met the requested tolerance. ``multiplicities_guaranteed`` says whether repeated
    eigenvalues are reported as often as they occur (see each method's docstring).
    """

    eigenvalues: torch.Tensor
    residuals: torch.Tensor
    num_matvecs: int
    converged: torch.Tensor
    method: str
    eigenvectors: torch.Tensor | None = None
    iterations: int = 0
    which: str = "LA"
    tol: float = 0.0
    multiplicities_guaranteed: bool = True
    history: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def all_converged(self) -> bool:
        return bool(self.converged.all())


@dataclass(frozen=True)
class TraceResult:
    """A stochastic trace estimate: ``value`` with standard error ``stderr`` from ``num_samples`` probes."""

    value: float
    stderr: float
    num_matvecs: int
    num_samples: int
    method: str
    samples: torch.Tensor | None = None
    exact_part: float = 0.0

    def ci(self, level: float = 0.95) -> tuple[float, float]:
        """Two-sided Student-t confidence interval ``value +- t_{(1+level)/2, m-1} * stderr``."""
        if not 0 < level < 1:
            raise ValueError(f"level={level} must lie in (0, 1), e.g. 0.95")
        if self.num_samples < 2:
            return (float("-inf"), float("inf")) if self.stderr else (self.value, self.value)
        t = float(stats.t.ppf(0.5 + level / 2, df=self.num_samples - 1))
        return self.value - t * self.stderr, self.value + t * self.stderr

    @property
    def relative_stderr(self) -> float:
        return self.stderr / abs(self.value) if self.value else float("inf")


@dataclass(frozen=True)
class DensityResult:
    """A spectral density ``density`` on ``grid`` (integrates to about one), from stochastic Lanczos quadrature."""

    grid: torch.Tensor
    density: torch.Tensor
    nodes: torch.Tensor
    weights: torch.Tensor
    num_matvecs: int
    sigma: float
    log_scale: bool = False
    lambda_range: tuple[float, float] = (0.0, 0.0)
