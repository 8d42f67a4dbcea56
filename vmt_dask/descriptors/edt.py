"""Exact squared Euclidean distance transform (numba).

The transform is separable (Felzenszwalb and Huttenlocher, 2012): a two-scan 1D
distance along the last axis, then the lower envelope of parabolas along the
middle and the first axis.  Everything is integer (squared distances of lattice
points), so the result is exact.
"""
from __future__ import annotations

import numba
import numpy as np

from ._parallel import run_chunks

__all__ = ["squared_edt", "squared_distance_to", "ball_cover", "EDT_INF"]

#: Value of voxels with no background voxel anywhere in the array.
EDT_INF = np.int32(np.iinfo(np.int32).max)
_INF64 = np.int64(EDT_INF)


#: "No background seen yet" in :func:`_pass_last` (above any distance along a line).
_FAR = 1 << 30


@numba.njit(cache=True, nogil=True)
def _step(d, v, bg):
    """The run length after one more voxel: 0 on background, else ``d + 1`` (capped)."""
    return min(d + 1, _FAR) if v != bg else 0


@numba.njit(cache=True, nogil=True)
def _square(cur, d, bound):
    c = min(cur, d)
    c2 = c * c
    return c2 if (c < _FAR and c2 < bound) else EDT_INF


@numba.njit(cache=True, nogil=True)
def _pass_last(mask, out, bound, bg, lo, hi):
    """Squared distance along z to the nearest ``bg`` voxel (``EDT_INF``: none, or ``>=
    bound``), for the x-planes ``[lo, hi)``: a forward and a backward run-length scan per
    row, branch-free, four rows interleaved (each scan is a serial chain; four independent
    ones keep the core busy: BM01 200^3 one thread 1.36-1.46x against one row at a time)."""
    nx, ny, nz = mask.shape
    m8 = mask.view(np.uint8)
    b8 = np.uint8(bg)
    for i in range(lo, hi):
        j0 = 0
        while j0 + 4 <= ny:
            r0 = m8[i, j0]
            r1 = m8[i, j0 + 1]
            r2 = m8[i, j0 + 2]
            r3 = m8[i, j0 + 3]
            o0 = out[i, j0]
            o1 = out[i, j0 + 1]
            o2 = out[i, j0 + 2]
            o3 = out[i, j0 + 3]
            d0 = d1 = d2 = d3 = _FAR
            for k in range(nz):
                d0 = _step(d0, r0[k], b8)
                d1 = _step(d1, r1[k], b8)
                d2 = _step(d2, r2[k], b8)
                d3 = _step(d3, r3[k], b8)
                o0[k] = d0
                o1[k] = d1
                o2[k] = d2
                o3[k] = d3
            d0 = d1 = d2 = d3 = _FAR
            for k in range(nz - 1, -1, -1):
                d0 = _step(d0, r0[k], b8)
                d1 = _step(d1, r1[k], b8)
                d2 = _step(d2, r2[k], b8)
                d3 = _step(d3, r3[k], b8)
                o0[k] = _square(np.int64(o0[k]), d0, bound)
                o1[k] = _square(np.int64(o1[k]), d1, bound)
                o2[k] = _square(np.int64(o2[k]), d2, bound)
                o3[k] = _square(np.int64(o3[k]), d3, bound)
            j0 += 4
        for j in range(j0, ny):
            r = m8[i, j]
            o = out[i, j]
            d = _FAR
            for k in range(nz):
                d = _step(d, r[k], b8)
                o[k] = d
            d = _FAR
            for k in range(nz - 1, -1, -1):
                d = _step(d, r[k], b8)
                o[k] = _square(np.int64(o[k]), d, bound)


