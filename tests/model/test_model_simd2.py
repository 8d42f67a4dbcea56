"""The "simd2" generator: "simd"'s model and convolution with a one-round noise hash and the
spectral fields' x pass as a register-blocked matrix product (another summation order): the law
of its noise, the matrix product against float64, its independence of threads and tiles, and its
pinned bits.  The noise law tests of test_model_simd run here again on simd2's noise (imported
below; pytest collects them in this module with this module's ``box`` fixture)."""
import math

import numpy as np
import pytest

from vmt_dask.model import CALIBRATED, generator_kernel, realize
from vmt_dask.model.simd import gemm_x_rows, simd_field, simd_noise_region
from vmt_dask.model.spectral import spectral_field

from .test_model_simd import BOX, N
from .test_model_simd import test_noise_law as test_simd2_noise_law  # noqa: F401 (collected here)


@pytest.fixture(scope="module")
def box():
    return simd_noise_region(11, 0, *BOX, generator="simd2").astype(np.float64)


def test_simd2_noise_independence(box):
    """As test_model_simd's: lag-1 neighbours along every axis, the two members of a Box-Muller
    pair (z and z + 8 in an aligned block of 16: with one hash round their words come from
    inputs that differ in one bit) and their squares, within 5 SE (1/sqrt(n)) of 0; and no
    correlation with simd's noise of the same seed and field, nor with another field's."""
    for axis in range(3):
        a = np.moveaxis(box, axis, 0)
        for lag in (1, 8):
            n = a[:-lag].size
            assert abs(np.corrcoef(a[:-lag].ravel(), a[lag:].ravel())[0, 1]) < 5 / math.sqrt(n)
    k = np.arange(box.shape[2] - 16)
    first = k[((k - 7) % 16) < 8]
    a, b = box[..., first].ravel(), box[..., first + 8].ravel()
    se = 1 / math.sqrt(a.size)
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 * se
    assert abs(np.corrcoef(a * a, b * b)[0, 1]) < 5 * se
    for other in (simd_noise_region(11, 0, *BOX), simd_noise_region(11, 1, *BOX, generator="simd2")):
        assert abs(np.corrcoef(box.ravel(), other.astype(np.float64).ravel())[0, 1]) < 5 / math.sqrt(N)


def _shared_values_per_row_pair(rows):
    """(number of equal adjacent values from distinct rows after sorting, counts of shared
    values per row pair) for a (rows, L) float32 array: the values' bits and row index as one
    uint64 key, sorted."""
    L = rows.shape[1]
    row = np.arange(rows.size, dtype=np.uint64) // np.uint64(L)
    key = np.sort((rows.ravel().view(np.uint32).astype(np.uint64) << np.uint64(32)) | row)
    v, r = key >> np.uint64(32), key & np.uint64(0xFFFFFFFF)
    eq = np.flatnonzero((v[1:] == v[:-1]) & (r[1:] != r[:-1]))
    _, counts = np.unique(r[eq] * np.uint64(rows.shape[0]) + r[eq + 1], return_counts=True)
    return eq.size, counts


@pytest.mark.parametrize("generator", ["simd", "simd2"])
def test_rows_do_not_share_noise_values(generator):
    """No two noise rows (of one field, or of two fields of one seed) share more than chance
    allows.  simd2's first word, L(c ^ r0), hashed the same inputs in every pair of rows whose
    keys differ only in the 9 low bits (one pair in 2^23: 2045 pairs at 401^3's 432^2 rows),
    which then held the same values, permuted (352-432 of 432 here).

    The chance rate: two independent N(0, 1) values rounded to float32 are equal with
    probability q = sum_x P(x)^2 ~ int phi(x)^2 ulp(x) dx <= 2^-23 int phi^2 |x| dx = 2^-23 / (2 pi)
    (ulp(x) <= 2^-23 |x|), plus 2^-32 for equal words.  A row pair (L values each) then shares
    Poisson(lam = L^2 q) values; over P row pairs the expected number of pairs sharing k or
    more is ~ P lam^k / k! (lam << 1): k is the least with that < 1e-3 (k = 4 here).  The total
    number of coincidences is at most its mean M^2 / 2 q (M values) plus 5 Poisson SE.  Rows
    at 401^3's length (432 with the halo), 16384 rows, 1.3e8 row pairs, k = 4: the first simd2
    failed here with 6 row pairs sharing 4 or more values (up to 420); simd and the fixed
    simd2 share at most 3 (one pair each).
    """
    L = 432
    rows = np.concatenate([
        simd_noise_region(3, 0, (0, 0, 0), (128, 96, L), generator=generator).reshape(-1, L),
        simd_noise_region(3, 1, (0, 0, 0), (64, 64, L), generator=generator).reshape(-1, L)])
    total, counts = _shared_values_per_row_pair(rows)
    q = 2.0 ** -23 / (2 * math.pi) + 2.0 ** -32
    n_rows = rows.shape[0]
    pairs, lam = n_rows * (n_rows - 1) / 2, L * L * q
    k = next(k for k in range(1, 50) if pairs * lam ** k / math.factorial(k) < 1e-3)
    assert counts.max() < k, (generator, int(counts.max()), int((counts >= k).sum()), k)
    mean = rows.size ** 2 / 2 * q
    assert total <= mean + 5 * math.sqrt(mean), (generator, total, mean)


