"""Numba kernels of the 7-point conductance operator on a dense voxel grid.

Internal layout: arrays are indexed ``(i, j, k)`` with the transport direction on
the **last** axis ``k``; the Dirichlet faces are ``k = -1/2`` (potential 1) and
``k = n2 - 1/2`` (potential 0).

Two representations of the operator ``A`` (a weighted graph Laplacian plus the
Dirichlet boundary conductances on its diagonal):

* **fine level** -- a ``uint8`` *degree* array ``deg``: 0 for a voxel that is not
  solved for, otherwise the diagonal of ``A`` = number of face neighbours in the
  solved set + 2 per Dirichlet face the voxel touches (the half-voxel distance to
  the face gives conductance 2).  All face conductances between solved voxels are
  1, and every vector is kept exactly 0 on unsolved voxels, so
  ``(A x)_i = deg_i x_i - sum_{j ~ i} x_j`` needs only ``deg`` (1 byte per voxel).
* **coarse levels** -- ``cx, cy, cz`` (conductance between cell ``(i,j,k)`` and
  its ``+x/+y/+z`` neighbour, 0 at the upper edge) and ``diag`` (float32).

Reductions are accumulated in float64 per ``i`` slab and summed afterwards, so
the results do not depend on the thread schedule.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

_JIT = dict(cache=True, nogil=True)
_PJIT = dict(cache=True, nogil=True, parallel=True)


# ----------------------------------------------------------------------------- fine level
@numba.njit(**_PJIT)
def degree(active):
    """Diagonal of the fine operator from a boolean mask of solved voxels."""
    n0, n1, n2 = active.shape
    deg = np.zeros((n0, n1, n2), dtype=np.uint8)
    for i in prange(n0):
        for j in range(n1):
            for k in range(n2):
                if not active[i, j, k]:
                    continue
                d = 0
                if i > 0 and active[i - 1, j, k]:
                    d += 1
                if i < n0 - 1 and active[i + 1, j, k]:
                    d += 1
                if j > 0 and active[i, j - 1, k]:
                    d += 1
                if j < n1 - 1 and active[i, j + 1, k]:
                    d += 1
                if k > 0 and active[i, j, k - 1]:
                    d += 1
                if k < n2 - 1 and active[i, j, k + 1]:
                    d += 1
                if k == 0:
                    d += 2
                if k == n2 - 1:
                    d += 2
                deg[i, j, k] = d
    return deg


@numba.njit(**_JIT, inline="always")
def _fine_offsum(x, i, j, k, n0, n1, n2):
    s = 0.0
    if i > 0:
        s += x[i - 1, j, k]
    if i < n0 - 1:
        s += x[i + 1, j, k]
    if j > 0:
        s += x[i, j - 1, k]
    if j < n1 - 1:
        s += x[i, j + 1, k]
    if k > 0:
        s += x[i, j, k - 1]
    if k < n2 - 1:
        s += x[i, j, k + 1]
    return s


@numba.njit(**_PJIT)
def fine_matvec(deg, x, y):
    """``y = A x`` on the fine level; returns ``x . y`` (float64)."""
    n0, n1, n2 = deg.shape
    acc = np.zeros(n0)
    for i in prange(n0):
        s = 0.0
        for j in range(n1):
            for k in range(n2):
                d = deg[i, j, k]
                if d == 0:
                    y[i, j, k] = 0.0
                    continue
                v = d * x[i, j, k] - _fine_offsum(x, i, j, k, n0, n1, n2)
                y[i, j, k] = v
                s += np.float64(v) * x[i, j, k]
        acc[i] = s
    return acc.sum()


@numba.njit(**_PJIT)
def fine_residual64(deg, x, r):
    """``r = b - A x`` evaluated in float64 from a float64 ``x``, stored as float32.

    ``b`` is the Dirichlet load: 2 on solved voxels of the first layer (potential 1
    on the inlet face, conductance 2), 0 elsewhere.  Returns ``||r||_2^2`` in
    float64 (of the unrounded residual).
    """
    n0, n1, n2 = deg.shape
    acc = np.zeros(n0)
    for i in prange(n0):
        s = 0.0
        for j in range(n1):
            for k in range(n2):
                d = deg[i, j, k]
                if d == 0:
                    r[i, j, k] = 0.0
                    continue
                v = _fine_offsum(x, i, j, k, n0, n1, n2) - d * x[i, j, k]
                if k == 0:
                    v += 2.0
                r[i, j, k] = v
                s += v * v
        acc[i] = s
    return acc.sum()


@numba.njit(**_PJIT)
def fine_gs(deg, x, b, color, zero_start):
    """One Gauss-Seidel half sweep over the cells with ``(i + j + k) % 2 == color``.

    With ``zero_start`` the current ``x`` is taken as 0 and every cell of ``x`` is
    written (the other colour and unsolved voxels with 0), which saves clearing.
    """
    n0, n1, n2 = deg.shape
    for i in prange(n0):
        for j in range(n1):
            if zero_start:
                for k in range(n2):
                    x[i, j, k] = 0.0
                k0 = (i + j + color) & 1
                for k in range(k0, n2, 2):
                    d = deg[i, j, k]
                    if d != 0:
                        x[i, j, k] = b[i, j, k] / d
            else:
                k0 = (i + j + color) & 1
                for k in range(k0, n2, 2):
                    d = deg[i, j, k]
                    if d != 0:
                        x[i, j, k] = (b[i, j, k] + _fine_offsum(x, i, j, k, n0, n1, n2)) / d


@numba.njit(**_PJIT)
def fine_restrict_residual(deg, x, b, rc):
    """``rc = P^T (b - A x)``: fine residual summed over 2x2x2 aggregates."""
    n0, n1, n2 = deg.shape
    m0, m1, m2 = rc.shape
    for I in prange(m0):
        for J in range(m1):
            for K in range(m2):
                rc[I, J, K] = 0.0
        for i in range(2 * I, min(2 * I + 2, n0)):
            for j in range(n1):
                J = j >> 1
                for k in range(n2):
                    d = deg[i, j, k]
                    if d == 0:
                        continue
                    v = b[i, j, k] + _fine_offsum(x, i, j, k, n0, n1, n2) - d * x[i, j, k]
                    rc[I, J, k >> 1] += v


@numba.njit(**_PJIT)
def fine_prolong_add(deg, x, xc, omega):
    """``x += omega * P xc`` on the solved voxels (piecewise-constant prolongation)."""
    n0, n1, n2 = deg.shape
    for i in prange(n0):
        I = i >> 1
        for j in range(n1):
            J = j >> 1
            for k in range(n2):
                if deg[i, j, k] != 0:
                    x[i, j, k] += omega * xc[I, J, k >> 1]


@numba.njit(**_PJIT)
def coarsen_fine(deg, cx, cy, cz, diag):
    """Galerkin operator ``P^T A P`` of the fine level for 2x2x2 box aggregates.

    For piecewise-constant ``P`` the coarse face conductance is the sum of the
    fine conductances crossing between the two aggregates, and the coarse
    diagonal is the sum of the Dirichlet conductances inside the aggregate plus
    all conductances leaving it (the internal ones cancel).  This function writes
    the crossing conductances and the Dirichlet part of ``diag``; call
    :func:`finish_diag` afterwards.
    """
    n0, n1, n2 = deg.shape
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
                            if deg[i, j, k] == 0:
                                continue
                            if k == 0:
                                bd += 2.0
                            if k == n2 - 1:
                                bd += 2.0
                            if i == 2 * I + 1 and i + 1 < n0 and deg[i + 1, j, k] != 0:
                                gx += 1.0
                            if j == 2 * J + 1 and j + 1 < n1 and deg[i, j + 1, k] != 0:
                                gy += 1.0
                            if k == 2 * K + 1 and k + 1 < n2 and deg[i, j, k + 1] != 0:
                                gz += 1.0
                cx[I, J, K] = gx
                cy[I, J, K] = gy
                cz[I, J, K] = gz
                diag[I, J, K] = bd


# ----------------------------------------------------------------------------- coarse levels
@numba.njit(**_JIT, inline="always")
def _coarse_offsum(cx, cy, cz, x, i, j, k, n0, n1, n2):
    s = 0.0
    if i > 0:
        s += cx[i - 1, j, k] * x[i - 1, j, k]
    if i < n0 - 1:
        s += cx[i, j, k] * x[i + 1, j, k]
    if j > 0:
        s += cy[i, j - 1, k] * x[i, j - 1, k]
    if j < n1 - 1:
        s += cy[i, j, k] * x[i, j + 1, k]
    if k > 0:
        s += cz[i, j, k - 1] * x[i, j, k - 1]
    if k < n2 - 1:
        s += cz[i, j, k] * x[i, j, k + 1]
    return s


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


@numba.njit(**_PJIT)
def finish_diag(cx, cy, cz, diag):
    """Add the six face conductances of each cell to its diagonal."""
    n0, n1, n2 = diag.shape
    for i in prange(n0):
        for j in range(n1):
            for k in range(n2):
                diag[i, j, k] += _coarse_sumcond(cx, cy, cz, i, j, k, n0, n1, n2)


@numba.njit(**_PJIT)
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
                            # (exact: all values are integers below 2**24).
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
                Diag[I, J, K] = bd


@numba.njit(**_PJIT)
def coarse_gs(cx, cy, cz, diag, x, b, color, zero_start):
    """Red-black Gauss-Seidel half sweep on a coarse level (see :func:`fine_gs`)."""
    n0, n1, n2 = diag.shape
    for i in prange(n0):
        for j in range(n1):
            if zero_start:
                for k in range(n2):
                    x[i, j, k] = 0.0
                k0 = (i + j + color) & 1
                for k in range(k0, n2, 2):
                    d = diag[i, j, k]
                    if d != 0.0:
                        x[i, j, k] = b[i, j, k] / d
            else:
                k0 = (i + j + color) & 1
                for k in range(k0, n2, 2):
                    d = diag[i, j, k]
                    if d != 0.0:
                        x[i, j, k] = (
                            b[i, j, k] + _coarse_offsum(cx, cy, cz, x, i, j, k, n0, n1, n2)
                        ) / d


@numba.njit(**_PJIT)
def coarse_restrict_residual(cx, cy, cz, diag, x, b, rc):
    """``rc = P^T (b - A x)`` on a coarse level."""
    n0, n1, n2 = diag.shape
    m0, m1, m2 = rc.shape
    for I in prange(m0):
        for J in range(m1):
            for K in range(m2):
                rc[I, J, K] = 0.0
        for i in range(2 * I, min(2 * I + 2, n0)):
            for j in range(n1):
                J = j >> 1
                for k in range(n2):
                    d = diag[i, j, k]
                    if d == 0.0:
                        continue
                    v = (b[i, j, k] + _coarse_offsum(cx, cy, cz, x, i, j, k, n0, n1, n2)
                         - d * x[i, j, k])
                    rc[I, J, k >> 1] += v


@numba.njit(**_PJIT)
def coarse_prolong_add(diag, x, xc, omega):
    """``x += omega * P xc`` on the active cells of a coarse level."""
    n0, n1, n2 = diag.shape
    for i in prange(n0):
        I = i >> 1
        for j in range(n1):
            J = j >> 1
            for k in range(n2):
                if diag[i, j, k] != 0.0:
                    x[i, j, k] += omega * xc[I, J, k >> 1]


# ----------------------------------------------------------------------------- vectors
@numba.njit(**_PJIT)
def dot(a, b):
    """``a . b`` accumulated in float64."""
    n0 = a.shape[0]
    acc = np.zeros(n0)
    for i in prange(n0):
        s = 0.0
        ai = a[i]
        bi = b[i]
        for j in range(ai.shape[0]):
            for k in range(ai.shape[1]):
                s += np.float64(ai[j, k]) * bi[j, k]
        acc[i] = s
    return acc.sum()


@numba.njit(**_PJIT)
def cg_update(x, r, p, q, alpha):
    """``x += alpha p``; ``r -= alpha q``; returns ``r . r`` (float64)."""
    n0, n1, n2 = x.shape
    a = np.float32(alpha)
    acc = np.zeros(n0)
    for i in prange(n0):
        s = 0.0
        for j in range(n1):
            for k in range(n2):
                x[i, j, k] += a * p[i, j, k]
                v = r[i, j, k] - a * q[i, j, k]
                r[i, j, k] = v
                s += np.float64(v) * v
        acc[i] = s
    return acc.sum()


@numba.njit(**_PJIT)
def cg_direction(p, z, beta):
    """``p = z + beta p``."""
    n0, n1, n2 = p.shape
    bt = np.float32(beta)
    for i in prange(n0):
        for j in range(n1):
            for k in range(n2):
                p[i, j, k] = z[i, j, k] + bt * p[i, j, k]


@numba.njit(**_PJIT)
def add_to(x64, d):
    """``x64 += d`` (float64 += float32)."""
    n0, n1, n2 = d.shape
    for i in prange(n0):
        for j in range(n1):
            for k in range(n2):
                x64[i, j, k] += d[i, j, k]


@numba.njit(**_PJIT)
def section_currents(deg, u):
    """Current through each of the ``n2 + 1`` cross-sections ``k = -1/2 .. n2 - 1/2``.

    Inlet face: ``2 (1 - u)`` per solved voxel of the first layer; interior face
    between layers ``k-1`` and ``k``: ``u[k-1] - u[k]`` per pair of solved voxels;
    outlet face: ``2 u`` per solved voxel of the last layer.  Float64.
    """
    n0, n1, n2 = deg.shape
    acc = np.zeros((n0, n2 + 1))
    for i in prange(n0):
        for j in range(n1):
            if deg[i, j, 0] != 0:
                acc[i, 0] += 2.0 * (1.0 - u[i, j, 0])
            for k in range(1, n2):
                if deg[i, j, k - 1] != 0 and deg[i, j, k] != 0:
                    acc[i, k] += u[i, j, k - 1] - u[i, j, k]
            if deg[i, j, n2 - 1] != 0:
                acc[i, n2] += 2.0 * u[i, j, n2 - 1]
    out = np.zeros(n2 + 1)
    for i in range(n0):
        out += acc[i]
    return out
