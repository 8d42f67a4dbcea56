"""Covariance of the Gaussian fields against rho(h) = exp(-(alpha h)^2) (paper Eq. 3).

Statistical tolerances: the empirical covariance at lag h is averaged over K independent seeds;
its standard error SE is estimated from the K values, and the test asserts
|mean - rho(h)| <= 5 SE (a 5-sigma band; with K = 8 the t-distribution gives a false-alarm
probability of ~0.2 % per lag).  The test also asserts SE is small enough (< 0.03) for the
check to have power.  The kernel truncation bias (<= 1e-9 of the energy) is negligible.
"""
import numpy as np
import pytest

from vmt_dask.model import lattice_kernel
from vmt_dask.model.fields import gaussian_field
from vmt_dask.model.kernels import axis_alphas

K = 8


@pytest.mark.parametrize("alpha", [0.02, 0.07, 0.13, 0.3, 0.65, 0.7 / 0.92, 3.29])
def test_lattice_kernel_autocorrelation_is_exact(alpha):
    g = lattice_kernel(alpha)
    H = len(g) // 2
    c = np.correlate(g, g, "full")[2 * H:]
    h = np.arange(len(c))
    # Truncation cuts tails of energy E <= tol = 1e-9; by Cauchy-Schwarz the autocorrelation
    # changes by at most 2 sqrt(E) + 2 E (cut x kept pairs, cut x cut pairs, renormalisation).
    tol = 1e-9
    np.testing.assert_allclose(c, np.exp(-(alpha * h) ** 2), atol=2 * np.sqrt(tol) + 2 * tol)
    assert abs(c[0] - 1) < 1e-12  # unit variance exactly
    np.testing.assert_allclose(g, g[::-1])


def test_axis_alphas_units_and_anisotropy():
    # h in units of 0.2 um: at 0.2 um per voxel alpha is unchanged; z is divided by a
    assert axis_alphas(0.5, 0.8, 0.2) == pytest.approx((0.5, 0.5, 0.625))
    assert axis_alphas(0.5, 1.0, 0.4) == pytest.approx((1.0, 1.0, 1.0))


def _lag_cov(f, axis, h):
    a = np.moveaxis(f, axis, 0).astype(np.float64)
    return float((a[:-h] * a[h:]).mean()) if h else float((a * a).mean())


@pytest.mark.parametrize("axis", [0, 2])
def test_covariance_along_x_and_anisotropic_z(axis):
    alpha, a = 0.15, 0.6
    alphas = axis_alphas(alpha, a, 0.2)
    kernels = tuple(lattice_kernel(x) for x in alphas)
    shape = (48, 48, 96)
    lags = [0, 2, 4, 6, 9]
    vals = np.array([[_lag_cov(gaussian_field(seed, 0, kernels, (0, 0, 0), shape, threads=1), axis, h)
                      for h in lags] for seed in range(K)])
    mean, se = vals.mean(0), vals.std(0, ddof=1) / np.sqrt(K)
    expected = np.exp(-(alphas[axis] * np.array(lags)) ** 2)
    assert np.all(se < 0.03), se
    assert np.all(np.abs(mean - expected) <= 5 * se + 2 * np.sqrt(1e-9)), (mean, expected, se)  # + truncation bound
    # the z-compression is visible: along z the covariance at lag 4 is clearly smaller
    if axis == 2:
        assert expected[2] < np.exp(-(alpha * 4) ** 2) - 0.1


def test_opposite_faces_uncorrelated():
    """A periodic (FFT-on-the-grid) field would give corr(first, last plane) = rho(1) ~ 0.98."""
    kernels = (lattice_kernel(0.15),) * 3
    r = []
    for seed in range(K):
        f = gaussian_field(seed, 3, kernels, (0, 0, 0), (40, 40, 40), threads=1)
        r.append(np.corrcoef(f[0].ravel(), f[-1].ravel())[0, 1])
        assert np.corrcoef(f[0].ravel(), f[1].ravel())[0, 1] > 0.9
    r = np.array(r)
    assert abs(r.mean()) <= 5 * r.std(ddof=1) / np.sqrt(K)
    assert np.all(np.abs(r) < 0.5)


def test_field_values_do_not_depend_on_the_box():
    """Sub-boxes computed on their own agree with the big box up to float32 FFT rounding.

    Bound: each output is a sum over the separable FFT convolution; float32 rounding gives
    ~eps32 * log2(n) * max|f| ~ 6e-8 * 10 * 5 = 3e-6; we allow 2e-5.
    """
    kernels = (lattice_kernel(0.2), lattice_kernel(0.3), lattice_kernel(0.25))
    big = gaussian_field(7, 1, kernels, (-5, 0, 3), (35, 30, 40), threads=2)
    sub = gaussian_field(7, 1, kernels, (0, 10, 10), (17, 23, 31), threads=1)
    np.testing.assert_allclose(sub, big[5:22, 10:23, 7:28], atol=2e-5)


def test_threads_do_not_change_bits():
    kernels = (lattice_kernel(0.2),) * 3
    a = gaussian_field(3, 2, kernels, (0, 0, 0), (37, 29, 41), threads=1)
    b = gaussian_field(3, 2, kernels, (0, 0, 0), (37, 29, 41), threads=3)
    assert np.array_equal(a, b)
