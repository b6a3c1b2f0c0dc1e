"""hessverify: check closed-form claims about loss-Hessian spectra with certified numerics."""
__version__ = "0.1.0"
