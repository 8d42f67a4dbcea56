"""The spectral path of the "point" generator (smooth fields, no white-noise halo).

Circulant embedding: the torus covariance sum_m lam(m) cos(2 pi m h / P) must equal the
lattice correlation for every lag inside the volume (|h| <= N - 1), up to the wrap-around
term c(P - h) <= 1e-10 and the discarded spectral energy <= 1e-9.
"""
import math

import numpy as np
import pytest

from vmt_dask.chunked import realize_dask
from vmt_dask.model import CALIBRATED, realize
from vmt_dask.model.covariance import lattice_covariance
from vmt_dask.model.spectral import ALPHA_SPECTRAL, spectral_field, spectral_modes


@pytest.mark.parametrize("generator", ["point", "cell"])
@pytest.mark.parametrize("alpha, n", [(0.02, 64), (0.05, 64), (0.03, 401), (0.01, 48)])
def test_torus_covariance_is_the_lattice_correlation_inside_the_volume(generator, alpha, n):
    P, M, w = spectral_modes(alpha, n, generator)
    assert P >= n + math.sqrt(math.log(1e10)) / min(alpha, 0.02)
    m = np.arange(-M, M + 1)
    h = np.arange(n)
    torus = (w ** 2) @ np.cos(2 * np.pi * np.outer(m, h) / P)
    assert (w ** 2).sum() == pytest.approx(1.0, abs=1e-12)
    # discarded energy 1e-9 (renormalised: error <= 2e-9) + wrap-around 1e-10 + rounding
    np.testing.assert_allclose(torus, lattice_covariance(alpha, h, generator), atol=3e-9)


def test_spectral_field_covariance_empirical():
    """Many independent lines of the generated field: E[f(0) f(h)] = rho(h).  The estimator's
    standard error is estimated from the samples; 5 SE bands."""
    K, a = 400, 0.03
    lags = np.array([0, 5, 10, 20, 40, 63])
    F = np.empty((K, 64))
    for s in range(K):
        out = np.zeros((64, 1, 1), np.float32)
        spectral_field(s, 0, (a, a, a), "point", (64, 64, 64), (0, 0, 0), (64, 1, 1), out=out)
        F[s] = out[:, 0, 0]
    prod = F[:, :1] * F[:, lags]
    mean, se = prod.mean(0), prod.std(0, ddof=1) / math.sqrt(K)
    assert np.all(np.abs(mean - np.exp(-(a * lags) ** 2)) <= 5 * se), (mean, se)
    # no torus wrap: at lag 63 the periodic copy would add rho(P - 63) ~ 1 if P were ~ N
    assert abs(mean[-1] - math.exp(-(a * 63) ** 2)) <= 5 * se[-1]


def test_point_generator_chunk_invariance_and_paths():
    th = CALIBRATED["BM10"]  # alpha_Xtilde = 0.02: spectral; the others: convolution
    assert 0.02 <= ALPHA_SPECTRAL < 0.11
    shape = (30, 37, 45)
    ref = realize(th, shape, seed=5, tile=16, generator="point")
    d = realize_dask(th, shape, seed=5, tile=16, chunks=(13, 17, 11), generator="point")
    assert np.array_equal(d.compute(scheduler="threads"), ref)
    # the rough fields are the lattice generator's: with only rough fields the two agree bit for bit
    rough = CALIBRATED["BM10"].from_sequence([0.2, 0.7, 0.11, 0.2, 1.0, 2.45, 0.04])
    assert np.array_equal(realize(rough, 24, seed=2, generator="point"),
                          realize(rough, 24, seed=2, generator="lattice"))
