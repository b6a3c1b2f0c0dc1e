"""Estimators on any symmetric operator, each returning its answer with a certificate."""
from hessverify.estimators.block_lanczos import block_lanczos
from hessverify.estimators.density import spectral_density
from hessverify.estimators.exact import exact
from hessverify.estimators.lanczos import lanczos, lanczos_ritz
from hessverify.estimators.lanczos_kernel import LanczosRun, lanczos_tridiagonal
from hessverify.estimators.lobpcg import lobpcg
from hessverify.estimators.power import power_iteration, subspace_iteration
from hessverify.estimators.result import DensityResult, SpectralResult, TraceResult
from hessverify.estimators.trace import hutchinson, hutchpp

__all__ = ["exact", "lanczos", "block_lanczos", "lanczos_ritz", "lobpcg", "power_iteration", "subspace_iteration",
           "hutchinson", "hutchpp", "spectral_density", "lanczos_tridiagonal", "LanczosRun", "SpectralResult",
           "TraceResult", "DensityResult"]
