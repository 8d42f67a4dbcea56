"""White noise on the infinite voxel lattice, a pure function of (seed, field, position).

Each voxel's standard normal value is computed from a 64-bit counter-based hash of its
lattice coordinates, keyed by 128 bits that ``numpy.random.SeedSequence(seed,
spawn_key=(field,))`` derives from the realization's seed.  Any region of any field can be
regenerated on its own, in any order and on any number of threads, with identical values:
this is what makes chunked generation identical to in-memory generation.

The hash is two rounds of the SplitMix64 finalizer (Steele, Lea and Flood 2014, the output
function of java.util.SplittableRandom) around the key; the normal deviate is drawn from the
hashed words by a 256-layer ziggurat (Marsaglia and Tsang 2000).  Compiled with numba and run
in parallel this costs ~2 ns per value, against ~9-12 ns for ``Generator.standard_normal`` on
the reference machine, where noise was a third of a realization's work.
"""
from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["noise_region", "field_key", "MAX_COORDINATE"]

_BITS = 21
#: Lattice coordinates must lie in [-MAX_COORDINATE, MAX_COORDINATE) on every axis.
MAX_COORDINATE = 1 << (_BITS - 1)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _ziggurat_tables(layers: int = 256, r: float = 3.6541528853610088,
                     v: float = 0.00492867323399):
    """Layer edges X[0..layers] and f(X) for f(x) = exp(-x^2/2) (Marsaglia and Tsang 2000)."""
    f = lambda x: math.exp(-0.5 * x * x)
    X = np.empty(layers + 1)
    X[0] = v / f(r)  # width of the base strip (rectangle plus tail) of area v
    X[1] = r
    for i in range(1, layers - 1):
        X[i + 1] = math.sqrt(-2.0 * math.log(v / X[i] + f(X[i])))
    X[layers] = 0.0
    return X, np.exp(-0.5 * X * X)


_X, _F = _ziggurat_tables()
_R = 3.6541528853610088


@numba.njit(inline="always")
def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@numba.njit(inline="always")
def _uniform(w):
    """(0, 1) from the top 53 bits of a word."""
    return (np.float64(np.int64(w >> np.uint64(11))) + 0.5) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True, nogil=True)
def _normal_slow(base, k1, X, F, r):
    """The full ziggurat; attempt 0 was rejected by the fast path in ``_fill_box``."""
    c = np.uint64(0)
    while True:
        w = _mix(base + c * np.uint64(0x9E3779B97F4A7C15) ^ k1)
        c += np.uint64(1)
        i = np.int64(w & np.uint64(255))
        neg = (w >> np.uint64(8)) & np.uint64(1)
        x = np.float64(np.int64(w >> np.uint64(11))) * (1.0 / 9007199254740992.0) * X[i]
        if x < X[i + 1]:
            return -x if neg else x
        if i == 0:  # the tail beyond r (Marsaglia 1964)
            while True:
                u1 = _uniform(_mix(base + c * np.uint64(0x9E3779B97F4A7C15) ^ k1))
                u2 = _uniform(_mix(base + (c + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15) ^ k1))
                c += np.uint64(2)
                a = -math.log(u1) / r
                if -2.0 * math.log(u2) > a * a:
                    return -(r + a) if neg else r + a
        u = _uniform(_mix(base + c * np.uint64(0x9E3779B97F4A7C15) ^ k1))
        c += np.uint64(1)
        if F[i] + u * (F[i + 1] - F[i]) < math.exp(-0.5 * x * x):  # the wedge
            return -x if neg else x


@numba.njit(inline="always")
def _voxel(xy, z, k0, k1, X, F, r):
    base = _mix((xy | z) ^ k0)
    w = _mix(base ^ k1)  # attempt 0 of _normal_slow, inlined: 98.8 % accepted
    li = np.int64(w & np.uint64(255))
    x = np.float64(np.int64(w >> np.uint64(11))) * (1.0 / 9007199254740992.0) * X[li]
    if x < X[li + 1]:
        return np.float32(-x if (w >> np.uint64(8)) & np.uint64(1) else x)
    return np.float32(_normal_slow(base, k1, X, F, r))


@numba.njit(cache=True, nogil=True, parallel=True)
def _fill_box(out, k0, k1, x0, y0, z0, X, F, r):
    nx, ny, nz = out.shape
    off = np.int64(1 << 20)
    for i in numba.prange(nx):
        xi = np.uint64(x0 + i + off) << np.uint64(42)
        for j in range(ny):
            xy = xi | (np.uint64(y0 + j + off) << np.uint64(21))
            for k in range(nz):
                out[i, j, k] = _voxel(xy, np.uint64(z0 + k + off), k0, k1, X, F, r)


@numba.njit(cache=True, nogil=True)
def _fill_box_serial(out, k0, k1, x0, y0, z0, X, F, r):
    """:func:`_fill_box` on the calling thread: the same values, without the start-up of the
    parallel region (which costs more than the work for boxes of a few thousand values)."""
    nx, ny, nz = out.shape
    off = np.int64(1 << 20)
    for i in range(nx):
        xi = np.uint64(x0 + i + off) << np.uint64(42)
        for j in range(ny):
            xy = xi | (np.uint64(y0 + j + off) << np.uint64(21))
            for k in range(nz):
                out[i, j, k] = _voxel(xy, np.uint64(z0 + k + off), k0, k1, X, F, r)


#: Boxes with fewer values than this are filled on the calling thread.
SERIAL_BELOW = 1 << 16


def field_key(seed: int, field: int) -> tuple[np.uint64, np.uint64]:
    """The 128-bit key of one field's noise, derived with numpy's SeedSequence."""
    k = np.random.SeedSequence(entropy=int(seed), spawn_key=(int(field),)).generate_state(2, np.uint64)
    return np.uint64(k[0]), np.uint64(k[1])


def noise_region(seed: int, field: int, lo: tuple[int, int, int], hi: tuple[int, int, int],
                 out: np.ndarray | None = None) -> np.ndarray:
    """Standard normal float32 noise of ``field`` on the lattice box [lo, hi) (3 axes).

    ``lo`` may be negative; coordinates must stay within +-``MAX_COORDINATE``.  Values depend
    only on (seed, field, lattice position).
    """
    if any(l < -MAX_COORDINATE or h > MAX_COORDINATE for l, h in zip(lo, hi)):
        raise ValueError(f"box [{lo}, {hi}) exceeds the lattice range +-{MAX_COORDINATE}")
    shape = tuple(h - l for l, h in zip(lo, hi))
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    k0, k1 = field_key(seed, field)
    fill = _fill_box_serial if out.size < SERIAL_BELOW else _fill_box
    fill(out, k0, k1, np.int64(lo[0]), np.int64(lo[1]), np.int64(lo[2]), _X, _F, _R)
    return out
