"""Test matrices with spectra known by construction: re-exported from :mod:`hessverify.data.spectra`."""
from hessverify.data.spectra import (FAMILIES, family_spectrum as family, pareto_wishart, spiked_wishart,  # noqa: F401
                                     symmetric_from_eigenvalues)