@numba.njit(cache=True, nogil=True)
def _envelope(f, n, v, z, res):
    """1D squared distance with sampled function ``f`` (INF = absent).

    The intersections ``s = num / den`` of the parabolas are kept as integer fractions
    (``z[0, k] / z[1, k]``, ``den > 0``; ``den = 0`` marks -inf (num -1) and +inf (num 1)) and
    compared by cross-multiplication (|num| < 2^33, den <= 2n: no overflow), so there is no
    division; the envelope is the same as with exact arithmetic.
    """
    zn = z[0]
    zd = z[1]
    k = -1
    for q in range(n):
        fq = f[q]
        if fq >= _INF64:
            continue
        num = 0
        den = 1
        while k >= 0:
            p = v[k]
            num = (fq + q * q) - (f[p] + p * p)
            den = 2 * (q - p)
            if num * zd[k] <= zn[k] * den:  # s <= z[k]
                k -= 1
            else:
                break
        k += 1
        v[k] = q
        if k == 0:
            zn[0] = -1
            zd[0] = 0
        else:
            zn[k] = num
            zd[k] = den
        zn[k + 1] = 1
        zd[k + 1] = 0
    if k < 0:
        for q in range(n):
            res[q] = _INF64
        return
    j = 0
    for q in range(n):
        while zn[j + 1] < q * zd[j + 1]:  # z[j + 1] < q
            j += 1
        p = v[j]
        res[q] = (q - p) * (q - p) + f[p]


@numba.njit(cache=True, nogil=True)
def _pass_last_balls(r2, k, out, lo, hi):
    """First pass of the ball cover: ``f = -r2`` where ``r2 >= k``, else absent."""
    nx, ny, nz = r2.shape
    for i in range(lo, hi):
        f = np.empty(nz, np.int64)
        res = np.empty(nz, np.int64)
        v = np.empty(nz, np.int64)
        z = np.empty((2, nz + 1), np.int64)
        for j in range(ny):
            for q in range(nz):
                w = np.int64(r2[i, j, q])
                f[q] = -w if w >= k else _INF64
            _envelope(f, nz, v, z, res)
            for q in range(nz):
                r = res[q]
                out[i, j, q] = r if r < 0 else EDT_INF


@numba.njit(cache=True, nogil=True)
def _pass_middle(out, bound, lo, hi):
    nx, ny, nz = out.shape
    for i in range(lo, hi):
        f = np.empty(ny, np.int64)
        res = np.empty(ny, np.int64)
        v = np.empty(ny, np.int64)
        z = np.empty((2, ny + 1), np.int64)
        for k in range(nz):
            for j in range(ny):
                f[j] = out[i, j, k]
            _envelope(f, ny, v, z, res)
            for j in range(ny):
                r = res[j]
                out[i, j, k] = r if r < bound else EDT_INF


@numba.njit(cache=True, nogil=True)
def _pass_first(out, bound, lo, hi):
    nx, ny, nz = out.shape
    for j in range(lo, hi):
        f = np.empty(nx, np.int64)
        res = np.empty(nx, np.int64)
        v = np.empty(nx, np.int64)
        z = np.empty((2, nx + 1), np.int64)
        for k in range(nz):
            for i in range(nx):
                f[i] = out[i, j, k]
            _envelope(f, nx, v, z, res)
            for i in range(nx):
                r = res[i]
                out[i, j, k] = r if r < bound else EDT_INF


#: Volumes from this many voxels on use the window search for the y and x passes; smaller
#: ones the lower envelope (the same integers).  The window kernels take ~4.5 s CPU to
#: compile against ~1.8 s (fresh cache), which a small volume never earns back (the demo's
#: and the tests' first run); 128^3 and up gain 1.5-2x on these passes.
WINDOW_FROM = 1 << 21
#: Lanes of the window search (:func:`_pass_window_y`): consecutive z positions searched
#: together (contiguous loads; the search stops when the farthest lane is final).  32
#: uint32 lanes: BM01 200^3 one thread, y pass SE / AM 0.113 / 0.089 s (16 int64 lanes)
#: -> 0.083 / 0.064 s (16 uint32 lanes: 0.089 / 0.073; 8: 0.094 / 0.082), same integers.
_LANES = 32
#: Largest window half-width of the search; columns whose lanes need more are solved by
#: the lower envelope (:func:`_envelope`) instead.
_WINDOW_MAX = 48


