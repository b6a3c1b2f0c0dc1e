"""The comparison tolerance: exact predictions pass, predictions off by far less than any effect a claim is
about (1e-9 relative) are rejected."""
import numpy as np
import pytest
from hypothesis import given

from hessverify import strategies as st
from hessverify.compare import compare, measure
from theory.linear import balanced_spectrum


@given(st.balanced_linear_networks(singular_values=lambda w: st.singular_values(min(w), low=0.5)))
def test_tolerance_accepts_exact_and_rejects_1e9_perturbation(s):
    pred = balanced_spectrum(s.widths, s.singular_values, s.sigma_x)
    m = measure(s, "spectrum", "ggn")
    assert compare(pred, m).ok
    off = pred.copy()
    off[0] *= 1 + 1e-9
    assert not compare(off, m).ok


def test_relations():
    from hessverify.compare import Measurement
    m = Measurement(np.asarray(1.0), np.asarray(0.0), "x", 1, 2.2e-16)
    assert compare(2.0, m, "le").ok and not compare(0.5, m, "le").ok
    assert compare(0.5, m, "ge").ok and not compare(2.0, m, "ge").ok
    with pytest.raises(ValueError, match="shape"):
        compare([1.0, 2.0], m)


def test_loose_certificate_warns():
    from hessverify.compare import Measurement
    m = Measurement(np.asarray(1.0), np.asarray(0.01), "hutchinson", 10, 2.2e-16)
    with pytest.warns(RuntimeWarning, match="cannot resolve"):
        compare(1.0, m)


def test_float32_settings_use_float32_tolerance():
    from hessverify.settings import build_setting
    s32 = build_setting("balanced_linear", (3, 2, 2), n=4, singular_values=[1.0, 0.5], dtype="float32")
    m = measure(s32, "spectrum", "ggn")
    assert m.eps == np.finfo(np.float32).eps
    pred = balanced_spectrum(s32.widths, s32.singular_values, s32.sigma_x)
    assert compare(pred, m).ok
