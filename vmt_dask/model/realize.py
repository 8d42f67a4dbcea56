"""Realizations of the three-phase model (paper Section 2.2) as uint8 label volumes."""
from __future__ import annotations

import itertools
import math
import numbers
import threading
from collections import OrderedDict
from typing import Sequence

import numba
import numpy as np

from ..errors import InputError
from .covariance import DEFAULT_GENERATOR, DIRECT_GENERATORS, check_generator, generator_kernel
from .fast import fast_field, numba_threads, split_run
from .fields import gaussian_field
from .simd import simd_field
from .kernels import axis_alphas
from .phases import AM, PORE, SE
from .spectral import spectral_field, uses_spectral
from .theta import Theta

__all__ = ["realize", "realize_region", "tile_edges", "field_ids", "DEFAULT_TILE"]

#: Largest tile edge (voxels).  The realization is computed tile by tile on a grid fixed by
#: the volume's shape, so any chunking reproduces it exactly; a tile needs ~14 bytes/voxel.
DEFAULT_TILE = 512


def field_ids(chi2_dof: int) -> dict[str, list[int]]:
    """Noise stream numbers of each Gaussian field: X'' = 0, Y'' = 1, X~_j = 2j, Y~_j = 2j + 1.

    Raising the chi-square degrees of freedom adds streams without changing existing ones.
    """
    return {
        "x2": [0], "y2": [1],
        "xt": [2 * j for j in range(1, chi2_dof + 1)],
        "yt": [2 * j + 1 for j in range(1, chi2_dof + 1)],
    }


