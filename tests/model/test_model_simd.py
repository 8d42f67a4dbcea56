"""The "simd" generator: the law of its noise, its FMA direct convolution, and that it realizes
the model of "lattice" and "fast" (point sampling, lattice correlation exp(-(alpha h)^2))."""
import math

import numba
import numpy as np
import pytest
from scipy import ndimage, stats

from vmt_dask.model import AM, CALIBRATED, SE, Theta, generator_kernel, realize
from vmt_dask.model.fast import fast_noise_region
from vmt_dask.model.noise import MAX_COORDINATE
from vmt_dask.model.realize import field_ids
from vmt_dask.model.simd import NOISE_LAW_BOUND, _fma, _ln, _normal_pair, simd_field, simd_noise_region


BOX = ((-20, 3, -7), (108, 131, 121))  # 128^3 values; z starts inside a 16-block (offset 2^20 - 7)
N = 128 ** 3


@pytest.fixture(scope="module")
def box():
    return simd_noise_region(11, 0, *BOX).astype(np.float64)


def test_noise_law(box):
    """Moments within 5 standard errors of N(0, 1) (SE of the mean 1/sqrt(N), of the variance
    sqrt(2/N), skewness sqrt(6/N), excess kurtosis sqrt(24/N)); Kolmogorov-Smirnov distance below
    the asymptotic critical value at level 1e-4, P(sqrt(N) D > x) ~ 2 exp(-2 x^2), x = 2.23;
    Anderson-Darling below its 1 % critical value; tail counts beyond 3 and 4 sigma within
    5 binomial SEs.  The generator's own law error (NOISE_LAW_BOUND, derived in the module) is
    far below what N values can see."""
    v = box.ravel()
    assert np.isfinite(v).all()
    assert abs(v.mean()) < 5 / math.sqrt(N)
    assert abs(v.var() - 1) < 5 * math.sqrt(2 / N)
    assert abs(stats.skew(v)) < 5 * math.sqrt(6 / N)
    assert abs(stats.kurtosis(v)) < 5 * math.sqrt(24 / N)
    crit = math.sqrt(math.log(2 / 1e-4) / 2) / math.sqrt(N)
    assert NOISE_LAW_BOUND < crit / 100
    assert stats.kstest(v, "norm").statistic < crit
    # Anderson-Darling for the fully specified N(0, 1) (Stephens 1974, case 0): asymptotic
    # 1 % critical value 3.857
    x = np.sort(v[:200_000])
    n = x.size
    i = np.arange(1, n + 1)
    a2 = -n - np.mean((2 * i - 1) * (stats.norm.logcdf(x) + stats.norm.logsf(x[::-1])))
    assert a2 < 3.857
    for t in (3.0, 4.0):
        p = 2 * stats.norm.sf(t)
        assert abs(np.mean(np.abs(v) > t) - p) < 5 * math.sqrt(p * (1 - p) / N)


def test_noise_independence(box):
    """Sample correlations within 5 SE (1/sqrt(n)) of 0: lag-1 neighbours along every axis, the two
    members of a Box-Muller pair (z and z + 8 in an aligned block of 16) and their squares (a
    shared radius would correlate the squares: for an independent pair corr(x^2, y^2) = 0),
    another field, another seed and the "fast" noise of the same position."""
    for axis in range(3):
        a = np.moveaxis(box, axis, 0)
        n = a[:-1].size
        assert abs(np.corrcoef(a[:-1].ravel(), a[1:].ravel())[0, 1]) < 5 / math.sqrt(n)
    # lattice z of local index k is k - 7; offset coordinate k - 7 + 2^20, aligned blocks of 16
    # start where (k - 7) % 16 == 0, i.e. k = 7, 23, ...
    k = np.arange(box.shape[2] - 16)
    first = k[((k - 7) % 16) < 8]
    a, b = box[..., first].ravel(), box[..., first + 8].ravel()
    se = 1 / math.sqrt(a.size)
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 * se
    assert abs(np.corrcoef(a * a, b * b)[0, 1]) < 5 * se
    for other in (simd_noise_region(11, 1, *BOX), simd_noise_region(12, 0, *BOX), fast_noise_region(11, 0, *BOX)):
        assert abs(np.corrcoef(box.ravel(), other.astype(np.float64).ravel())[0, 1]) < 5 / math.sqrt(N)


@pytest.mark.parametrize("lo, hi", [((0, 10, 0), (13, 29, 31)), ((0, 10, 1), (13, 29, 30)), ((5, 5, -7), (6, 6, -6)),
                                    ((3, 4, 9), (4, 5, 10))])
