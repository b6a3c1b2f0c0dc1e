"""hessverify: check closed-form claims about loss-Hessian spectra with certified numerics."""
__version__ = "0.1.0"

# ``from hessverify import conjecture`` is the decorator (imported after the submodule of the same name, so the
# function, not the module, is the package attribute); ``hessverify.conjecture.REGISTRY`` stays reachable
# through ``sys.modules`` / ``from hessverify.conjecture import REGISTRY``.
from hessverify.conjecture import conjecture  # noqa: E402
from hessverify import strategies  # noqa: E402

__all__ = ["conjecture", "strategies", "__version__"]