@numba.njit(cache=True, nogil=True)
def _pass_window_y(out, bound, lo, hi):
    """Envelope pass along y (outer loop over the x-planes ``[lo, hi)``) of the
    non-negative values ``out`` (int32), in place, by a window search.

    ``g(q) = min_p (q - p)^2 + f(p)`` per line (``f = EDT_INF``: absent), results ``>=
    bound`` -> EDT_INF.  Searched outwards by offsets ``o = 1, 2, ...`` for 16 lanes along z
    at a time (contiguous loads, vectorized): with ``f >= 0`` every candidate at offset
    ``> o`` is ``>= (o + 1)^2``, so a lane is final once its best value is ``<= (o + 1)^2``
    (or ``bound`` is reached); the search stops when every lane is.  Columns that need
    offsets beyond :data:`_WINDOW_MAX` (no background near) get the lower envelope of their
    whole line.  The same integers as :func:`_envelope` (both are the exact minimum); cost
    ~ the offsets searched (the distances to the complement, a few voxels mostly) instead
    of the envelope's data-dependent branches per voxel.  The lanes are uint32 (the values
    are non-negative int32, and a candidate is at most ``EDT_INF + 48^2 < 2^32``): int64
    lanes have no vector min on AVX2 (compare and blend), 1.3-1.4x the time."""
    nx, ny, nz = out.shape
    ou = out.view(np.uint32)  # non-negative int32: the same order, and no int64 lanes
    bnd = np.uint32(min(bound, EDT_INF))
    tmp = np.empty((ny, nz), np.int32)
    best = np.empty(_LANES, np.uint32)
    flag = np.zeros(nz, np.bool_)
    f = np.empty(ny, np.int64)
    res = np.empty(ny, np.int64)
    v = np.empty(ny, np.int64)
    z = np.empty((2, ny + 1), np.int64)
    for i in range(lo, hi):
        nflag = 0
        for j in range(ny):
            for k0 in range(0, nz, _LANES):
                kw = min(_LANES, nz - k0)
                m = np.uint32(0)
                for t in range(kw):
                    b = ou[i, j, k0 + t]
                    best[t] = b
                    m = max(m, b)
                o = 0
                while min(m, bnd) > (o + 1) * (o + 1) and o < _WINDOW_MAX:
                    o += 1
                    o2 = np.uint32(o * o)
                    qm = j - o
                    qp = j + o
                    if qm < 0 and qp >= ny:
                        m = np.uint32(0)  # no candidates left: every lane is final
                        break
                    # a side past the end repeats the other one (one loop, less code to compile)
                    if qm < 0:
                        qm = qp
                    elif qp >= ny:
                        qp = qm
                    m = np.uint32(0)
                    for t in range(kw):
                        # <= EDT_INF + 48^2 < 2^32: no wrap-around in uint32
                        b = min(best[t], np.uint32(min(ou[i, qm, k0 + t], ou[i, qp, k0 + t]) + o2))
                        best[t] = b
                        m = max(m, b)
                lim = (o + 1) * (o + 1)
                if o == _WINDOW_MAX and min(m, bnd) > lim:
                    for t in range(kw):
                        if min(best[t], bnd) > lim and not flag[k0 + t]:
                            flag[k0 + t] = True
                            nflag += 1
                for t in range(kw):
                    b = best[t]
                    tmp[j, k0 + t] = b if b < bnd else EDT_INF
        if nflag:  # lines without background near: the lower envelope of the whole line
            for k in range(nz):
                if flag[k]:
                    flag[k] = False
                    for j in range(ny):
                        f[j] = out[i, j, k]
                    _envelope(f, ny, v, z, res)
                    for j in range(ny):
                        r = res[j]
                        tmp[j, k] = r if r < bound else EDT_INF
        for j in range(ny):
            for k in range(nz):
                out[i, j, k] = tmp[j, k]


