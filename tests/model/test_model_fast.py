"""The "fast" generator: its noise, its fused direct convolution, and that it has the law of
"lattice" (point sampling, lattice correlation exp(-(alpha h)^2))."""

import numpy as np
import pytest
from scipy import ndimage, stats

from vmt_dask.model import CALIBRATED, generator_kernel, realize
from vmt_dask.model.fast import fast_field, fast_noise_region
from vmt_dask.model.noise import MAX_COORDINATE, noise_region


BOX = ((-20, 3, -7), (44, 67, 57))  # 64^3 values, odd z start (the pair boundary is exercised)
N = 64 ** 3


@pytest.fixture(scope="module")
def box():
    return fast_noise_region(11, 0, *BOX).astype(np.float64)


def test_noise_moments_and_distribution(box):
    """Sample moments within 5 standard errors of N(0,1) (SEs as in test_model_noise), KS, and a
    chi-square over 64 equiprobable bins (199 dof would need more values)."""
    v = box.ravel()
    assert abs(v.mean()) < 5 / np.sqrt(N)
    assert abs(v.var() - 1) < 5 * np.sqrt(2 / N)
    assert abs(stats.skew(v)) < 5 * np.sqrt(6 / N)
    assert abs(stats.kurtosis(v)) < 5 * np.sqrt(24 / N)
    assert stats.kstest(v, "norm").pvalue > 1e-4
    edges = stats.norm.ppf(np.linspace(0, 1, 65)[1:-1])
    counts = np.bincount(np.searchsorted(edges, v), minlength=64)
    chi = ((counts - N / 64) ** 2 / (N / 64)).sum()
    assert stats.chi2.sf(chi, 63) > 1e-4
    # the tail beyond the ziggurat's base strip (r = 3.654) and beyond 3 sigma: binomial counts
    for t in (3.0, 3.7):
        p = 2 * stats.norm.sf(t)
        assert abs(np.mean(np.abs(v) > t) - p) < 5 * np.sqrt(p * (1 - p) / N)


def test_noise_independence(box):
    """Neighbours along every axis, the two halves of one hashed word (z even/odd pairs),
    another field and another seed: sample correlations within 5 SE of 0."""
    se = 1 / np.sqrt(N)
    for axis in range(3):
        a = np.moveaxis(box, axis, 0)
        assert abs(np.corrcoef(a[:-1].ravel(), a[1:].ravel())[0, 1]) < 5 * se
    # BOX starts at z = -7 (odd): local index 1 is an even lattice z, the first of a pair
    first, second = box[..., 1:-1:2], box[..., 2::2]
    assert abs(np.corrcoef(first.ravel(), second.ravel())[0, 1]) < 5 * np.sqrt(2) * se
    for other in (fast_noise_region(11, 1, *BOX), fast_noise_region(12, 0, *BOX), noise_region(11, 0, *BOX)):
        assert abs(np.corrcoef(box.ravel(), other.astype(np.float64).ravel())[0, 1]) < 5 * se


@pytest.mark.parametrize("lo, hi", [((0, 10, 0), (13, 29, 31)), ((0, 10, 1), (13, 29, 30)), ((5, 5, -7), (6, 6, -6))])
def test_noise_depends_only_on_position(box, lo, hi):
    sub = fast_noise_region(11, 0, lo, hi)
    ref = box[tuple(slice(l - b, h - b) for l, h, b in zip(lo, hi, BOX[0]))]
    assert np.array_equal(sub, ref.astype(np.float32))


def test_noise_range_checked():
    with pytest.raises(ValueError, match="lattice range"):
        fast_noise_region(1, 0, (0, 0, MAX_COORDINATE - 1), (1, 1, MAX_COORDINATE + 1))


