"""Numba kernels of the 7-point conductance operator on a dense voxel grid.

Internal layout: arrays are indexed ``(i, j, k)`` with the transport direction on
the **last** axis ``k``; the Dirichlet faces are ``k = -1/2`` (potential 1) and
``k = n2 - 1/2`` (potential 0).

Two representations of the operator ``A`` (a weighted graph Laplacian plus the
Dirichlet boundary conductances on its diagonal):

* **fine level** -- a ``uint8`` *code* array plus two scalars ``wx, wy``: the
  face conductances along ``i`` and ``j`` relative to the one along the transport
  axis ``k`` (which is scaled to 1; for voxels of size ``d0 x d1 x d2`` the
  conductance across a face normal to axis ``a`` is area / distance, so
  ``wx = (d1 d2 / d0) / (d0 d1 / d2) = d2^2 / d0^2`` and ``wy = d2^2 / d1^2``).
  ``code`` is 0 for a voxel that is not solved for; otherwise it packs the
  number of solved face neighbours along ``i`` (bits 0-1), along ``j`` (bits 2-3)
  and, in bits 4-6, the number along ``k`` plus 2 per Dirichlet face the voxel
  touches (half-voxel distance: conductance 2).  The diagonal of ``A`` is then
  ``wx (c & 3) + wy ((c >> 2) & 3) + (c >> 4)``, computed on the fly.  Every
  vector is kept exactly 0 on unsolved voxels, so
  ``(A x)_i = diag_i x_i - sum_j w_ij x_j`` needs only ``code`` (1 byte/voxel).
* **coarse levels** -- ``cx, cy, cz`` (conductance between cell ``(i,j,k)`` and
  its ``+x/+y/+z`` neighbour, 0 at the upper edge) and ``diag`` (float32).

Fine kernels work row by row (fixed ``i, j``): the four lateral neighbour rows
are views (a shared zero row stands in outside the grid) and the inner loop over
``k`` has no branches, so LLVM vectorizes it (AVX2: 8 float32 lanes).  The
red-black Gauss-Seidel half sweep computes the update for the whole row into a
row buffer and then keeps it on the cells of the active colour (a select, not a
stride-2 loop).  Reductions are accumulated in float64 per ``i`` slab and summed
afterwards, so the results do not depend on the thread schedule.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from ._jit import JIT as _JIT
from ._jit import JIT_EXACT
from ._jit import kernel

# _HOT: fine_gs and fine_matvec are compiled only with parallel=True (also where they run on
# one thread): their serial compilation ran 25-45 % slower (one thread, CPU ms per call at
# 160^3, best of 7, load 4-7: half sweep 14.4 vs 11.6, matvec 11.8 vs 8.1; the main vector
# loops of both builds are the same instructions, the cause is elsewhere -- not found).  Since
# the fused kernels (_fused) they are off the solver's default path (one fine sweep); they
# serve the box Hierarchy, fine_sweeps > 1 and the tests.  fine_residual64 (2-3 calls per
# solve) has both variants: its serial build is ~30 % slower per call (16.8 vs 12.8 ms at
# 160^3), which costs a study worker far less than compiling its parallel build (~6 s).
# The fused kernels show no such gap (serial / parallel on one thread: 0.99-1.01).


# ----------------------------------------------------------------------------- fine level
@kernel
def fine_code(active):
    """Neighbour-count code of the fine operator from a boolean mask of solved voxels."""
    n0, n1, n2 = active.shape
    code = np.zeros((n0, n1, n2), dtype=np.uint8)
    for i in prange(n0):
        for j in range(n1):
            for k in range(n2):
                if not active[i, j, k]:
                    continue
                cx = 0
                if i > 0 and active[i - 1, j, k]:
                    cx += 1
                if i < n0 - 1 and active[i + 1, j, k]:
                    cx += 1
                cy = 0
                if j > 0 and active[i, j - 1, k]:
                    cy += 1
                if j < n1 - 1 and active[i, j + 1, k]:
                    cy += 1
                cz = 0
                if k > 0 and active[i, j, k - 1]:
                    cz += 1
                if k < n2 - 1 and active[i, j, k + 1]:
                    cz += 1
                if k == 0:
                    cz += 2
                if k == n2 - 1:
                    cz += 2
                code[i, j, k] = cx | (cy << 2) | (cz << 4)
    return code


@numba.njit(**_JIT, inline="always")
def _diag(c, wx, wy):
    return wx * np.float32(c & 3) + wy * np.float32((c >> 2) & 3) + np.float32(c >> 4)


@numba.njit(**_JIT, inline="always")
def _nbr_rows(x, i, j, n0, n1, zrow):
    xm = x[i - 1, j] if i > 0 else zrow
    xp = x[i + 1, j] if i < n0 - 1 else zrow
    ym = x[i, j - 1] if j > 0 else zrow
    yp = x[i, j + 1] if j < n1 - 1 else zrow
    return xm, xp, ym, yp


@numba.njit(**_JIT, inline="always")
def _offsum_row(x, i, j, n0, n1, n2, wx, wy, zrow, out):
    """``out[k] = sum of the weighted neighbour values of (i, j, k)``."""
    xm, xp, ym, yp = _nbr_rows(x, i, j, n0, n1, zrow)
    xr = x[i, j]
    for k in range(n2):
        out[k] = wx * (xm[k] + xp[k]) + wy * (ym[k] + yp[k])
    if n2 > 1:
        out[0] += xr[1]
        for k in range(1, n2 - 1):
            out[k] += xr[k - 1] + xr[k + 1]
        out[n2 - 1] += xr[n2 - 2]


@numba.njit(parallel=True, **_JIT)  # parallel variant only: see _HOT
def fine_matvec(code, wx, wy, x, y):
    """``y = A x`` on the fine level; returns ``x . y`` (float64)."""
    n0, n1, n2 = code.shape
    wx = np.float32(wx)
    wy = np.float32(wy)
    zrow = np.zeros(n2, np.float32)
    acc = np.zeros(n0)
    for i in prange(n0):
        tmp = np.empty(n2, np.float32)
        s = 0.0
        for j in range(n1):
            _offsum_row(x, i, j, n0, n1, n2, wx, wy, zrow, tmp)
            c = code[i, j]
            xr = x[i, j]
            yr = y[i, j]
            for k in range(n2):
                v = _diag(c[k], wx, wy) * xr[k] - tmp[k]
                v = v if c[k] != 0 else np.float32(0.0)
                yr[k] = v
                s += np.float64(v) * np.float64(xr[k])
        acc[i] = s
    return acc.sum()


@numba.njit(**JIT_EXACT)
def _row_dot(a, b):
    """``a . b`` of two float32 (or float64) rows in float64: four partial sums over ``k % 4``, added as
    ``(s0 + s1) + (s2 + s3)``.  A fixed order that needs no fastmath reassociation to run
    as four independent chains (a single running sum without reassociation is one serial
    chain of float64 additions, ~4 cycles per element)."""
    n = a.shape[0]
    m = n - (n & 3)
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    for k in range(0, m, 4):
        s0 += np.float64(a[k]) * np.float64(b[k])
        s1 += np.float64(a[k + 1]) * np.float64(b[k + 1])
        s2 += np.float64(a[k + 2]) * np.float64(b[k + 2])
        s3 += np.float64(a[k + 3]) * np.float64(b[k + 3])
    for k in range(m, n):
        s0 += np.float64(a[k]) * np.float64(b[k])
    return (s0 + s1) + (s2 + s3)


@numba.njit(**JIT_EXACT)
def _residual64_plane(code, wx, wy, x, r, i, zrow, tmp):
    """Plane ``i`` of :func:`fine_residual64`; returns its ``||r||^2`` (float64).

    Compiled without fastmath reassociation, like every helper that a kernel calls
    (``_fused`` explains why: a compiled and a cache-loaded process must agree)."""
    n0, n1, n2 = code.shape
    s = 0.0
    for j in range(n1):
        _offsum_row(x, i, j, n0, n1, n2, wx, wy, zrow, tmp)
        c = code[i, j]
        xr = x[i, j]
        rr = r[i, j]
        tmp[0] += 2.0  # the inlet load b (zeroed below where c[0] == 0)
        for k in range(n2):
            ck = c[k]
            d = wx * np.float64(ck & 3) + wy * np.float64((ck >> 2) & 3) + np.float64(ck >> 4)
            v = tmp[k] - d * xr[k]
            v = v if ck != 0 else 0.0
            rr[k] = v
            tmp[k] = v
        s += _row_dot(tmp, tmp)
    return s


@kernel
def fine_residual64(code, wx, wy, x, r):
    """``r = b - A x`` evaluated in float64 from a float64 ``x``, stored as float32.

    ``b`` is the Dirichlet load: 2 on solved voxels of the first layer (potential 1
    on the inlet face, conductance 2), 0 elsewhere.  Returns ``||r||_2^2`` in
    float64 (of the unrounded residual; per-plane sums added in plane order).
    """
    n0, n1, n2 = code.shape
    zrow = np.zeros(n2)
    acc = np.zeros(n0)
    for i in prange(n0):
        tmp = np.empty(n2)
        acc[i] = _residual64_plane(code, wx, wy, x, r, i, zrow, tmp)
    total = 0.0
    for i in range(n0):
        total += acc[i]
    return total


@numba.njit(**_JIT, inline="always")
def _inv_diag(ck, wx, wy):
    inv = np.float32(1.0) / _diag(ck, wx, wy)
    return inv if ck != 0 else np.float32(0.0)


@numba.njit(**_JIT, inline="always")
def _gs_row(c, xr, br, xm, xp, ym, yp, wx, wy, keep, out):
    """Red-black update of one row into ``out`` (reads ``xr``, never writes it).

    ``out[k]`` = the Gauss-Seidel value where ``keep[k] == 1`` (the active colour;
    0 on unsolved voxels through the zero inverse diagonal), else the old
    ``xr[k]``.  Separate output and a 0/1 float multiplier instead of a parity
    test, so the loop vectorizes.
    """
    n2 = xr.shape[0]
    if n2 == 1:
        v = (br[0] + wx * (xm[0] + xp[0]) + wy * (ym[0] + yp[0])) * _inv_diag(c[0], wx, wy)
        out[0] = xr[0] + keep[0] * (v - xr[0])
        return
    v = (br[0] + wx * (xm[0] + xp[0]) + wy * (ym[0] + yp[0]) + xr[1]) * _inv_diag(c[0], wx, wy)
    out[0] = xr[0] + keep[0] * (v - xr[0])
    for k in range(1, n2 - 1):
        v = (br[k] + wx * (xm[k] + xp[k]) + wy * (ym[k] + yp[k]) + (xr[k - 1] + xr[k + 1])) \
            * _inv_diag(c[k], wx, wy)
        out[k] = xr[k] + keep[k] * (v - xr[k])
    k = n2 - 1
    v = (br[k] + wx * (xm[k] + xp[k]) + wy * (ym[k] + yp[k]) + xr[k - 1]) * _inv_diag(c[k], wx, wy)
    out[k] = xr[k] + keep[k] * (v - xr[k])


@numba.njit(parallel=True, **_JIT)  # parallel variant only: see _HOT
def fine_gs(code, wx, wy, x, b, color, zero_start):
    """One Gauss-Seidel half sweep over the cells with ``(i + j + k + color) % 2 == 0``.

    With ``zero_start`` the current ``x`` is taken as 0 and every cell of ``x`` is
    written (the other colour and unsolved voxels with 0), which saves clearing.
    Returns ``b . x`` after the sweep (float64), which the preconditioned CG
    needs after the last half sweep of a cycle.  The cells of one colour depend
    only on the other colour, so computing a whole row from the old values and
    keeping the active colour is exactly the red-black update.
    """
    n0, n1, n2 = code.shape
    wx = np.float32(wx)
    wy = np.float32(wy)
    zrow = np.zeros(n2, np.float32)
    keep = np.zeros((2, n2), np.float32)     # keep[par, k] = 1 where (k + par) is even
    for k in range(n2):
        keep[k & 1, k] = 1.0
    acc = np.zeros(n0)
    for i in prange(n0):
        out = np.empty(n2, np.float32)
        s = 0.0
        for j in range(n1):
            c = code[i, j]
            xr = x[i, j]
            br = b[i, j]
            kp = keep[(i + j + color) & 1]
            if zero_start:
                for k in range(n2):
                    v = kp[k] * (br[k] * _inv_diag(c[k], wx, wy))
                    xr[k] = v
                    s += np.float64(br[k]) * np.float64(v)
            else:
                xm, xp, ym, yp = _nbr_rows(x, i, j, n0, n1, zrow)
                _gs_row(c, xr, br, xm, xp, ym, yp, wx, wy, kp, out)
                for k in range(n2):
                    v = out[k]
                    xr[k] = v
                    s += np.float64(br[k]) * np.float64(v)
        acc[i] = s
    return acc.sum()


@kernel
def fine_restrict_residual(code, wx, wy, x, b, rc):
    """``rc = P^T (b - A x)``: fine residual summed over 2x2x2 aggregates."""
    n0, n1, n2 = code.shape
    m0, m1, m2 = rc.shape
    wx = np.float32(wx)
    wy = np.float32(wy)
    zrow = np.zeros(n2, np.float32)
    for I in prange(m0):
        tmp = np.empty(n2, np.float32)
        res = np.empty(n2 + 1, np.float32)
        res[n2] = 0.0
        for J in range(m1):
            for K in range(m2):
                rc[I, J, K] = 0.0
        for i in range(2 * I, min(2 * I + 2, n0)):
            for j in range(n1):
                _offsum_row(x, i, j, n0, n1, n2, wx, wy, zrow, tmp)
                c = code[i, j]
                xr = x[i, j]
                br = b[i, j]
                for k in range(n2):
                    ck = c[k]
                    v = br[k] + tmp[k] - _diag(ck, wx, wy) * xr[k]
                    res[k] = v if ck != 0 else np.float32(0.0)
                rcr = rc[I, j >> 1]
                for K in range(m2):
                    rcr[K] += res[2 * K] + res[2 * K + 1]


@kernel
def fine_prolong_add(code, x, xc, omega):
    """``x += omega * P xc`` on the solved voxels (piecewise-constant prolongation)."""
    n0, n1, n2 = code.shape
    m2 = xc.shape[2]
    for i in prange(n0):
        I = i >> 1
        tmp = np.empty(2 * m2, np.float32)
        for j in range(n1):
            xcr = xc[I, j >> 1]
            for K in range(m2):
                v = omega * xcr[K]
                tmp[2 * K] = v
                tmp[2 * K + 1] = v
            c = code[i, j]
            xr = x[i, j]
            for k in range(n2):
                xr[k] += tmp[k] if c[k] != 0 else np.float32(0.0)


@kernel
def coarsen_fine(code, wx, wy, cx, cy, cz, diag):
    """Galerkin operator ``P^T A P`` of the fine level for 2x2x2 box aggregates.

    For piecewise-constant ``P`` the coarse face conductance is the sum of the
    fine conductances crossing between the two aggregates, and the coarse
    diagonal is the sum of the Dirichlet conductances inside the aggregate plus
    all conductances leaving it (the internal ones cancel).  This function writes
    the crossing conductances and the Dirichlet part of ``diag``; call
    :func:`finish_diag` afterwards.
    """
    n0, n1, n2 = code.shape
    m0, m1, m2 = cx.shape
    for I in prange(m0):
        for J in range(m1):
            for K in range(m2):
                gx = 0.0
                gy = 0.0
                gz = 0.0
                bd = 0.0
                for i in range(2 * I, min(2 * I + 2, n0)):
                    for j in range(2 * J, min(2 * J + 2, n1)):
                        for k in range(2 * K, min(2 * K + 2, n2)):
                            if code[i, j, k] == 0:
                                continue
                            if k == 0:
                                bd += 2.0
                            if k == n2 - 1:
                                bd += 2.0
                            if i == 2 * I + 1 and i + 1 < n0 and code[i + 1, j, k] != 0:
                                gx += wx
                            if j == 2 * J + 1 and j + 1 < n1 and code[i, j + 1, k] != 0:
                                gy += wy
                            if k == 2 * K + 1 and k + 1 < n2 and code[i, j, k + 1] != 0:
                                gz += 1.0
                cx[I, J, K] = gx
                cy[I, J, K] = gy
                cz[I, J, K] = gz
                diag[I, J, K] = bd


# ----------------------------------------------------------------------------- coarse levels
@numba.njit(**_JIT, inline="always")
def _coarse_sumcond(cx, cy, cz, i, j, k, n0, n1, n2):
    s = cx[i, j, k] + cy[i, j, k] + cz[i, j, k]
    if i > 0:
        s += cx[i - 1, j, k]
    if j > 0:
        s += cy[i, j - 1, k]
    if k > 0:
        s += cz[i, j, k - 1]
    return s


@kernel
def finish_diag(cx, cy, cz, diag):
    """Add the six face conductances of each cell to its diagonal."""
    n0, n1, n2 = diag.shape
    for i in prange(n0):
        for j in range(n1):
            for k in range(n2):
                diag[i, j, k] += _coarse_sumcond(cx, cy, cz, i, j, k, n0, n1, n2)


@kernel
def coarsen(cx, cy, cz, diag, Cx, Cy, Cz, Diag):
    """Galerkin coarsening of a coarse level (see :func:`coarsen_fine`)."""
    n0, n1, n2 = diag.shape
    m0, m1, m2 = Diag.shape
    for I in prange(m0):
        for J in range(m1):
            for K in range(m2):
                gx = 0.0
                gy = 0.0
                gz = 0.0
                bd = 0.0
                for i in range(2 * I, min(2 * I + 2, n0)):
                    for j in range(2 * J, min(2 * J + 2, n1)):
                        for k in range(2 * K, min(2 * K + 2, n2)):
                            # Dirichlet part = diagonal minus the face conductances
                            bd += diag[i, j, k] - _coarse_sumcond(cx, cy, cz, i, j, k, n0, n1, n2)
                            if i == 2 * I + 1:
                                gx += cx[i, j, k]
                            if j == 2 * J + 1:
                                gy += cy[i, j, k]
                            if k == 2 * K + 1:
                                gz += cz[i, j, k]
                Cx[I, J, K] = gx
                Cy[I, J, K] = gy
                Cz[I, J, K] = gz
                # the Dirichlet part is a whole number (2 per boundary voxel face,
                # transport conductance 1): rounding removes the float32 error of
                # the anisotropic lateral conductances from the subtraction
                Diag[I, J, K] = np.round(bd)


@numba.njit(**_JIT, inline="always")
def _coarse_rows(cx, cy, x, i, j, n0, n1, zrow):
    """Lateral neighbour rows of ``x`` and the conductance rows towards them."""
    if i > 0:
        xm = x[i - 1, j]
        gxm = cx[i - 1, j]
    else:
        xm = zrow
        gxm = zrow
    xp = x[i + 1, j] if i < n0 - 1 else zrow    # cx[i] is 0 on the last plane
    if j > 0:
        ym = x[i, j - 1]
        gym = cy[i, j - 1]
    else:
        ym = zrow
        gym = zrow
    yp = x[i, j + 1] if j < n1 - 1 else zrow
    return xm, xp, ym, yp, gxm, gym


@numba.njit(**_JIT, inline="always")
def _coarse_offsum_row(cx, cy, cz, x, i, j, n0, n1, n2, zrow, out):
    xm, xp, ym, yp, gxm, gym = _coarse_rows(cx, cy, x, i, j, n0, n1, zrow)
    gx = cx[i, j]
    gy = cy[i, j]
    gz = cz[i, j]
    xr = x[i, j]
    for k in range(n2):
        out[k] = gxm[k] * xm[k] + gx[k] * xp[k] + gym[k] * ym[k] + gy[k] * yp[k]
    if n2 > 1:
        out[0] += gz[0] * xr[1]
        for k in range(1, n2 - 1):
            out[k] += gz[k - 1] * xr[k - 1] + gz[k] * xr[k + 1]
        out[n2 - 1] += gz[n2 - 2] * xr[n2 - 2]


@kernel
def coarse_gs(cx, cy, cz, diag, x, b, color, zero_start):
    """Red-black Gauss-Seidel half sweep on a coarse level (see :func:`fine_gs`)."""
    n0, n1, n2 = diag.shape
    zrow = np.zeros(n2, np.float32)
    keep = np.zeros((2, n2), np.float32)
    for k in range(n2):
        keep[k & 1, k] = 1.0
    for i in prange(n0):
        tmp = np.empty(n2, np.float32)
        for j in range(n1):
            dr = diag[i, j]
            xr = x[i, j]
            br = b[i, j]
            kp = keep[(i + j + color) & 1]
            if zero_start:
                for k in range(n2):
                    inv = np.float32(1.0) / dr[k]
                    inv = inv if dr[k] != 0.0 else np.float32(0.0)
                    xr[k] = kp[k] * (br[k] * inv)
            else:
                _coarse_offsum_row(cx, cy, cz, x, i, j, n0, n1, n2, zrow, tmp)
                for k in range(n2):
                    inv = np.float32(1.0) / dr[k]
                    inv = inv if dr[k] != 0.0 else np.float32(0.0)
                    v = (br[k] + tmp[k]) * inv
                    tmp[k] = xr[k] + kp[k] * (v - xr[k])
                for k in range(n2):
                    xr[k] = tmp[k]


@kernel
def coarse_restrict_residual(cx, cy, cz, diag, x, b, rc):
    """``rc = P^T (b - A x)`` on a coarse level."""
    n0, n1, n2 = diag.shape
    m0, m1, m2 = rc.shape
    zrow = np.zeros(n2, np.float32)
    for I in prange(m0):
        tmp = np.empty(n2 + 1, np.float32)
        tmp[n2] = 0.0
        for J in range(m1):
            for K in range(m2):
                rc[I, J, K] = 0.0
        for i in range(2 * I, min(2 * I + 2, n0)):
            for j in range(n1):
                _coarse_offsum_row(cx, cy, cz, x, i, j, n0, n1, n2, zrow, tmp)
                dr = diag[i, j]
                xr = x[i, j]
                br = b[i, j]
                for k in range(n2):
                    v = br[k] + tmp[k] - dr[k] * xr[k]
                    tmp[k] = v if dr[k] != 0.0 else np.float32(0.0)
                rcr = rc[I, j >> 1]
                for K in range(m2):
                    rcr[K] += tmp[2 * K] + tmp[2 * K + 1]


@kernel
def coarse_prolong_add(diag, x, xc, omega):
    """``x += omega * P xc`` on the active cells of a coarse level."""
    n0, n1, n2 = diag.shape
    m2 = xc.shape[2]
    for i in prange(n0):
        I = i >> 1
        tmp = np.empty(2 * m2, np.float32)
        for j in range(n1):
            xcr = xc[I, j >> 1]
            for K in range(m2):
                v = omega * xcr[K]
                tmp[2 * K] = v
                tmp[2 * K + 1] = v
            dr = diag[i, j]
            xr = x[i, j]
            for k in range(n2):
                xr[k] += tmp[k] if dr[k] != 0.0 else np.float32(0.0)


# ----------------------------------------------------------------------------- vectors
@kernel
def dot(a, b):
    """``a . b`` accumulated in float64."""
    n0 = a.shape[0]
    acc = np.zeros(n0)
    for i in prange(n0):
        s = 0.0
        ai = a[i]
        bi = b[i]
        for j in range(ai.shape[0]):
            aij = ai[j]
            bij = bi[j]
            for k in range(aij.shape[0]):
                s += np.float64(aij[k]) * np.float64(bij[k])
        acc[i] = s
    return acc.sum()


@kernel
def cg_update(u, r, p, q, alpha):
    """``u += alpha p`` (float64 += float32); ``r -= alpha q``; returns ``r . r`` (float64)."""
    n0, n1, n2 = r.shape
    a32 = np.float32(alpha)
    acc = np.zeros(n0)
    for i in prange(n0):
        s = 0.0
        for j in range(n1):
            ur = u[i, j]
            rr = r[i, j]
            pr = p[i, j]
            qr = q[i, j]
            for k in range(n2):
                ur[k] += alpha * np.float64(pr[k])
                v = rr[k] - a32 * qr[k]
                rr[k] = v
                s += np.float64(v) * np.float64(v)
        acc[i] = s
    return acc.sum()


@kernel
def cg_direction(p, z, beta):
    """``p = z + beta p``."""
    n0, n1, n2 = p.shape
    bt = np.float32(beta)
    for i in prange(n0):
        for j in range(n1):
            pr = p[i, j]
            zr = z[i, j]
            for k in range(n2):
                pr[k] = zr[k] + bt * pr[k]


@kernel
def section_currents(code, u):
    """Current through each of the ``n2 + 1`` cross-sections ``k = -1/2 .. n2 - 1/2``.

    Inlet face: ``2 (1 - u)`` per solved voxel of the first layer; interior face
    between layers ``k-1`` and ``k``: ``u[k-1] - u[k]`` per pair of solved voxels;
    outlet face: ``2 u`` per solved voxel of the last layer.  Float64, in units of
    the transport-axis face conductance.
    """
    n0, n1, n2 = code.shape
    acc = np.zeros((n0, n2 + 1))
    for i in prange(n0):
        for j in range(n1):
            if code[i, j, 0] != 0:
                acc[i, 0] += 2.0 * (1.0 - u[i, j, 0])
            for k in range(1, n2):
                if code[i, j, k - 1] != 0 and code[i, j, k] != 0:
                    acc[i, k] += u[i, j, k - 1] - u[i, j, k]
            if code[i, j, n2 - 1] != 0:
                acc[i, n2] += 2.0 * u[i, j, n2 - 1]
    out = np.zeros(n2 + 1)
    for i in range(n0):
        out += acc[i]
    return out