@numba.njit(cache=True, nogil=True)
def _pass_window_x(out, bound, lo, hi):
    """As :func:`_pass_window_y` along x (outer loop over ``y`` in ``[lo, hi)``).

    A copy of it with the two outer axes swapped, on purpose: calling ``_pass_window_y`` on
    ``out.transpose(1, 0, 2)`` gives the same integers but compiles a second, non-contiguous
    specialization and ran ~25 % slower (BM01 200^3 SE, one thread: 0.118 vs 0.093 s CPU)."""
    nx, ny, nz = out.shape
    ou = out.view(np.uint32)  # as in _pass_window_y
    bnd = np.uint32(min(bound, EDT_INF))
    tmp = np.empty((nx, nz), np.int32)
    best = np.empty(_LANES, np.uint32)
    flag = np.zeros(nz, np.bool_)
    f = np.empty(nx, np.int64)
    res = np.empty(nx, np.int64)
    v = np.empty(nx, np.int64)
    z = np.empty((2, nx + 1), np.int64)
    for j in range(lo, hi):
        nflag = 0
        for i in range(nx):
            for k0 in range(0, nz, _LANES):
                kw = min(_LANES, nz - k0)
                m = np.uint32(0)
                for t in range(kw):
                    b = ou[i, j, k0 + t]
                    best[t] = b
                    m = max(m, b)
                o = 0
                while min(m, bnd) > (o + 1) * (o + 1) and o < _WINDOW_MAX:
                    o += 1
                    o2 = np.uint32(o * o)
                    qm = i - o
                    qp = i + o
                    if qm < 0 and qp >= nx:
                        m = np.uint32(0)  # no candidates left: every lane is final
                        break
                    # a side past the end repeats the other one (one loop, less code to compile)
                    if qm < 0:
                        qm = qp
                    elif qp >= nx:
                        qp = qm
                    m = np.uint32(0)
                    for t in range(kw):
                        b = min(best[t], np.uint32(min(ou[qm, j, k0 + t], ou[qp, j, k0 + t]) + o2))
                        best[t] = b
                        m = max(m, b)
                lim = (o + 1) * (o + 1)
                if o == _WINDOW_MAX and min(m, bnd) > lim:
                    for t in range(kw):
                        if min(best[t], bnd) > lim and not flag[k0 + t]:
                            flag[k0 + t] = True
                            nflag += 1
                for t in range(kw):
                    b = best[t]
                    tmp[i, k0 + t] = b if b < bnd else EDT_INF
        if nflag:  # lines without background near: the lower envelope of the whole line
            for k in range(nz):
                if flag[k]:
                    flag[k] = False
                    for i in range(nx):
                        f[i] = out[i, j, k]
                    _envelope(f, nx, v, z, res)
                    for i in range(nx):
                        r = res[i]
                        tmp[i, k] = r if r < bound else EDT_INF
        for i in range(nx):
            for k in range(nz):
                out[i, j, k] = tmp[i, k]


def squared_edt(mask: np.ndarray, *, bound: int | None = None) -> np.ndarray:
    """Squared Euclidean distance of every voxel to the nearest ``False`` voxel.

    Parameters
    ----------
    mask : ndarray of bool, shape (nx, ny, nz)
        Foreground.  Voxels outside the array are *not* background: the window
        border is not treated as a boundary.
    bound : int, optional
        If given, only squared distances ``< bound`` are computed exactly; larger
        ones are reported as :data:`EDT_INF`.  Cheaper when only a threshold
        test ``d**2 < bound`` is needed (a dilation by an open ball).

    Returns
    -------
    ndarray of int32, same shape
        ``0`` on background voxels, the squared distance in voxel units on
        foreground voxels, and :data:`EDT_INF` where no background voxel exists
        (or none closer than ``sqrt(bound)``).

    Notes
    -----
    Exact: the squared distances of lattice points are integers and the lower
    envelope is evaluated in integer arithmetic (Felzenszwalb and Huttenlocher,
    "Distance transforms of sampled functions", Theory of Computing 8, 2012).
    Cost is three passes over the array, in threads over planes (:mod:`._parallel`); the
    y and x passes search the minimum in windows (:func:`_pass_window_y`), bounded by the
    distance to the complement, instead of building each line's envelope.
    """
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError(f"mask must be 3-D, got ndim={mask.ndim}")
    mask = np.ascontiguousarray(mask, dtype=bool)
    if bound is None:
        b = _INF64
    else:
        b = int(bound)
        if b < 1:
            raise ValueError(f"bound must be a positive integer, got {bound!r}")
        b = min(b, int(_INF64))
    out = np.empty(mask.shape, np.int32)
    if mask.size == 0:
        return out
    _three_passes(mask, out, np.int64(b), False)
    return out