@pytest.mark.parametrize("alphas", [(0.3, 0.5, 0.7), (0.13, 0.07, 3.29)])
def test_field_is_the_separable_correlation_of_its_noise(alphas):
    """Known answer: the fused kernel equals a float64 separable correlation (scipy.ndimage)
    of the same noise.  Float32 arithmetic over three passes of K_d taps, each tap pair one
    add, one multiply and one accumulate (<= 2 K_d roundings per pass, each relative to a
    partial value bounded by prod_d sum|g_d| * max|noise|): |error| <= 2 (Kx + Ky + Kz) *
    2^-24 * prod_d sum|g_d| * max|noise|."""
    g = [generator_kernel(a) for a in alphas]
    H = [len(k) // 2 for k in g]
    lo, hi = (-3, 5, 2), (20, 17, 31)
    out = np.zeros(tuple(b - a for a, b in zip(lo, hi)), np.float32)
    fast_field(4, 2, g, lo, hi, out=out)
    ref = fast_noise_region(4, 2, tuple(a - h for a, h in zip(lo, H)),
                            tuple(b + h for b, h in zip(hi, H))).astype(np.float64)
    bound = 2 * sum(len(k) for k in g) * 2.0 ** -24 * np.prod([np.abs(k).sum() for k in g]) * np.abs(ref).max()
    for axis in range(3):
        ref = ndimage.correlate1d(ref, g[axis], axis=axis, mode="constant")
    ref = ref[tuple(slice(h, r - h) for h, r in zip(H, ref.shape))]
    assert np.abs(ref - out).max() <= bound
    # square and accumulate
    acc = np.ones_like(out)
    fast_field(4, 2, g, lo, hi, out=acc, square=True)
    np.testing.assert_allclose(acc, 1 + out.astype(np.float64) ** 2, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("q", [1, 3, 5])
def test_lattice_common_random_numbers(q):
    """theta + 0.05 e_q with the same seed changes few voxels, another seed most: test_model_realize
    checks the default ("fast"), this the first release's "lattice"."""
    th = CALIBRATED["BM01"]
    a = realize(th, 32, seed=4, voxel_size=0.8, generator="lattice")
    step = np.zeros(7)
    step[q] = 0.05
    b = realize(th.from_sequence(th.to_array() + step), 32, seed=4, voxel_size=0.8, generator="lattice")
    other = realize(th, 32, seed=5, voxel_size=0.8, generator="lattice")
    assert 0 < np.mean(a != b) < 0.1 < 0.4 < np.mean(a != other)


def test_folded_spectral_synthesis_is_the_same_field():
    """"fast" sums each spectral field over m_x >= 0 with C_m + conj(C_-m) (half the work); the
    field is the unfolded ("point") one up to float32 rounding.  Both are sums of the same
    K = Kx Ky Kz complex terms, each of modulus |C_m| <= w(m) (|a_m| + |b_m|), accumulated in
    three complex64 passes (Kz, Ky, Kx terms; a complex multiply-add rounds <= 2 ulp of the
    running sum): |difference| <= 2 * 2 * (Kx + Ky + Kz) * 2^-24 * sum_m |C_m|."""
    from vmt_dask.model.noise import noise_region
    from vmt_dask.model.spectral import _STREAM, spectral_field, spectral_modes

    alphas, shape, lo, hi = (0.05, 0.03, 0.04), (64, 70, 80), (5, 7, 9), (35, 47, 59)
    plain, folded = np.zeros((30, 40, 50), np.float32), np.zeros((30, 40, 50), np.float32)
    spectral_field(3, 1, alphas, "point", shape, lo, hi, out=plain)
    spectral_field(3, 1, alphas, "point", shape, lo, hi, out=folded, fold=True)
    modes = [spectral_modes(a, n, "point") for a, n in zip(alphas, shape)]
    M = [m for _, m, _ in modes]
    w = modes[0][2][:, None, None] * modes[1][2][None, :, None] * modes[2][2][None, None, :]
    box = ((-M[0], -M[1], -M[2]), (M[0] + 1, M[1] + 1, M[2] + 1))
    amp = np.abs(noise_region(3, _STREAM + 2, *box)) + np.abs(noise_region(3, _STREAM + 3, *box))
    bound = 4 * sum(2 * m + 1 for m in M) * 2.0 ** -24 * float((w * amp).sum())
    assert np.abs(plain.astype(np.float64) - folded).max() <= bound
    assert np.abs(plain).max() > 100 * bound  # the check is not vacuous


def test_fast_smooth_fields_are_points_up_to_rounding():
    """With only smooth fields (alpha <= 0.05/voxel) "fast" and "point" synthesise the same
    fields (folded vs unfolded sums): the labels differ only where a field lies within
    rounding of a threshold."""
    smooth = CALIBRATED["BM01"].from_sequence([0.03, 0.04, 0.02, 0.05, 1.0, 1.9, -0.2])
    a = realize(smooth, 24, seed=2, generator="fast")
    b = realize(smooth, 24, seed=2, generator="point")
    assert np.mean(a != b) < 1e-3


def test_fast_realization_does_not_depend_on_the_tile_size():
    """Direct convolution computes every voxel by the same operations whatever tile it is in
    (the FFT convolution of "lattice" agrees across tile sizes only up to float32 rounding)."""
    th = CALIBRATED["BM01"]
    a = realize(th, (40, 33, 29), seed=2, tile=9, generator="fast", threads=1)
    assert np.array_equal(a, realize(th, (40, 33, 29), seed=2, tile=512, generator="fast", threads=1))