def tile_edges(n: int, tile: int) -> list[int]:
    """Boundaries of the near-equal tiles that split an axis of length ``n``."""
    k = -(-n // tile)
    return [(i * n) // k for i in range(k + 1)]


def _check_inputs(theta, shape, seed, voxel_size, chi2_dof, tile):
    if not isinstance(theta, Theta):
        theta = Theta.from_sequence(theta)
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (int(shape),) * 3
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"shape must be an integer or three positive integers, got {shape!r}") from None
    def integral(v):
        return isinstance(v, numbers.Integral) and not isinstance(v, bool)

    def real(v):
        return isinstance(v, numbers.Real) and not isinstance(v, bool)

    if not all(integral(s) for s in shape):
        raise TypeError(f"shape must be three positive integers, got {shape!r}")
    if len(shape) != 3:
        raise InputError(f"shape must be three positive integers, got {shape!r}")
    if any(s < 1 for s in shape):
        raise InputError(f"shape must be three positive integers, got {shape!r}")
    for name, value, ok, what in (("seed", seed, integral, "a non-negative integer"),
                                  ("voxel_size", voxel_size, real, "a positive number (micrometre)"),
                                  ("chi2_dof", chi2_dof, integral, "a positive integer"),
                                  ("tile", tile, integral, "a positive integer")):
        if not ok(value):
            raise TypeError(f"{name} must be {what}, got {value!r}")
    if seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    if not math.isfinite(voxel_size) or voxel_size <= 0:
        raise InputError(f"voxel_size must be a positive number (micrometre), got {voxel_size!r}")
    if chi2_dof < 1:
        raise InputError(f"chi2_dof must be a positive integer, got {chi2_dof!r}")
    if tile < 1:
        raise InputError(f"tile must be a positive integer, got {tile!r}")
    return theta, tuple(int(s) for s in shape), int(seed), float(voxel_size), int(chi2_dof), int(tile)


def _kernels(alpha: float, theta: Theta, voxel_size: float, generator: str = DEFAULT_GENERATOR):
    return tuple(generator_kernel(a, generator) for a in axis_alphas(alpha, theta.a, voxel_size))


#: Byte budget of the per-process cache of summed fields X = X' + X'' and Y = Y' + Y'' (see
#: :func:`_field_sum`).  Only tiles of at most a quarter of it are kept (64^3: 1 MiB each), so
#: large volumes never pay memory for it.
FIELD_CACHE_BYTES = 64 << 20
_cache: "OrderedDict[tuple, np.ndarray]" = OrderedDict()
_cache_lock = threading.Lock()
_cache_stats = {"hits": 0, "misses": 0}


_PORE, _SE, _AM = np.uint8(PORE), np.uint8(SE), np.uint8(AM)
#: Tiles with fewer voxels than this are labelled on the calling thread (~1 ns/voxel: 4 ms at
#: 2^22 voxels), whatever ``threads`` says: a parallel region cost 8 ms CPU and 16 ms wall at
#: any size on the loaded 2-core machine (load 8; 0.02-1.8 ms serially at 32^3-128^3).
LABEL_SERIAL_BELOW = 1 << 22

#: Tiles with fewer voxels than this run the "fast" and "simd" generators' kernels on the calling thread
#: (the same values: they do not depend on the thread count); waking numba's threads costs more
#: than the work there, and far more on a loaded machine.
FAST_SERIAL_BELOW = 1 << 15


#: The generators built by :mod:`.simd` (vector kernels; their direct path can store a square).
_VECTOR = ("simd", "simd2")


def _one_field(seed, field, alpha, theta, voxel_size, generator, shape, lo, hi, acc, square, threads,
               scratch=None, store=False):
    alphas = axis_alphas(alpha, theta.a, voxel_size)
    direct = generator in DIRECT_GENERATORS  # numba direct convolution (threads set per call)
    if direct and threads is None and acc.size < FAST_SERIAL_BELOW:
        threads = 1
    spectral = uses_spectral(generator, alphas)
    if store and (spectral or generator not in _VECTOR):
        # only simd's direct path can store its square; any other path adds to the buffer, so a
        # caller's mistaken store=True must not leave the reused buffer's old values in it
        acc.fill(0.0)
        store = False
    if spectral:
        with numba_threads(threads if direct else None):
            spectral_field(seed, field, alphas, generator, shape, lo, hi, out=acc, square=square,
                           fold=direct)
    elif direct:
        kernels = tuple(generator_kernel(a, generator) for a in alphas)
        if generator == "fast":
            fast_field(seed, field, kernels, lo, hi, out=acc, square=square, threads=threads, scratch=scratch)
        else:  # only the vector generators' direct path stores (see _field_sum)
            simd_field(seed, field, kernels, lo, hi, out=acc, square=square, threads=threads, scratch=scratch,
                       store=store, generator=generator)
    else:
        kernels = tuple(generator_kernel(a, generator) for a in alphas)
        gaussian_field(seed, field, kernels, lo, hi, out=acc, square=square, threads=threads)


def _field_sum(seed: int, square_ids, plain_id: int, alpha_sq: float, alpha_plain: float, theta: Theta,
               voxel_size: float, lo, hi, threads, generator: str, buf: "np.ndarray | None",
               shape=None, scratch: "dict | None" = None) -> np.ndarray:
    """sum_j G_j^2 + G'' on the box: X (Eqs. 1-2) for the X streams, Y for the Y streams.

    The sum depends on the seed, the streams, the two covariance parameters, a, the voxel size,
    the box and the generator, but not on the thresholds or the other field's parameters: the
    finite differences of a study along lambda_X, lambda_Y and the other field's alphas reuse it
    (common random numbers).  Small tiles are kept in an LRU cache; the values are the same
    bits either way (the cache returns what the same computation produced).
    """
    T = tuple(h - l for l, h in zip(lo, hi))
    nbytes = 4 * T[0] * T[1] * T[2]
    cacheable = 4 * nbytes <= FIELD_CACHE_BYTES
    key = (generator, seed, tuple(square_ids), plain_id, axis_alphas(alpha_sq, theta.a, voxel_size),
           axis_alphas(alpha_plain, theta.a, voxel_size), tuple(lo), tuple(hi), shape)
    if cacheable:
        with _cache_lock:
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
                _cache_stats["hits"] += 1
                return hit
            _cache_stats["misses"] += 1
    # a reused buffer needs no serial zero-fill when the first field stores its square (simd's
    # direct path: the same bits as adding it to zeros; 401^3: a 258 MB fill on one thread)
    store_first = bool(square_ids) and generator in _VECTOR \
        and not uses_spectral(generator, axis_alphas(alpha_sq, theta.a, voxel_size))
    if not cacheable and buf is None:
        pooled = _take_buffer("sum", nbytes // 4)
        if pooled is not None:
            buf = pooled[:nbytes // 4].reshape(T)
    if cacheable or buf is None:
        acc = np.zeros(T, dtype=np.float32)  # a cached array is owned by the cache
        store_first = False  # calloc'd zero pages: nothing to save
    else:
        acc = buf
        if not store_first:
            acc.fill(0.0)
    for i, f in enumerate(square_ids):
        _one_field(seed, f, alpha_sq, theta, voxel_size, generator, shape, lo, hi, acc, True, threads, scratch,
                   store=store_first and i == 0)
    _one_field(seed, plain_id, alpha_plain, theta, voxel_size, generator, shape, lo, hi, acc, False, threads,
               scratch)
    if cacheable:
        acc.setflags(write=False)
        with _cache_lock:
            _cache[key] = acc
            total = sum(a.nbytes for a in _cache.values())
            while total > FIELD_CACHE_BYTES and _cache:
                total -= _cache.popitem(last=False)[1].nbytes
    return acc


def clear_field_cache() -> None:
    """Empty the per-process cache of summed fields (see ``FIELD_CACHE_BYTES``)."""
    with _cache_lock:
        _cache.clear()


#: Byte budget of the per-process pool of large work buffers (see :func:`release_buffers`):
#: after a realization, its field-sum buffer (4 bytes/voxel of the tile) and the direct fields'
#: intermediate (4 (nx + 2 Hx) ny nz bytes) are kept for the next realization instead of being
#: freed, if together they fit; 0 disables the pool.  A 401^3 BM01 realization keeps 258 + 298 =
#: 556 MB; a 512^3 tile ~1.2 GB (not kept under this budget).  The first touch of fresh pages
#: costs ~0.1-0.45 CPU s per 258 MB on the reference machine (transparent huge pages compacted
#: on demand), which a study worker making hundreds of realizations pays once instead of each
#: time.
BUFFER_POOL_BYTES = 1 << 30
_pool: "dict[str, np.ndarray]" = {}
_pool_lock = threading.Lock()


def _take_buffer(kind: str, count: int) -> "np.ndarray | None":
    """A pooled flat float32 buffer of at least ``count`` values, taken out of the pool (so
    concurrent realizations in one process never share it), or None."""
    with _pool_lock:
        buf = _pool.pop(kind, None)
    if buf is None or buf.size < count:
        return None  # too small: dropped; the caller allocates one of the needed size
    return buf.reshape(-1)


def _give_buffer(kind: str, buf: "np.ndarray | None") -> None:
    """Return the float32 array owning ``buf``'s memory to the pool if the pool's budget allows
    (one buffer per kind)."""
    if buf is None:
        return
    while isinstance(buf.base, np.ndarray):
        buf = buf.base
    if buf.base is not None or buf.dtype != np.float32 or not buf.flags.c_contiguous:
        return  # not an array this module allocated
    with _pool_lock:
        others = sum(b.nbytes for k, b in _pool.items() if k != kind)
        if others + buf.nbytes <= BUFFER_POOL_BYTES:
            _pool[kind] = buf


def held_buffer_bytes() -> int:
    """Bytes held by the per-process pool of work buffers (see ``BUFFER_POOL_BYTES``)."""
    with _pool_lock:
        return sum(b.nbytes for b in _pool.values())


def release_buffers() -> int:
    """Free the per-process pool of work buffers (``BUFFER_POOL_BYTES``); returns the bytes
    released.  A worker that goes on to memory-hungry work (an M-factor solve at 401^3) can
    call it after its realization; the next realization then allocates (and first-touches)
    its buffers again.  The values of realizations do not depend on the pool."""
    with _pool_lock:
        freed = sum(b.nbytes for b in _pool.values())
        _pool.clear()
    return freed


def _tile_labels(theta: Theta, lo, hi, seed: int, voxel_size: float, chi2_dof: int,
                 threads: int | None, generator: str = DEFAULT_GENERATOR, shape=None,
                 labels: "np.ndarray | None" = None) -> np.ndarray:
    """The tile's labels (into ``labels``, a uint8 array of the tile's shape, when given).

    The large work buffers (sum, intermediate) come from and go back to the per-process pool
    (:func:`release_buffers`); the values do not depend on it (a pooled sum buffer is
    zero-filled or its first square stored, as a reused one always was).
    """
    ids = field_ids(chi2_dof)
    T = tuple(h - l for l, h in zip(lo, hi))
    # X = X' + X'' with X' = sum_j X~_j^2 (paper Eqs. 1-2)
    scratch: dict = {}  # the "fast" fields' intermediate buffer, shared by all of them
    inter = _take_buffer("inter", 0)
    if inter is not None:
        scratch["inter"] = inter  # direct_setup replaces it when it is too small
    try:
        return _tile_labels_into(theta, lo, hi, seed, voxel_size, ids, T, threads, generator, shape, scratch, labels)
    finally:
        _give_buffer("inter", scratch.get("inter"))


def _tile_labels_into(theta, lo, hi, seed, voxel_size, ids, T, threads, generator, shape, scratch, labels):
    acc = _field_sum(seed, ids["xt"], ids["x2"][0], theta.alpha_xt, theta.alpha_x, theta, voxel_size,
                     lo, hi, threads, generator, None, shape, scratch)
    # labels built in place by one pass per field sum over x-planes on plain threads (split_run;
    # float32 comparisons, as numpy's acc >= lambda; ~14 ns/voxel on one thread with numpy's
    # masks, ~1 here)
    if labels is None:
        labels = np.empty(T, dtype=np.uint8)
    lx, ly = np.float32(theta.lambda_x), np.float32(theta.lambda_y)
    lab_threads = 1 if labels.size < LABEL_SERIAL_BELOW else threads
    with numba_threads(lab_threads):
        _label_se(acc, lx, labels)  # Eq. (4)
    # large tiles (not cached) reuse the buffer: 4 + 1 bytes per voxel plus the FFT temporaries
    acc = _field_sum(seed, ids["yt"], ids["y2"][0], theta.alpha_yt, theta.alpha_y, theta, voxel_size,
                     lo, hi, threads, generator, None if not acc.flags.writeable else acc, shape, scratch)
    with numba_threads(lab_threads):
        _label_am(acc, ly, labels)  # Eq. (5): AM where not SE and Y >= lambda_Y
    if acc.flags.writeable:  # not owned by the field cache: the pool keeps it for the next tile
        _give_buffer("sum", acc)
    return labels


@numba.njit(cache=True, nogil=True)
def _label_se_rows(acc, lx, labels, x0, x1):
    nx, ny, nz = acc.shape
    for i in range(x0, x1):
        for j in range(ny):
            a, lab = acc[i, j], labels[i, j]  # contiguous rows, branch-free: vectorised
            for k in range(nz):
                lab[k] = _SE if a[k] >= lx else _PORE


@numba.njit(cache=True, nogil=True)
def _label_am_rows(acc, ly, labels, x0, x1):
    nx, ny, nz = acc.shape
    for i in range(x0, x1):
        for j in range(ny):
            a, lab = acc[i, j], labels[i, j]
            for k in range(nz):
                lab[k] = _AM if (a[k] >= ly) & (lab[k] == _PORE) else lab[k]


def _label_se(acc, lx, labels):
    """labels = SE where X >= lambda_X, else PORE (paper Eq. 4); on numba's thread count
    (x-planes split over plain threads, :func:`~vmt_dask.model.fast.split_run`)."""
    split_run(_label_se_rows, acc.shape[0], numba.get_num_threads(), acc, lx, labels)


def _label_am(acc, ly, labels):
    """labels = AM where not SE and Y >= lambda_Y (paper Eq. 5); threads as :func:`_label_se`."""
    split_run(_label_am_rows, acc.shape[0], numba.get_num_threads(), acc, ly, labels)


def realize_region(theta: "Theta | Sequence[float]", shape, lo, hi, *, seed: int,
                   voxel_size: float = 0.2, chi2_dof: int = 2, tile: int = DEFAULT_TILE,
                   threads: int | None = None, generator: str = DEFAULT_GENERATOR) -> np.ndarray:
    """Labels of the box [lo, hi) of the realization ``realize(theta, shape, seed=...)``.

    The tiles overlapping the box are computed whole and cropped, so the values are
    identical to those of the full realization.
    """
    theta, shape, seed, voxel_size, chi2_dof, tile = _check_inputs(
        theta, shape, seed, voxel_size, chi2_dof, tile)
    check_generator(generator)
    lo, hi = tuple(int(v) for v in lo), tuple(int(v) for v in hi)
    if any(not 0 <= l < h <= n for l, h, n in zip(lo, hi, shape)):
        raise ValueError(f"box [{lo}, {hi}) is not inside shape {shape}")
    out = np.empty(tuple(h - l for l, h in zip(lo, hi)), dtype=np.uint8)
    per_axis = []
    for n, l, h in zip(shape, lo, hi):
        e = tile_edges(n, tile)
        per_axis.append([(e[i], e[i + 1]) for i in range(len(e) - 1) if e[i] < h and e[i + 1] > l])
    for tx, ty, tz in itertools.product(*per_axis):
        tlo, thi = (tx[0], ty[0], tz[0]), (tx[1], ty[1], tz[1])
        if (tlo, thi) == (lo, hi):  # the box is one whole tile: labelled in place, no copy
            return _tile_labels(theta, tlo, thi, seed, voxel_size, chi2_dof, threads, generator, shape,
                                labels=out)
        labels = _tile_labels(theta, tlo, thi, seed, voxel_size, chi2_dof, threads, generator, shape)
        a = [max(t0, l) for t0, l in zip(tlo, lo)]
        b = [min(t1, h) for t1, h in zip(thi, hi)]
        out[tuple(slice(x - l, y - l) for x, y, l in zip(a, b, lo))] = \
            labels[tuple(slice(x - t, y - t) for x, y, t in zip(a, b, tlo))]
    return out


def realize(theta: "Theta | Sequence[float]", shape, *, seed: int, voxel_size: float = 0.2,
            chi2_dof: int = 2, tile: int = DEFAULT_TILE, threads: int | None = None,
            generator: str = DEFAULT_GENERATOR) -> np.ndarray:
    """One realization of the three-phase excursion-set model.

    Parameters
    ----------
    theta : Theta or sequence of 7 floats
        Model parameters (paper Eq. 8), e.g. ``CALIBRATED["BM01"]``.
    shape : int or (nx, ny, nz)
        Grid size in voxels; arrays are indexed (x, y, z), z being the pressing direction.
    seed : int
        Non-negative seed; the realization is a deterministic function of
        (theta, shape, seed, voxel_size, chi2_dof, tile).
    voxel_size : float
        Edge length of a voxel in micrometres (default 0.2, the calibration grid).
    chi2_dof : int
        Degrees of freedom n of the chi-square fields X' and Y' (default 2, docs/conventions.md).
    tile : int
        Largest tile edge of the fixed generation grid (advanced; part of the realization's
        identity only up to float32 rounding of the convolution).
    threads : int, optional
        Threads for this realization (default: all cores available to the process; "fast"
        computes tiles under ``FAST_SERIAL_BELOW`` voxels on the calling thread).  The values
        do not depend on it.
    generator : {"lattice", "point", "cell", "band", "fast", "simd", "simd2"}
        How each Gaussian field is discretised on the voxels (see
        :mod:`vmt_dask.model.covariance`): ``"lattice"`` samples the field at the voxel
        centres with the exact lattice covariance and is the first release's generator, bit
        for bit; ``"point"`` has the same law and synthesises smooth fields (alpha <= 0.05 per
        voxel) spectrally, without the white-noise halo (faster on small grids); ``"fast"``
        has the same law again, smooth fields as ``"point"`` and the others by a fused direct
        convolution of a cheaper noise (:mod:`vmt_dask.model.fast`); ``"simd"`` is "fast" built
        for vector units (FMA convolution, vectorised Box-Muller noise,
        :mod:`vmt_dask.model.simd`; other random numbers); ``"simd2"`` is "simd" with a one-round
        noise hash on a row-scaled counter and a matrix-product spectral pass (other random numbers, the same law);
        ``"cell"`` averages the
        field over each voxel; ``"band"`` keeps the spectrum below the voxel Nyquist
        frequency.  "point", "cell" and "band" use the white noise of "lattice".  The default
        is ``DEFAULT_GENERATOR`` (:mod:`vmt_dask.model.covariance`).

    Returns
    -------
    numpy.ndarray of uint8, shape ``shape``
        0 = pore, 1 = SE, 2 = AM.

    Notes
    -----
    X = X' + X'' and Y = Y' + Y'' with X' = sum_{j<=n} X~_j^2 (paper Eqs. 1-2); every Gaussian
    field is stationary with covariance exp(-(alpha h)^2) (Eq. 3), h in units of 0.2 micrometre
    and z compressed by ``a``.  SE = {X >= lambda_X}, AM = {not SE, Y >= lambda_Y} (Eqs. 4-6).
    Fields are white noise convolved with lattice-exact separable kernels
    (:func:`~vmt_dask.model.covariance.generator_kernel`): no periodic wrap-around.

    Raises
    ------
    InputError (a ValueError) for a bad value of shape, seed, voxel size, chi2_dof, tile or
    generator name; TypeError for an argument of the wrong type (a seed that is not an integer,
    a generator that is not a string, ...).
    """
    theta, shape, seed, voxel_size, chi2_dof, tile = _check_inputs(
        theta, shape, seed, voxel_size, chi2_dof, tile)
    return realize_region(theta, shape, (0, 0, 0), shape, seed=seed, voxel_size=voxel_size,
                          chi2_dof=chi2_dof, tile=tile, threads=threads, generator=generator)
