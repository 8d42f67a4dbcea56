"""Closed-form one-point law and the quadrature two-point law of the excursion sets."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from vmt_dask.calibrate.law import (bivariate_normal_survival, exceedance, fractions_from_thresholds,
                                    pair_exceedance, pair_law, threshold, thresholds_from_fractions)
from vmt_dask.domain import TABLE1
from vmt_dask.errors import InputError


def test_exceedance_matches_design_values():
    # design.md: BM01 P(X >= 1.87) = 0.438 for SE and AM = (1 - 0.438) P(Y >= -0.26) = 0.501
    assert exceedance(1.87) == pytest.approx(0.438, abs=5e-4)
    pore, se, am = fractions_from_thresholds(1.87, -0.26)
    assert se == pytest.approx(0.438, abs=5e-4) and am == pytest.approx(0.501, abs=5e-4)


def test_exceedance_against_numerical_integral():
    from scipy import integrate, stats

    for lam in (-3.0, -0.3, 0.0, 1.0, 2.45, 6.0):
        ref, _ = integrate.quad(lambda g: stats.norm.pdf(g) * stats.chi2.sf(lam - g, 2), -12, 12,
                                points=[lam], limit=200)
        assert exceedance(lam) == pytest.approx(ref, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", list(TABLE1))
def test_thresholds_round_trip(name):
    lx, ly = TABLE1[name][5], TABLE1[name][6]
    _, se, am = fractions_from_thresholds(lx, ly)
    assert thresholds_from_fractions(se, am) == pytest.approx((lx, ly), abs=1e-9)


def test_threshold_errors():
    for bad in (0.0, 1.0, -0.1, float("nan")):
        with pytest.raises(InputError):
            threshold(bad)
    with pytest.raises(InputError):
        thresholds_from_fractions(0.6, 0.5)


def test_bivariate_normal_survival_matches_scipy():
    for a, b, r in [(0.3, -0.5, 0.4), (0.0, 0.0, 0.5), (-1, 2, -0.3), (1.2, 1.2, 0.99), (0.0, 1.0, 0.0)]:
        ref = multivariate_normal(mean=[0, 0], cov=[[1, r], [r, 1]]).cdf([-a, -b])
        assert bivariate_normal_survival(a, b, r) == pytest.approx(ref, abs=1e-7)
    assert bivariate_normal_survival(0.5, 1.0, 1.0) == pytest.approx(1 - 0.8413447460685429, abs=1e-12)


@pytest.mark.parametrize("lam", [1.87, -0.3, 2.45])
def test_pair_law_limits(lam):
    p = exceedance(lam)
    # quadrature error budget: 1e-3 absolute (24 Laguerre x 14 Laguerre x 10 midpoint nodes;
    # measured <= 4e-4 at these limits)
    assert pair_exceedance(lam, 0.0, 0.0) == pytest.approx(p * p, abs=1e-3)
    assert pair_exceedance(lam, 1.0, 1.0) == pytest.approx(p, abs=1e-3)


def test_pair_law_against_monte_carlo():
    # N = 400k simulated pairs: MC sd <= sqrt(0.25 / N) = 8e-4; bound 4 sd + 1e-3 quadrature
    rng = np.random.default_rng(5)
    N = 400_000
    z0, w = rng.standard_normal((2, 2, N))
    g0, v = rng.standard_normal((2, N))
    law = pair_law(1.87)
    for r1, r2 in [(0.5, 0.5), (0.99, 0.2), (0.2, 0.99), (0.996, 0.996), (0.9, 0.0)]:
        zh = r1 * z0 + np.sqrt(1 - r1 ** 2) * w
        gh = r2 * g0 + np.sqrt(1 - r2 ** 2) * v
        mc = np.mean(((z0 ** 2).sum(0) + g0 >= 1.87) & ((zh ** 2).sum(0) + gh >= 1.87))
        assert pair_exceedance(1.87, r1, r2) == pytest.approx(mc, abs=4 * 8e-4 + 1e-3)
        # the spline reproduces the quadrature (tabulation error budget 5e-4)
        assert law(r1, r2) == pytest.approx(pair_exceedance(1.87, r1, r2), abs=5e-4)


def test_pair_law_spline_evaluation_equals_scipy():
    """The fused numba evaluation of the polar spline is scipy's bispeu up to summation order:
    values in [0, 1] from 16 products of B-spline values (each <= 1) and coefficients (|c| < 2),
    so the two differ by at most ~32 ulps of 1, far below the tolerance 1e-14."""
    import numpy as np

    from vmt_dask.calibrate.law import pair_law

    rng = np.random.default_rng(5)
    r1 = np.concatenate([rng.uniform(-1, 1, 4000), [1.0, -1.0, 0.0, 1.0, -1.0, 1 - 1e-15, 1.5, -1.5]])
    r2 = np.concatenate([rng.uniform(-1, 1, 4000), [1.0, 1.0, -1.0, 0.0, -1.0, 1.0, 0.2, 0.2]])
    for lam in (1.87, -0.26, 2.45):
        F = pair_law(lam)
        got, ref = F(r1, r2), F.reference(r1, r2)
        assert got.shape == ref.shape == r1.shape
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-14)
        assert F(0.3, 0.4).shape == ()