def _three_passes(src, out, bound, bg):
    """The separable transform: along z, then y (threads over x), then x (threads over y).

    The y and x passes search windows (:func:`_pass_window_y`): the values after the z pass
    are non-negative, which bounds the search.
    """
    nx, ny, nz = out.shape
    run_chunks(_pass_last, (src, out, bound, bg), nx, work=out.size)
    if out.size < WINDOW_FROM:  # small: the envelope passes (compile in 1.8 s, not 4.5 s)
        run_chunks(_pass_middle, (out, bound), nx, work=out.size)
        run_chunks(_pass_first, (out, bound), ny, work=out.size)
        return
    run_chunks(_pass_window_y, (out, bound), nx, work=out.size)
    run_chunks(_pass_window_x, (out, bound), ny, work=out.size)


def squared_distance_to(centres: np.ndarray, *, bound: int) -> np.ndarray:
    """Squared distance of every voxel to the nearest ``True`` voxel of ``centres``.

    Same as ``squared_edt(~centres, bound=bound)`` without forming the complement.
    Values ``>= bound`` (and voxels with no centre at all) are :data:`EDT_INF`.
    """
    centres = np.ascontiguousarray(centres, dtype=bool)
    b = min(int(bound), int(_INF64))
    out = np.empty(centres.shape, np.int32)
    if centres.size == 0:
        return out
    _three_passes(centres, out, np.int64(b), True)
    return out


def _ball_cover_values(r2: np.ndarray, k: int) -> np.ndarray:
    """``g(x) = min_c |x - c|^2 - r2(c)`` over ``r2(c) >= k``; non-negative -> EDT_INF."""
    r2 = np.ascontiguousarray(r2, dtype=np.int32)
    out = np.empty(r2.shape, np.int32)
    if r2.size == 0:
        return out
    run_chunks(_pass_last_balls, (r2, np.int64(k), out), r2.shape[0], work=r2.size)
    # Later passes only add non-negative terms (x - p)^2, so entries that are
    # already >= 0 can never become negative again: prune them to INF (bound 0).
    run_chunks(_pass_middle, (out, np.int64(0)), r2.shape[0], work=r2.size)
    run_chunks(_pass_first, (out, np.int64(0)), r2.shape[1], work=r2.size)
    return out


def ball_cover(r2: np.ndarray, *, k: int) -> np.ndarray:
    """Union of the open balls ``|x - c|^2 < r2(c)`` over the centres with ``r2(c) >= k``.

    Parameters
    ----------
    r2 : ndarray of int, shape (nx, ny, nz)
        Squared ball radius (voxel units) per centre, ``>= 0`` and ``<=``
        :data:`EDT_INF`.
    k : int
        Smallest admissible squared radius (``>= 1``).

    Returns
    -------
    ndarray of bool, same shape
        ``True`` where a voxel lies strictly inside one of the balls.

    Notes
    -----
    One generalized squared distance transform of the sampled function
    ``f(c) = -r2(c)`` (absent where ``r2(c) < k``): ``g(x) = min_c |x - c|^2 +
    f(c)`` and ``x`` is covered iff ``g(x) < 0`` (Felzenszwalb and Huttenlocher,
    2012).  With ``r2`` the squared EDT of a phase this is the set where the
    local thickness (Hildebrand and Rüegsegger 1997) is at least ``sqrt(k)``.
    """
    r2 = np.asarray(r2)
    if r2.ndim != 3:
        raise ValueError(f"r2 must be 3-D, got ndim={r2.ndim}")
    if not np.issubdtype(r2.dtype, np.integer):
        raise TypeError(f"r2 must hold integers, got dtype {r2.dtype}")
    if r2.size and (r2.min() < 0 or r2.max() > int(_INF64)):
        raise ValueError(f"r2 must lie in [0, {int(_INF64)}], got [{r2.min()}, {r2.max()}]")
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return _ball_cover_values(r2, k) < 0


# ----------------------------------------------------------------------------- anisotropic voxels
_FINF = np.inf


