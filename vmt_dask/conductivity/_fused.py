"""Fused fine-level passes of the connected-pieces cycle (:class:`.multigrid.ConnectedHierarchy`).

With one fine sweep, the fine level of a cycle was five passes over the voxel grid:
a zero-start red half sweep (reads ``b``, ``code``; writes ``x``: 9 bytes per voxel),
a black half sweep (``x`` read and written, ``b``, ``code``: 13), the restriction of
the residual (``x``, ``b``, ``code``: 9), the prolongation (``x`` read and written,
``code``: 9) and the two half sweeps after it (13 + 13) -- 66 bytes per voxel.  The
two kernels here do the same arithmetic in two passes, 9 + 13 = 22 bytes per voxel:

* :func:`fine_smooth_restrict` -- red half sweep from zero, black half sweep and
  ``P^T (b - A x)``, plane by plane: plane ``i + 1`` gets its red values, then plane
  ``i`` its black ones, then the residual of the box slab below is summed; the
  neighbour planes a step reads are the ones just written (in cache).
* :func:`fine_prolong_smooth` -- ``x += omega P xc``, black half sweep, red half
  sweep, in the same staggered order; returns ``b . x``.

Red-black Gauss-Seidel makes this exact: a black value depends only on the red
values of its neighbours, and a red one only on black values, so computing plane
``i``'s black values once plane ``i + 1`` has its red values (and plane ``i - 1``'s
red values are not yet replaced) gives what the separate passes give: the same row
formulas and float32 operations, per-plane float64 sums added in the same order. The
helpers here are compiled without fastmath reassociation (below) while the separate
kernels keep it, so the two agree to a few float32 ulps rather than bit for bit
(tested).  Threads work on chunks of box slabs; a chunk recomputes the two
planes on either side of it into a private halo (``halo[chunk, 0..3]`` = planes
``i0 - 2, i0 - 1, i1, i1 + 1``), so no thread reads a plane another one is writing.
The prolongation first copies the old ``x`` of those planes (a separate parallel
loop), because the neighbouring chunk overwrites them in place.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from ._graph import _plane, _prolong_slab, _restrict_slab
from ._jit import JIT_EXACT
from ._jit import kernel

# The helpers below are compiled without "reassoc".  Why it matters (found session 6): numba
# links a called helper into its caller's module as a linkonce_odr copy, and the helper also
# gets its own module when first compiled.  In a process that compiles the kernels, the
# helper's own module is loaded first and the caller's calls bind to that copy; a process
# that loads the caller from numba's cache loads only the caller's object, whose calls bind
# to the copy optimised inside the caller's module.  With reassoc the two copies may order a
# reduction (and any sum) differently, so M differed by ~1e-11 between a worker that
# compiled and one that loaded (tests/study/test_study_run.py on an empty cache).
# Reproduced here with BM01 48^3 (fresh NUMBA_CACHE_DIR: compile run 0.07588262059015295,
# cache runs ...59742713); a cache run that first calls the standalone _gs_plane and
# _zero_sweep_plane (so their own copies are loaded first) gives the compile run's value
# bit for bit.  Without reassoc every copy computes the same.  Its cost (no vectorised
# float64 b . x reduction: a serial chain of additions in every half sweep) is gone since
# the sum runs only in the last half sweep, as four fixed partial sums (_row_dot).
_JIT = JIT_EXACT
from ._stencil import _diag, _gs_row, _inv_diag, _row_dot

__all__ = ["fine_smooth_restrict", "fine_prolong_smooth", "direction_matvec", "halo_planes"]


def halo_planes(shape, chunks: int) -> np.ndarray:
    """Work array for ``chunks`` chunks of the fused kernels (float32, 4 planes each)."""
    n0, n1, n2 = shape
    m0 = (n0 + 1) // 2
    return np.empty((max(1, min(int(chunks), m0)), 4, n1, n2), np.float32)


@numba.njit(**_JIT)
def _bounds(ch, nchunk, m0, n0):
    ch = np.int64(ch)      # a prange index may be unsigned: unsigned * signed is float64
    I0 = ch * m0 // nchunk
    I1 = (ch + 1) * m0 // nchunk
    return I0, I1, 2 * I0, min(2 * I1, n0)


@numba.njit(**_JIT)
def _zero_sweep_plane(c_p, b_p, wx, wy, keep, i, dst):
    """Red half sweep of plane ``i`` from ``x = 0`` (black cells and unsolved voxels 0)."""
    n1, n2 = c_p.shape
    for j in range(n1):
        kp = keep[(i + j) & 1]
        c = c_p[j]
        br = b_p[j]
        xr = dst[j]
        for k in range(n2):
            xr[k] = kp[k] * (br[k] * _inv_diag(c[k], wx, wy))


@numba.njit(**_JIT)
def _gs_plane(c_p, b_p, xm_p, x_p, xp_p, wx, wy, keep, par, zrow, out, dot):
    """Half sweep of the cells with ``(j + k + par) % 2 == 0`` of one plane, in place;
    with ``dot`` returns ``b . x`` over the plane after it (float64, rows in order, each
    by :func:`_row_dot`), else 0 (only the cycle's last half sweep needs it)."""
    n1, n2 = c_p.shape
    s = 0.0
    for j in range(n1):
        c = c_p[j]
        xr = x_p[j]
        br = b_p[j]
        ym = x_p[j - 1] if j > 0 else zrow
        yp = x_p[j + 1] if j < n1 - 1 else zrow
        _gs_row(c, xr, br, xm_p[j], xp_p[j], ym, yp, wx, wy, keep[(par + j) & 1], out)
        for k in range(n2):
            xr[k] = out[k]
        if dot:
            s += _row_dot(br, xr)
    return s


@numba.njit(**_JIT)
def _copy_plane(src, dst):
    """``dst[...] = src`` by loops (a slice assignment compiles numba's shape-mismatch
    error message: ~12 s of string formatting code on a cold cache)."""
    n1, n2 = src.shape
    for j in range(n1):
        s = src[j]
        d = dst[j]
        for k in range(n2):
            d[k] = s[k]


@numba.njit(**_JIT)
def _keep_table(n2):
    keep = np.zeros((2, n2), np.float32)     # keep[par, k] = 1 where (k + par) is even
    for k in range(n2):
        keep[k & 1, k] = 1.0
    return keep


@kernel
def fine_smooth_restrict(code, wx, wy, x, b, pat, rowbase, lut, count, rc, halo):
    """Pre-smoothing from ``x = 0`` and restriction in one pass over the fine level.

    Red half sweep with ``x = 0`` (red: ``(i + j + k) % 2 == 0``), black half sweep,
    then ``rc = P^T (b - A x)`` over the connected pieces of the 2x2x2 boxes: the
    same formulas as ``_stencil.fine_gs`` (colour 0, zero start; colour 1) followed by
    ``_graph.fine_restrict_pieces`` (equal to a few float32 ulps; see the module text).

    Parameters
    ----------
    code : uint8 (n0, n1, n2); wx, wy : float
        Fine operator (:mod:`._stencil`).
    x : float32 (n0, n1, n2), written
        The smoothed correction (every cell written).
    b : float32 (n0, n1, n2)
        Right-hand side (0 on unsolved voxels).
    pat, rowbase, lut, count
        The fine -> level-1 map (:mod:`._graph`).
    rc : float32 (n_level1,), written
        Restricted residual.
    halo : float32 (nchunk, 4, n1, n2)
        Work array (:func:`halo_planes`); its first extent is the number of chunks
        of box slabs (the result does not depend on it).
    """
    n0, n1, n2 = code.shape
    m0, m1, m2 = pat.shape
    nchunk = halo.shape[0]
    wx = np.float32(wx)
    wy = np.float32(wy)
    keep = _keep_table(n2)
    zpl = np.zeros((n1, n2), np.float32)
    for ch in prange(nchunk):
        I0, I1, i0, i1 = _bounds(ch, nchunk, m0, n0)
        if I0 >= I1:
            continue
        h = halo[ch]
        out = np.empty(n2, np.float32)
        tmp = np.empty(n2, np.float32)
        res = np.zeros(2 * m2, np.float32)
        acc = np.empty((m1, m2), np.float32)
        first = np.empty((m1, m2), np.int64)
        multi_ptr = np.empty(m1 + 1, np.int64)
        multi_k = np.empty(m1 * m2, np.int64)
        zrow = zpl[0]
        for i in range(i0 - 2, i0 + 1):
            if i >= 0:
                _zero_sweep_plane(code[i], b[i], wx, wy, keep, i,
                                  _plane(x, h, zpl, i, i0, i1, n0))
        if i0 >= 1:
            _gs_plane(code[i0 - 1], b[i0 - 1], _plane(x, h, zpl, i0 - 2, i0, i1, n0), h[1],
                      x[i0], wx, wy, keep, i0, zrow, out, False)
        for i in range(i0, i1):
            if i + 1 < n0:
                _zero_sweep_plane(code[i + 1], b[i + 1], wx, wy, keep, i + 1,
                                  _plane(x, h, zpl, i + 1, i0, i1, n0))
            _gs_plane(code[i], b[i], _plane(x, h, zpl, i - 1, i0, i1, n0), x[i],
                      _plane(x, h, zpl, i + 1, i0, i1, n0), wx, wy, keep, i + 1, zrow, out,
                      False)
            if (i & 1) == 0 and i >= i0 + 2:
                _restrict_slab(code, wx, wy, x, h, zpl, i0, i1, b, pat, rowbase, lut, count,
                               rc, i // 2 - 1, tmp, res, acc, first, multi_ptr, multi_k)
        if i1 < n0:
            if i1 + 1 < n0:
                _zero_sweep_plane(code[i1 + 1], b[i1 + 1], wx, wy, keep, i1 + 1, h[3])
            _gs_plane(code[i1], b[i1], x[i1 - 1], h[2], _plane(x, h, zpl, i1 + 1, i0, i1, n0),
                      wx, wy, keep, i1 + 1, zrow, out, False)
        _restrict_slab(code, wx, wy, x, h, zpl, i0, i1, b, pat, rowbase, lut, count, rc,
                       I1 - 1, tmp, res, acc, first, multi_ptr, multi_k)


@kernel
def fine_prolong_smooth(code, wx, wy, x, b, xc, pat, rowbase, lut, count, omega, halo):
    """Prolongation and post-smoothing in one pass over the fine level; returns ``b . x``.

    ``x += omega P xc`` (constant on each connected piece of a box), black half
    sweep, red half sweep: the same result as ``_graph.fine_prolong_pieces``
    followed by ``_stencil.fine_gs`` (colour 1, then colour 0), to a few float32 ulps,
    including the returned ``b . x`` (float64, summed per plane, planes in order).
    Arguments as :func:`fine_smooth_restrict`, plus ``xc`` (float32, level-1
    correction) and ``omega`` (float32 scaling of the coarse correction).
    """
    n0, n1, n2 = code.shape
    m0, m1, m2 = pat.shape
    nchunk = halo.shape[0]
    wx = np.float32(wx)
    wy = np.float32(wy)
    keep = _keep_table(n2)
    zpl = np.zeros((n1, n2), np.float32)
    # the old x of each chunk's neighbour planes, one plane per iteration.  The trip count
    # differs from the main loop's on purpose: numba fuses consecutive prange loops of the
    # same range into one, which would let a chunk copy planes its neighbour has updated.
    for t in prange(4 * nchunk):
        t = np.int64(t)
        ch = t // 4
        s = t % 4
        I0, I1, i0, i1 = _bounds(ch, nchunk, m0, n0)
        i = i0 - 2 + s if s < 2 else i1 + s - 2
        if I0 < I1 and i >= 0 and i < n0:
            _copy_plane(x[i], halo[ch, s])
    acc = np.zeros(n0)
    for ch in prange(nchunk):
        I0, I1, i0, i1 = _bounds(ch, nchunk, m0, n0)
        if I0 >= I1:
            continue
        h = halo[ch]
        out = np.empty(n2, np.float32)
        tmp = np.empty(2 * m2, np.float32)
        val = np.empty((m1, m2), np.float32)
        first = np.empty((m1, m2), np.int64)
        multi_ptr = np.empty(m1 + 1, np.int64)
        multi_k = np.empty(m1 * m2, np.int64)
        zrow = zpl[0]
        for I in range(max(I0 - 1, 0), I0 + 1):
            _prolong_slab(code, x, h, zpl, i0, i1, xc, pat, rowbase, lut, count, omega, I,
                          tmp, val, first, multi_ptr, multi_k)
        if i0 >= 1:
            _gs_plane(code[i0 - 1], b[i0 - 1], _plane(x, h, zpl, i0 - 2, i0, i1, n0), h[1],
                      x[i0], wx, wy, keep, i0, zrow, out, False)
        for i in range(i0, i1):
            if i + 1 < n0 and ((i + 1) & 1) == 0:
                _prolong_slab(code, x, h, zpl, i0, i1, xc, pat, rowbase, lut, count, omega,
                              (i + 1) // 2, tmp, val, first, multi_ptr, multi_k)
            _gs_plane(code[i], b[i], _plane(x, h, zpl, i - 1, i0, i1, n0), x[i],
                      _plane(x, h, zpl, i + 1, i0, i1, n0), wx, wy, keep, i + 1, zrow, out,
                      False)
            if i - 1 >= i0:
                acc[i - 1] = _gs_plane(code[i - 1], b[i - 1], _plane(x, h, zpl, i - 2, i0, i1, n0),
                                       x[i - 1], x[i], wx, wy, keep, i - 1, zrow, out, True)
        if i1 < n0:
            _gs_plane(code[i1], b[i1], x[i1 - 1], h[2], _plane(x, h, zpl, i1 + 1, i0, i1, n0),
                      wx, wy, keep, i1 + 1, zrow, out, False)
        acc[i1 - 1] = _gs_plane(code[i1 - 1], b[i1 - 1], _plane(x, h, zpl, i1 - 2, i0, i1, n0),
                                x[i1 - 1], _plane(x, h, zpl, i1, i0, i1, n0), wx, wy, keep,
                                i1 - 1, zrow, out, True)
    total = 0.0
    for i in range(n0):       # in plane order whatever the threads (acc.sum() is a parallel
        total += acc[i]       # reduction in a parallel kernel: its order follows the threads)
    return total


@numba.njit(**_JIT)
def _direction_plane(z_p, p_p, bt, dst):
    """``dst = z + beta p`` on one plane (``dst`` may be ``p_p``)."""
    n1, n2 = z_p.shape
    for j in range(n1):
        zr = z_p[j]
        pr = p_p[j]
        dr = dst[j]
        for k in range(n2):
            dr[k] = zr[k] + bt * pr[k]


@numba.njit(**_JIT)
def _matvec_plane(c_p, xm_p, x_p, xp_p, wx, wy, zrow, tmp, y_p):
    """``y = A x`` on one plane; returns ``x . y`` over it (float64)."""
    n1, n2 = c_p.shape
    s = 0.0
    for j in range(n1):
        xm = xm_p[j]
        xp = xp_p[j]
        ym = x_p[j - 1] if j > 0 else zrow
        yp = x_p[j + 1] if j < n1 - 1 else zrow
        xr = x_p[j]
        for k in range(n2):
            tmp[k] = wx * (xm[k] + xp[k]) + wy * (ym[k] + yp[k])
        if n2 > 1:
            tmp[0] += xr[1]
            for k in range(1, n2 - 1):
                tmp[k] += xr[k - 1] + xr[k + 1]
            tmp[n2 - 1] += xr[n2 - 2]
        c = c_p[j]
        yr = y_p[j]
        for k in range(n2):
            v = _diag(c[k], wx, wy) * xr[k] - tmp[k]
            yr[k] = v if c[k] != 0 else np.float32(0.0)
        s += _row_dot(yr, xr)
    return s


@kernel
def direction_matvec(code, wx, wy, p, w, beta, halo):
    """New CG direction and its image in one pass: ``p = w + beta p``, then ``w = A p``;
    returns ``p . w`` (float64, per-plane sums added in plane order).

    The same arithmetic as ``_stencil.cg_direction`` followed by
    ``_stencil.fine_matvec`` (``w`` holds the preconditioned residual on entry and
    ``A p`` on return); 17 bytes per voxel (``w``, ``p`` read; ``p``, ``w`` written;
    ``code``) instead of 12 + 9.  ``halo`` as in :func:`fine_smooth_restrict` (slots 1
    and 2: the new ``p`` of the planes next to a chunk, computed before any chunk
    overwrites them).
    """
    n0, n1, n2 = code.shape
    m0 = (n0 + 1) // 2
    nchunk = halo.shape[0]
    wx = np.float32(wx)
    wy = np.float32(wy)
    bt = np.float32(beta)
    zpl = np.zeros((n1, n2), np.float32)
    # the new p of each chunk's neighbour planes, before any chunk overwrites p and w;
    # 2 * nchunk iterations so that numba does not fuse this loop with the next one
    for t in prange(2 * nchunk):
        t = np.int64(t)
        ch = t // 2
        I0, I1, i0, i1 = _bounds(ch, nchunk, m0, n0)
        if I0 >= I1:
            continue
        if t % 2 == 0:
            if i0 >= 1:
                _direction_plane(w[i0 - 1], p[i0 - 1], bt, halo[ch, 1])
        elif i1 < n0:
            _direction_plane(w[i1], p[i1], bt, halo[ch, 2])
    acc = np.zeros(n0)
    for ch in prange(nchunk):
        I0, I1, i0, i1 = _bounds(ch, nchunk, m0, n0)
        if I0 >= I1:
            continue
        h = halo[ch]
        tmp = np.empty(n2, np.float32)
        zrow = zpl[0]
        _direction_plane(w[i0], p[i0], bt, p[i0])
        for i in range(i0, i1):
            if i + 1 < i1:
                _direction_plane(w[i + 1], p[i + 1], bt, p[i + 1])
            acc[i] = _matvec_plane(code[i], _plane(p, h, zpl, i - 1, i0, i1, n0), p[i],
                                   _plane(p, h, zpl, i + 1, i0, i1, n0), wx, wy, zrow, tmp, w[i])
    total = 0.0
    for i in range(n0):
        total += acc[i]
    return total
