"""The "fast" generator's Gaussian fields: cheap counter-based noise and fused direct convolution.

Same law as the "lattice" generator (point sampling; lattice correlation exp(-(alpha h)^2) at
integer lags, up to the kernel truncation of :func:`~vmt_dask.model.covariance.generator_kernel`),
other random numbers, several times less work per voxel (3-7x less CPU than "lattice" at
64^3-128^3, `python -m vmt_dask.bench generate`):

Noise
    One SplitMix64 finaliser (Steele, Lea and Flood 2014) per *pair* of voxels along z: the
    64-bit word ``mix(k0 + c * gamma)`` of the pair's lattice counter ``c`` (the SplitMix64
    stream of the field's key ``k0`` at position ``c``) gives two 32-bit words, one per voxel;
    each becomes a standard normal by a 256-layer ziggurat (Marsaglia and Tsang 2000: 8 bits
    layer, 1 bit sign, 23 bits abscissa; 98.8 % accepted on the first word).  Rejected words
    finish the ziggurat step (wedge or tail test) and retry with further words hashed from the
    voxel's own counter, so a value still depends only on (seed, field, position).  The
    "lattice" noise (:mod:`.noise`) hashes twice per voxel and draws 53-bit abscissae: float32
    fields do not need them.
Convolution
    Direct separable convolution with the symmetric lattice kernels (float32, fixed summation
    order, vectorised along z; the two taps of a symmetric pair share one multiply), fused
    with the noise: each x-plane of noise is hashed a row at a time, convolved along z, then along y, into one intermediate of (nx + 2 Hx, ny, nz) float32
    values; the x pass runs over y-rows (a row's 2 Hx + 1 planes stay in cache) and adds the
    field or its square to the output.  No FFT, no noise volume.  Work per output voxel
    ~ Hz + Hy + Hx + 3 multiply-adds and as many adds, plus the noise of the halo.

Every output value is computed by the same sequence of float32 operations whatever the thread
count and whatever tile it belongs to, so realizations do not depend on threads or chunking.
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import numba
import numpy as np

from .noise import MAX_COORDINATE, _ziggurat_tables, field_key

__all__ = ["fast_noise_region", "fast_field", "numba_threads", "FAST_STREAM"]

#: Noise streams of the "fast" generator are field keys of ``FAST_STREAM + field`` (distinct
#: from the streams of "lattice" (``field``) and of the spectral coefficients (``1 << 24 + ...``)).
FAST_STREAM = 1 << 28

# Marsaglia and Tsang (2000), 256 layers (the tables of .noise): 8 bits layer, 1 bit sign,
# 23 bits abscissa per 32-bit word
_X256, _F256 = _ziggurat_tables(256)
_R256 = float(_X256[1])
_XS256 = _X256 / 8388608.0  # exact: a power of two
_OFF = 1 << 20


@numba.njit(inline="always")
def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True, nogil=True)
def _slow(u, state, half, k1, X, F, r):
    """Finish the ziggurat step of the rejected 32-bit word ``u`` and retry as needed.

    Extra words come from ``mix(state ^ k1 + j * gamma)`` with j counting up from a start that
    differs between the two halves of the pair, so each voxel's extra words are its own.
    """
    j = np.uint64(1) + np.uint64(half) * np.uint64(1 << 31)
    while True:
        i = np.int64(u & np.uint32(255))
        neg = (u >> np.uint32(8)) & np.uint32(1)
        x = np.float64(u >> np.uint32(9)) * (1.0 / 8388608.0) * X[i]
        if x < X[i + 1]:
            return -x if neg else x
        if i == 0:  # the tail beyond r (Marsaglia 1964)
            while True:
                w1 = _mix((state ^ k1) + j * np.uint64(0x9E3779B97F4A7C15))
                j += np.uint64(1)
                u1 = (np.float64(np.int64(w1 >> np.uint64(11))) + 0.5) * (1.0 / 9007199254740992.0)
                w2 = _mix((state ^ k1) + j * np.uint64(0x9E3779B97F4A7C15))
                j += np.uint64(1)
                u2 = (np.float64(np.int64(w2 >> np.uint64(11))) + 0.5) * (1.0 / 9007199254740992.0)
                a = -math.log(u1) / r
                if -2.0 * math.log(u2) > a * a:
                    return -(r + a) if neg else r + a
        w = _mix((state ^ k1) + j * np.uint64(0x9E3779B97F4A7C15))
        j += np.uint64(1)
        y = (np.float64(np.int64(w >> np.uint64(11))) + 0.5) * (1.0 / 9007199254740992.0)
        if F[i] + y * (F[i + 1] - F[i]) < math.exp(-0.5 * x * x):  # the wedge
            return -x if neg else x
        w = _mix((state ^ k1) + j * np.uint64(0x9E3779B97F4A7C15))
        j += np.uint64(1)
        u = np.uint32(w & np.uint64(0xFFFFFFFF))


@numba.njit(inline="always")
def _word(k0, cxy, zo):
    """The 64-bit word of the pair holding offset coordinate ``zo`` and its SplitMix state."""
    state = k0 + (cxy | np.uint64(zo >> 1)) * np.uint64(0x9E3779B97F4A7C15)
    return _mix(state), state


@numba.njit(inline="always")
def _first(u, Xs, X):
    """First ziggurat attempt on the 32-bit word ``u`` (int64): the normal, or NaN if it is
    rejected.  Branch-free (vectorisable); ``Xs = X / 2^23``."""
    i = u & 255
    x = np.float64(u >> 9) * Xs[i]
    s = np.float64(1 - ((u >> 7) & 2))  # bit 8: the sign
    return np.float32(s * x) if x < X[i + 1] else np.float32(np.nan)


@numba.njit(inline="always")
def _fill_row(row, cxy, z0, k0, k1, Xs, X, F, r):
    """row[k] = noise at z = z0 + k of the lattice line whose counter bits above z are ``cxy``.

    A fast pass takes the first ziggurat attempt of every voxel (NaN where it is rejected,
    ~1.2 %); a second pass completes the rejected ones, so the common path has no call.
    """
    n = row.shape[0]
    zo = z0 + _OFF
    k = 0
    if zo & 1 and n > 0:  # the row starts at the odd half of a pair
        w, state = _word(k0, cxy, zo)
        row[0] = _first(np.int64(w >> np.uint64(32)), Xs, X)
        k = 1
    npairs = (n - k) // 2
    # the pair counters are consecutive (z occupies the low bits of the counter, so | is +):
    # a linear induction, which keeps this loop vectorisable
    base = k0 + (cxy | np.uint64((zo + k) >> 1)) * np.uint64(0x9E3779B97F4A7C15)
    for q in range(npairs):
        w = _mix(base + np.uint64(q) * np.uint64(0x9E3779B97F4A7C15))
        row[k + 2 * q] = _first(np.int64(w & np.uint64(0xFFFFFFFF)), Xs, X)
        row[k + 2 * q + 1] = _first(np.int64(w >> np.uint64(32)), Xs, X)
    k += 2 * npairs
    if k < n:
        w, state = _word(k0, cxy, zo + k)
        row[k] = _first(np.int64(w & np.uint64(0xFFFFFFFF)), Xs, X)
    bad = 0
    for k in range(n):
        bad += row[k] != row[k]
    if bad:
        for k in range(n):
            if row[k] != row[k]:
                half = (zo + k) & 1
                w, state = _word(k0, cxy, zo + k)
                u = np.uint32((w >> np.uint64(32 * half)) & np.uint64(0xFFFFFFFF))
                row[k] = np.float32(_slow(u, state, half, k1, X, F, r))


@numba.njit(inline="always")
def _counter_xy(x, y):
    return (np.uint64(x + _OFF) << np.uint64(42)) | (np.uint64(y + _OFF) << np.uint64(21))


@numba.njit(cache=True, nogil=True)
def _noise_box(out, k0, k1, x0, y0, z0, Xs, X, F, r):
    """Serial (tests and benchmarks; the fields hash their noise inside their threaded passes)."""
    nx, ny, nz = out.shape
    for i in range(nx):
        for j in range(ny):
            _fill_row(out[i, j], _counter_xy(x0 + i, y0 + j), z0, k0, k1, Xs, X, F, r)


def fast_noise_region(seed: int, field: int, lo, hi) -> np.ndarray:
    """Standard normal float32 noise of the "fast" generator on the lattice box [lo, hi).

    Values depend only on (seed, field, lattice position); ``lo`` may be negative, every
    coordinate within +-``MAX_COORDINATE``.  Raises ValueError for a box outside that range.
    """
    if any(lo_ < -MAX_COORDINATE or hi_ > MAX_COORDINATE for lo_, hi_ in zip(lo, hi)):
        raise ValueError(f"box [{lo}, {hi}) exceeds the lattice range +-{MAX_COORDINATE}")
    out = np.empty(tuple(int(h - l) for l, h in zip(lo, hi)), dtype=np.float32)
    k0, k1 = field_key(seed, FAST_STREAM + field)
    _noise_box(out, k0, k1, np.int64(lo[0]), np.int64(lo[1]), np.int64(lo[2]), _XS256, _X256, _F256, _R256)
    return out


@numba.njit(inline="always")
def _acc4(acc, l0, h0, l1, h1, l2, h2, l3, h3, w0, w1, w2, w3):
    """acc += four symmetric tap pairs, summed in registers before one accumulate (fewer loads
    and stores of ``acc`` than four single-pair passes)."""
    for k in range(acc.shape[0]):
        acc[k] += (w0 * (l0[k] + h0[k]) + w1 * (l1[k] + h1[k])) + (w2 * (l2[k] + h2[k]) + w3 * (l3[k] + h3[k]))


@numba.njit(inline="always")
def _acc1(acc, lo_, hi_, w):
    for k in range(acc.shape[0]):
        acc[k] += w * (lo_[k] + hi_[k])


@numba.njit(cache=True, nogil=True)
def _fast_planes(k0, k1, x0, y0, z0, gx, gy, gz, Xs, X, F, r, inter, p0, p1):
    """Pass 1 for the x-planes p0 <= p < p1 of ``inter`` (float32 scratch of shape
    (nx + 2 Hx, ny, nz)): hash each noise row of the plane, convolve it along z; then convolve
    the plane along y.  The kernels are symmetric: tap t and 2H - t share a weight, so each pair
    costs one multiply (w (a + b)), the centre tap last."""
    _, ny, nz = inter.shape
    Kx, Ky, Kz = gx.shape[0], gy.shape[0], gz.shape[0]
    Hx, Hy, Hz = Kx // 2, Ky // 2, Kz // 2
    Ly, Lz = ny + 2 * Hy, nz + 2 * Hz
    row = np.empty(Lz, dtype=np.float32)
    a = np.empty((Ly, nz), dtype=np.float32)
    for p in range(p0, p1):
        for j in range(Ly):
            _fill_row(row, _counter_xy(x0 - Hx + p, y0 - Hy + j), z0 - Hz, k0, k1, Xs, X, F, r)
            aj = a[j]
            w = gz[Hz]
            ce = row[Hz:Hz + nz]  # views with non-negative indices: the loops vectorise
            for k in range(nz):
                aj[k] = w * ce[k]
            t = 0
            while t + 4 <= Hz:
                e = Kz - 1 - t
                _acc4(aj, row[t:t + nz], row[e:e + nz], row[t + 1:t + 1 + nz], row[e - 1:e - 1 + nz],
                      row[t + 2:t + 2 + nz], row[e - 2:e - 2 + nz], row[t + 3:t + 3 + nz], row[e - 3:e - 3 + nz],
                      gz[t], gz[t + 1], gz[t + 2], gz[t + 3])
                t += 4
            while t < Hz:
                e = Kz - 1 - t
                _acc1(aj, row[t:t + nz], row[e:e + nz], gz[t])
                t += 1
        plane = inter[p]
        for j in range(ny):
            pj = plane[j]
            w = gy[Hy]
            ac = a[j + Hy]
            for k in range(nz):
                pj[k] = w * ac[k]
            t = 0
            while t + 4 <= Hy:
                e = j + Ky - 1 - t
                _acc4(pj, a[j + t], a[e], a[j + t + 1], a[e - 1], a[j + t + 2], a[e - 2], a[j + t + 3], a[e - 3],
                      gy[t], gy[t + 1], gy[t + 2], gy[t + 3])
                t += 4
            while t < Hy:
                _acc1(pj, a[j + t], a[j + Ky - 1 - t], gy[t])
                t += 1


@numba.njit(cache=True, nogil=True)
def _fast_columns(out, square, gx, inter, j0, j1):
    """Pass 2 for the y-rows j0 <= j < j1: convolve along x (the row's Lx planes stay in cache)
    and add the field (``square``: its square) to ``out``."""
    nx, ny, nz = out.shape
    Kx = gx.shape[0]
    Hx = Kx // 2
    f = np.empty(nz, dtype=np.float32)
    for j in range(j0, j1):
        for i in range(nx):
            w = gx[Hx]
            src = inter[i + Hx, j]
            for k in range(nz):
                f[k] = w * src[k]
            t = 0
            while t + 4 <= Hx:
                e = i + Kx - 1 - t
                _acc4(f, inter[i + t, j], inter[e, j], inter[i + t + 1, j], inter[e - 1, j],
                      inter[i + t + 2, j], inter[e - 2, j], inter[i + t + 3, j], inter[e - 3, j],
                      gx[t], gx[t + 1], gx[t + 2], gx[t + 3])
                t += 4
            while t < Hx:
                _acc1(f, inter[i + t, j], inter[i + Kx - 1 - t, j], gx[t])
                t += 1
            o = out[i, j]
            if square:
                for k in range(nz):
                    o[k] += f[k] * f[k]
            else:
                for k in range(nz):
                    o[k] += f[k]


def fast_field(seed: int, field: int, kernels, lo, hi, *, out: np.ndarray, square: bool = False,
               threads: int | None = None, scratch: "dict | None" = None) -> np.ndarray:
    """Add the unit-variance Gaussian field ``field`` (or its square) on the box [lo, hi) to ``out``.

    Parameters
    ----------
    seed, field : int
        Identify the noise (:func:`fast_noise_region`).
    kernels : three 1-D float64 arrays
        Symmetric odd-length kernels along x, y, z
        (:func:`~vmt_dask.model.covariance.generator_kernel`); cast to float32.
    lo, hi : three ints
        The box in lattice coordinates.
    out : float32 C-contiguous array of the box's shape, modified in place and returned.
    threads : int, optional
        Threads for this call (default: ``numba.get_num_threads()``, which :func:`numba_threads`
        sets); the values do not depend on it.
    scratch : dict, optional
        Keeps the intermediate buffer ((nx + 2 Hx) ny nz float32 values) between calls, so the
        fields of one realization share one allocation (no fresh page faults per field); the
        values do not depend on it.
    """
    k0, k1, g, inter = direct_setup(seed, FAST_STREAM + field, kernels, lo, hi, out, scratch)
    n = numba.get_num_threads() if threads is None else max(1, int(threads))
    split_run(_fast_planes, inter.shape[0], n, k0, k1, np.int64(lo[0]), np.int64(lo[1]), np.int64(lo[2]),
              g[0], g[1], g[2], _XS256, _X256, _F256, _R256, inter)
    split_run(_fast_columns, out.shape[1], n, out, bool(square), g[0], inter)
    return out


def direct_setup(seed, stream, kernels, lo, hi, out, scratch):
    """What a direct-convolution field call needs, shared by "fast" and "simd": the noise key
    of ``stream``, the kernels as float32, and the intermediate buffer of shape
    (nx + 2 Hx, ny, nz) (kept in ``scratch["inter"]`` between calls when given).

    Raises ValueError if the box [lo, hi) with its halo leaves the lattice range
    +-``MAX_COORDINATE``.
    """
    k0, k1 = field_key(seed, stream)
    g = [np.ascontiguousarray(k, dtype=np.float32) for k in kernels]
    for l, h, k in zip(lo, hi, g):
        H = len(k) // 2
        if l - H < -MAX_COORDINATE or h + H > MAX_COORDINATE:
            raise ValueError(f"box [{lo}, {hi}) exceeds the lattice range +-{MAX_COORDINATE}")
    nx, ny, nz = out.shape
    shape = (nx + 2 * (len(g[0]) // 2), ny, nz)
    need = shape[0] * ny * nz
    buf = None if scratch is None else scratch.get("inter")
    if buf is None or buf.size < need:
        buf = np.empty(need, dtype=np.float32)
        if scratch is not None:
            scratch["inter"] = buf
    return k0, k1, g, buf[:need].reshape(shape)


@contextmanager
def numba_threads(threads: int | None):
    """Run numba's parallel kernels with ``threads`` threads inside the block (None: unchanged).

    numba's thread count is per calling thread, so concurrent callers do not interfere.
    """
    if threads is None:
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def split_run(fn, n: int, threads: int, *args) -> None:
    """Run ``fn(*args, a, b)`` over [0, n) in chunks on ``threads`` threads (the kernels release
    the GIL; ~4 chunks per thread, taken in order as threads come free, so a thread slowed by
    other load takes fewer).  Plain threads instead of numba's ``prange`` (used by the "simd"
    fields and the spectral synthesis): the same values when each value is computed by one call
    whatever the split, and the kernels compile in a fraction of the time (a prange version of
    simd's field kernel: 14.9 vs 6.7 CPU s on a cold cache)."""
    if threads <= 1 or n < 2:
        fn(*args, 0, n)
        return
    from concurrent.futures import ThreadPoolExecutor

    step = -(-n // (4 * threads))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for f in [pool.submit(fn, *args, a, min(n, a + step)) for a in range(0, n, step)]:
            f.result()