def test_noise_depends_only_on_position(box, lo, hi):
    sub = simd_noise_region(11, 0, lo, hi)
    ref = box[tuple(slice(l - b, h - b) for l, h, b in zip(lo, hi, BOX[0]))]
    assert np.array_equal(sub, ref.astype(np.float32))


def test_noise_range_checked():
    with pytest.raises(ValueError, match="lattice range"):
        simd_noise_region(1, 0, (0, 0, MAX_COORDINATE - 1), (1, 1, MAX_COORDINATE + 1))


@numba.njit
def _ln_all(x, out):
    for i in range(x.shape[0]):
        out[i] = _ln(x[i])


@numba.njit
def _pairs_all(w1, w2, a, b):
    for i in range(w1.shape[0]):
        a[i], b[i] = _normal_pair(w1[i], w2[i])


def test_frozen_log_coefficients_are_the_fit():
    """The generator's ln coefficients are literals (its bits must not follow the local LAPACK);
    a refit here rounds to them to within one float32 ulp (a different LAPACK may move the
    float64 least-squares solution by a few float64 ulps, far below half a float32 ulp except at
    a rounding tie)."""
    from vmt_dask.model import simd

    fit = np.array(simd._log_coefficients(), np.float32)
    frozen = np.array(simd._LC, np.float32)
    assert np.all(np.abs(fit - frozen) <= np.spacing(np.abs(frozen)))


def test_polynomials():
    """ln on float32 inputs over (2^-32, 1]: the fit (5e-9) plus float32 evaluation (a few ulp of
    the result, ~2^-24 |ln x| + 2^-24 for the mantissa part) -> |error| <= 1e-7 + 4 * 2^-24 |ln x|.
    The pair: x^2 + y^2 = -2 ln U with U the float32 grid value, and the angle uniform: checked
    on every quadrant against float64 from the same words."""
    x = np.concatenate([np.geomspace(2.0 ** -32, 1.0, 200_001), 1 - np.geomspace(2.0 ** -24, 0.5, 10_001)])
    x = x.astype(np.float32)
    out = np.empty_like(x)
    _ln_all(x, out)
    ref = np.log(x.astype(np.float64))
    assert np.all(np.abs(out - ref) <= 1e-7 + 4 * 2.0 ** -24 * np.abs(ref))
    rng = np.random.default_rng(5)
    w1 = rng.integers(0, 2 ** 32, 100_000, dtype=np.uint64).astype(np.uint32)
    w2 = rng.integers(0, 2 ** 32, 100_000, dtype=np.uint64).astype(np.uint32)
    a, b = np.empty(w1.size, np.float32), np.empty(w1.size, np.float32)
    _pairs_all(w1, w2, a, b)
    u = (w1 >> 1).astype(np.float32).astype(np.float64) * 2.0 ** -31 + 2.0 ** -32
    r = np.sqrt(np.maximum(-2 * np.log(u), 0))
    t = ((w2 >> 7) & 0x7FFFFF).astype(np.float64) * 2.0 ** -22 + 2.0 ** -23 - 1
    theta = (w2 >> 30) * (np.pi / 2) + np.pi / 4 * t
    # float32 r (relative ~4 ulp, plus the ln error carried through the square root)
    tol = 1e-6 * r + 1e-7 / np.maximum(r, 1e-3)
    assert np.all(np.abs(a - r * np.cos(theta)) <= tol + 1e-7)
    assert np.all(np.abs(b - r * np.sin(theta)) <= tol + 1e-7)