@numba.njit(cache=True, nogil=True)
def _envelope_f(f, n, h2, v, z, res):
    """1D lower envelope ``min_p h2 (q - p)^2 + f[p]`` in float64 (``inf`` = absent)."""
    k = -1
    for q in range(n):
        fq = f[q]
        if fq == _FINF:
            continue
        s = 0.0
        while k >= 0:
            p = v[k]
            s = ((fq + h2 * q * q) - (f[p] + h2 * p * p)) / (2.0 * h2 * (q - p))
            if s <= z[k]:
                k -= 1
            else:
                break
        k += 1
        v[k] = q
        z[k] = -np.inf if k == 0 else s
        z[k + 1] = np.inf
    if k < 0:
        for q in range(n):
            res[q] = _FINF
        return
    j = 0
    for q in range(n):
        while z[j + 1] < q:
            j += 1
        p = v[j]
        res[q] = h2 * (q - p) * (q - p) + f[p]


@numba.njit(cache=True, nogil=True)
def _sweep_f(out, axis, h2, bound, lo, hi):
    """Envelope pass of ``out`` (float64, in place) along ``axis``; values ``>= bound`` -> inf.

    Outer loop ``[lo, hi)``: over x for ``axis`` 2 and 1, over y for ``axis`` 0.
    """
    nx, ny, nz = out.shape
    if axis == 2:
        for i in range(lo, hi):
            f = np.empty(nz)
            res = np.empty(nz)
            v = np.empty(nz, np.int64)
            z = np.empty(nz + 1)
            for j in range(ny):
                for q in range(nz):
                    f[q] = out[i, j, q]
                _envelope_f(f, nz, h2, v, z, res)
                for q in range(nz):
                    out[i, j, q] = res[q] if res[q] < bound else _FINF
    elif axis == 1:
        for i in range(lo, hi):
            f = np.empty(ny)
            res = np.empty(ny)
            v = np.empty(ny, np.int64)
            z = np.empty(ny + 1)
            for k in range(nz):
                for q in range(ny):
                    f[q] = out[i, q, k]
                _envelope_f(f, ny, h2, v, z, res)
                for q in range(ny):
                    out[i, q, k] = res[q] if res[q] < bound else _FINF
    else:
        for j in range(lo, hi):
            f = np.empty(nx)
            res = np.empty(nx)
            v = np.empty(nx, np.int64)
            z = np.empty(nx + 1)
            for k in range(nz):
                for q in range(nx):
                    f[q] = out[q, j, k]
                _envelope_f(f, nx, h2, v, z, res)
                for q in range(nx):
                    out[q, j, k] = res[q] if res[q] < bound else _FINF


def squared_edt_spacing(mask: np.ndarray, spacing) -> np.ndarray:
    """Squared Euclidean distance (micrometre^2) to the nearest ``False`` voxel, voxel edges ``spacing``.

    Parameters
    ----------
    mask : ndarray of bool, shape (nx, ny, nz)
        Foreground; the window border is not background.
    spacing : (dx, dy, dz)
        Voxel edge lengths (micrometres).

    Returns
    -------
    ndarray of float64, same shape
        ``0`` on background, ``inf`` where no background voxel exists.  Exact up to
        float rounding: the separable lower-envelope transform of Felzenszwalb and
        Huttenlocher (2012) with the parabolas ``h^2 (q - p)^2`` of each axis.
    """
    m = np.ascontiguousarray(mask, dtype=bool)
    out = np.where(m, _FINF, 0.0)
    for ax in (2, 1, 0):
        _sweep(out, ax, float(spacing[ax]) ** 2, _FINF)
    return out


def _sweep(out, axis, h2, bound):
    run_chunks(_sweep_f, (out, axis, h2, bound), out.shape[1 if axis == 0 else 0], work=out.size)


def ball_cover_values_spacing(r2: np.ndarray, kval: float, spacing) -> np.ndarray:
    """``min_c |x - c|^2 - r2(c)`` over ``r2(c) >= kval`` with anisotropic ``|.|``; ``>= 0`` -> inf."""
    out = np.where(r2 >= kval, -r2, _FINF)
    _sweep(out, 2, float(spacing[2]) ** 2, 0.0)
    _sweep(out, 1, float(spacing[1]) ** 2, 0.0)
    _sweep(out, 0, float(spacing[0]) ** 2, 0.0)
    return out