def test_simd2_noise_depends_only_on_position(box):
    lo, hi = (0, 10, 1), (13, 29, 30)
    sub = simd_noise_region(11, 0, lo, hi, generator="simd2")
    assert np.array_equal(sub, box[tuple(slice(l - b, h - b) for l, h, b in zip(lo, hi, BOX[0]))].astype(np.float32))
    with pytest.raises(ValueError, match="generator"):
        simd_noise_region(11, 0, lo, hi, generator="fast")


def test_simd2_field_is_the_separable_correlation_of_its_noise():
    """The convolution is simd's (its own tests): here only that simd2's field is its own noise
    convolved, to the float32 bound of test_model_simd (2 (Kx + Ky + Kz) 2^-24 prod sum|g| max|n|)."""
    from scipy import ndimage

    alphas = (0.3, 0.5, 0.7)
    g = [generator_kernel(a, "simd2") for a in alphas]
    H = [len(k) // 2 for k in g]
    lo, hi = (-3, 5, 2), (20, 18, 31)
    out = np.zeros(tuple(b - a for a, b in zip(lo, hi)), np.float32)
    simd_field(4, 2, g, lo, hi, out=out, generator="simd2")
    ref = simd_noise_region(4, 2, tuple(a - h for a, h in zip(lo, H)), tuple(b + h for b, h in zip(hi, H)),
                            generator="simd2").astype(np.float64)
    bound = 2 * sum(len(k) for k in g) * 2.0 ** -24 * np.prod([np.abs(k).sum() for k in g]) * np.abs(ref).max()
    for axis in range(3):
        ref = ndimage.correlate1d(ref, g[axis], axis=axis, mode="constant")
    ref = ref[tuple(slice(h, r - h) for h, r in zip(H, ref.shape))]
    assert np.abs(ref - out).max() <= bound


@pytest.mark.parametrize("nx, ny, nz, K", [(9, 3, 37, 40), (4, 2, 16, 1), (1, 1, 5, 3), (6, 4, 23, 7)])
def test_gemm_x_rows_against_float64(nx, ny, nz, K):
    """out += A @ G2 per y-row (or its square): against float64 within the bound of a K-term
    float32 FMA chain, |s - S| <= K 2^-24 sum_a |A G2| (each FMA rounds once, relative to a
    partial sum bounded by sum |A G2|), plus the final add's rounding (2^-24 |out|); squares:
    |s^2 - S^2| <= e (2 |S| + e) + 2^-24 s^2.  Row counts 4 k + r and lane counts 16 k + 8 + r
    exercise every block; each value's bits do not depend on the block it was computed in (the
    same rows shifted by one give the same bits)."""
    rng = np.random.default_rng(nx * 100 + nz)
    A = rng.standard_normal((nx, K)).astype(np.float32)
    G2 = rng.standard_normal((K, ny, nz)).astype(np.float32)
    S = np.einsum("xa,ayz->xyz", A.astype(np.float64), G2.astype(np.float64))
    mag = np.einsum("xa,ayz->xyz", np.abs(A).astype(np.float64), np.abs(G2).astype(np.float64))
    e = K * 2.0 ** -24 * mag
    base = rng.standard_normal((nx, ny, nz)).astype(np.float32)
    for square in (0, 1):
        out = base.copy()
        gemm_x_rows(A, G2, out, np.int64(square), 0, ny)
        want = base + (S * S if square else S)
        err = e * (2 * np.abs(S) + e) + 2.0 ** -24 * (np.abs(S) + e) ** 2 if square else e
        assert np.all(np.abs(out - want) <= err + 2.0 ** -24 * np.abs(want))
        if nx > 1:
            shifted = base[1:].copy()
            gemm_x_rows(np.ascontiguousarray(A[1:]), G2, shifted, np.int64(square), 0, ny)
            assert np.array_equal(shifted, out[1:])


def test_simd2_spectral_field_is_simd_s_up_to_rounding():
    """The same folded synthesis as simd's (the same coefficients and phases), summed in another
    order in the x pass: equal to float32 rounding (2 Kx terms: a few 1e-6 of the values'
    scale, 1e-5 allows the 40-term sums of this box), added to ``out``, and independent of the
    box the values are computed in (a sub-box gives the same bits)."""
    alphas, shape = (0.05, 0.03, 0.04), (64, 70, 80)
    lo, hi = (5, 7, 9), (35, 47, 59)
    T = tuple(h - l for l, h in zip(lo, hi))
    a, b = np.ones(T, np.float32), np.ones(T, np.float32)
    spectral_field(3, 1, alphas, "simd", shape, lo, hi, out=a, fold=True)
    spectral_field(3, 1, alphas, "simd2", shape, lo, hi, out=b, fold=True)
    assert np.abs(a - b).max() <= 1e-5 * np.abs(a - 1).max()
    sub = np.ones((10, 13, 50), np.float32)
    spectral_field(3, 1, alphas, "simd2", shape, (6, 7, 9), (16, 20, 59), out=sub, fold=True)
    assert np.array_equal(sub, b[1:11, :13])


def test_simd2_is_not_simd():
    """simd2 has simd's law and convolution but its own noise words (and, at 0.2 um, its own
    spectral x pass): the same seed gives another realization."""
    th = CALIBRATED["BM01"]
    a = realize(th, (40, 33, 29), seed=2, generator="simd2", threads=1)
    assert not np.array_equal(a, realize(th, (40, 33, 29), seed=2, generator="simd", threads=1))