@pytest.mark.parametrize("alphas", [(0.3, 0.5, 0.7), (0.13, 0.07, 3.29)])
def test_field_is_the_separable_correlation_of_its_noise(alphas):
    """Known answer: the fused FMA kernel equals a float64 separable correlation (scipy.ndimage)
    of the same noise.  Per pass and tap pair one add and one fused multiply-add (2 roundings,
    each relative to a partial value bounded by prod_d sum|g_d| * max|noise|), K_d taps per pass:
    |error| <= 2 (Kx + Ky + Kz) * 2^-24 * prod_d sum|g_d| * max|noise|.  Odd box sizes exercise
    the blocks of four rows and their remainders."""
    g = [generator_kernel(a, "simd") for a in alphas]
    H = [len(k) // 2 for k in g]
    lo, hi = (-3, 5, 2), (20, 18, 31)
    out = np.zeros(tuple(b - a for a, b in zip(lo, hi)), np.float32)
    simd_field(4, 2, g, lo, hi, out=out)
    ref = simd_noise_region(4, 2, tuple(a - h for a, h in zip(lo, H)),
                            tuple(b + h for b, h in zip(hi, H))).astype(np.float64)
    bound = 2 * sum(len(k) for k in g) * 2.0 ** -24 * np.prod([np.abs(k).sum() for k in g]) * np.abs(ref).max()
    for axis in range(3):
        ref = ndimage.correlate1d(ref, g[axis], axis=axis, mode="constant")
    ref = ref[tuple(slice(h, r - h) for h, r in zip(H, ref.shape))]
    assert np.abs(ref - out).max() <= bound
    acc = np.ones_like(out)
    simd_field(4, 2, g, lo, hi, out=acc, square=True)
    np.testing.assert_allclose(acc, 1 + out.astype(np.float64) ** 2, rtol=1e-6, atol=1e-6)


@numba.njit
def _pass_reference(src, g, axis):
    """The documented per-value sequence, plainly: acc = g_H c, then acc = fma(g_t, lo + hi, acc)
    for t = 0 .. H - 1 (float32; the fma is simd's exact one) along ``axis`` (valid part only)."""
    H = g.shape[0] // 2
    shape = list(src.shape)
    shape[axis] -= 2 * H
    out = np.empty((shape[0], shape[1], shape[2]), np.float32)
    for i in range(shape[0]):
        for j in range(shape[1]):
            for k in range(shape[2]):
                idx = [i, j, k]
                idx[axis] += H
                acc = g[H] * src[idx[0], idx[1], idx[2]]
                for t in range(H):
                    lo = [i, j, k]
                    hi = [i, j, k]
                    lo[axis] += t
                    hi[axis] += 2 * H - t
                    acc = _fma(g[t], src[lo[0], lo[1], lo[2]] + src[hi[0], hi[1], hi[2]], acc)
                out[i, j, k] = acc
    return out


@pytest.mark.parametrize("alphas, shape", [((0.3, 0.13, 0.07), (9, 11, 77)), ((0.7, 3.29, 0.2), (6, 5, 41)),
                                           ((3.29, 0.26, 0.9), (11, 9, 3))])
def test_vector_kernels_equal_the_plain_sequence(alphas, shape):
    """Bit for bit: the vector kernels (z pass in blocks of 32, 8 and single values; y and x
    passes four rows at a time with the register window, then the remaining rows) against plain
    loops of the same float32 operations on the same noise, for kernel half-widths 0 .. 31
    (H mod 4 = 0..3) and row lengths with every kind of remainder."""
    g = [np.asarray(generator_kernel(a, "simd"), np.float32) for a in alphas]
    H = [len(k) // 2 for k in g]
    lo = (-2, 3, 5)
    hi = tuple(a + n for a, n in zip(lo, shape))
    noise = simd_noise_region(9, 4, tuple(a - h for a, h in zip(lo, H)), tuple(b + h for b, h in zip(hi, H)))
    f = noise
    for axis in (2, 1, 0):
        f = _pass_reference(f, g[axis], axis)
    base = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    out = base.copy()
    simd_field(9, 4, [generator_kernel(a, "simd") for a in alphas], lo, hi, out=out)
    assert np.array_equal(out, base + f)
    out = base.copy()
    simd_field(9, 4, [generator_kernel(a, "simd") for a in alphas], lo, hi, out=out, square=True, threads=1)
    assert np.array_equal(out, base + f * f)
    # store=True: the square replaces whatever ``out`` held (NaN here), the bits of adding it to
    # zeros; one and two threads
    for threads in (1, 2):
        out = np.full(shape, np.nan, np.float32)
        simd_field(9, 4, [generator_kernel(a, "simd") for a in alphas], lo, hi, out=out, square=True,
                   threads=threads, store=True)
        assert np.array_equal(out, np.float32(0) + f * f)
    with pytest.raises(ValueError, match="store=True needs square=True"):
        simd_field(9, 4, [generator_kernel(a, "simd") for a in alphas], lo, hi, out=out, store=True)


def test_reused_sum_buffer_gives_the_same_realization(monkeypatch):
    """Tiles too large for the field cache reuse X's buffer for Y without a zero-fill (Y~'s first
    square is stored, not added): the same labels as the cached path, which adds to zeros."""
    import importlib

    mod = importlib.import_module("vmt_dask.model.realize")
    th = CALIBRATED["BM01"]
    shape = (21, 18, 27)  # x rows: 4 k + 1 (the remainder path of the x pass)
    mod.clear_field_cache()
    ref = realize(th, shape, seed=3, voxel_size=1.0, generator="simd", threads=1)
    monkeypatch.setattr(mod, "FIELD_CACHE_BYTES", 0)
    mod.release_buffers()  # the first realization below starts without pooled buffers
    calls = []
    real = mod.simd_field
    monkeypatch.setattr(mod, "simd_field", lambda *a, **k: calls.append(k.get("store", False)) or real(*a, **k))
    for threads in (1, 2):
        assert np.array_equal(realize(th, shape, seed=3, voxel_size=1.0, generator="simd", threads=threads), ref)
    # first realization: Y's first square (X's sum starts from np.zeros); second: X's and Y's
    # first squares (the sum buffer comes from the per-process pool, unzeroed)
    assert calls.count(True) == 3
    mod.release_buffers()


@pytest.mark.parametrize("generator", ["fast", "lattice"])
def test_store_request_on_a_path_that_adds_starts_from_zeros(generator):
    """Only simd's direct path can store a square: asked to store on a path that adds (another
    generator, or a spectral field), the field sum starts from zeros, not from the reused
    buffer's old values."""
    import importlib

    mod = importlib.import_module("vmt_dask.model.realize")
    th = CALIBRATED["BM01"]
    shape, lo, hi = (12, 10, 14), (0, 0, 0), (12, 10, 14)
    want = np.zeros(shape, np.float32)
    mod._one_field(5, 2, th.alpha_xt, th, 1.0, generator, shape, lo, hi, want, True, 1, {})
    got = np.full(shape, np.nan, np.float32)
    mod._one_field(5, 2, th.alpha_xt, th, 1.0, generator, shape, lo, hi, got, True, 1, {}, store=True)
    assert np.array_equal(got, want)


def _field64(seed, field, alphas, lo, hi):
    g = [generator_kernel(a, "simd") for a in alphas]
    H = [len(k) // 2 for k in g]
    f = simd_noise_region(seed, field, tuple(a - h for a, h in zip(lo, H)),
                          tuple(b + h for b, h in zip(hi, H))).astype(np.float64)
    amax = np.abs(f).max()
    for axis in range(3):
        f = ndimage.correlate1d(f, g[axis], axis=axis, mode="constant")
    f = f[tuple(slice(h, r - h) for h, r in zip(H, f.shape))]
    err = 2 * sum(len(k) for k in g) * 2.0 ** -24 * np.prod([np.abs(k).sum() for k in g]) * amax
    return f, err


def test_float32_threshold_flips_are_bounded():
    """float32 fields against float64 ones from the same noise: a label differs only where the
    float64 sum lies within the float32 error bound of its threshold.  Bound per voxel: each
    field's error e (test above), a square's |f^2 - F^2| <= e (2 |F| + e) + 2^-24 (|F| + e)^2, and
    the float32 sum of the three terms rounds twice more (2 * 2^-24 * the sum of magnitudes).
    Flips are bounded by the voxels in that band, and the band is thin: the densities of X and Y
    (chi-square(2) + N(0, 1)) are at most 1/2, so P(band) <= mean(bound_X) + mean(bound_Y); its
    count is checked against that expectation plus 5 Poisson SEs."""
    th = Theta(0.3, 0.5, 0.2, 0.7, 0.9, 1.87, -0.26)  # every field direct (alpha > 0.05 / voxel)
    shape = (24, 20, 28)
    lab = realize(th, shape, seed=3, generator="simd", threads=1)
    ids = field_ids(2)
    sums, bounds = [], []
    for sq, plain, a_sq, a_plain in ((ids["xt"], ids["x2"][0], th.alpha_xt, th.alpha_x),
                                     (ids["yt"], ids["y2"][0], th.alpha_yt, th.alpha_y)):
        total, mag, bound = 0.0, 0.0, 0.0
        for f in sq:
            F, e = _field64(3, f, (a_sq, a_sq, a_sq / th.a), (0, 0, 0), shape)
            total = total + F * F
            mag = mag + F * F
            bound = bound + e * (2 * np.abs(F) + e) + 2.0 ** -24 * (np.abs(F) + e) ** 2
        F, e = _field64(3, plain, (a_plain, a_plain, a_plain / th.a), (0, 0, 0), shape)
        total, mag, bound = total + F, mag + np.abs(F), bound + e
        sums.append(total)
        bounds.append(bound + 2 * 2.0 ** -24 * mag)
    X, Y = sums
    ref = np.where(X >= th.lambda_x, SE, np.where(Y >= th.lambda_y, AM, 0)).astype(np.uint8)
    near = (np.abs(X - th.lambda_x) <= bounds[0]) | (np.abs(Y - th.lambda_y) <= bounds[1])
    assert np.all(near[lab != ref])
    expected = lab.size * (bounds[0].mean() + bounds[1].mean())
    assert np.count_nonzero(near) <= expected + 5 * math.sqrt(expected)
    assert np.mean(lab == SE) > 0.05 and np.mean(lab == AM) > 0.05  # not a degenerate case
