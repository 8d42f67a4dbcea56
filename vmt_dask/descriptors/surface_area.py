"""Specific surface area: 2x2x2 configuration estimator with 13 directions."""
from __future__ import annotations

import functools

import numba
import numpy as np

from ._parallel import run_chunks
from ._validate import as_mask, check_spacing

__all__ = ["specific_surface_area", "crofton_weights", "CROFTON_DIRECTIONS", "CROFTON_WEIGHTS"]

#: The 13 lattice direction pairs: 3 axes, 6 face diagonals, 4 body diagonals.
CROFTON_DIRECTIONS = np.array(
    [
        (1, 0, 0), (0, 1, 0), (0, 0, 1),
        (1, 1, 0), (1, -1, 0), (1, 0, 1), (1, 0, -1), (0, 1, 1), (0, 1, -1),
        (1, 1, 1), (1, 1, -1), (1, -1, 1), (-1, 1, 1),
    ],
    dtype=np.int64,
)
#: Weight of each direction *pair* (twice the area of the spherical Voronoi cell of
#: one of the 26 directions on the unit sphere, divided by 4 pi); they sum to 1.
CROFTON_WEIGHTS = np.array(
    [2 * 0.04577789120476] * 3 + [2 * 0.03698062787608] * 6 + [2 * 0.03519563978232] * 4
)


def crofton_weights(spacing=(1.0, 1.0, 1.0)) -> np.ndarray:
    """Weights of the 13 direction pairs for a lattice with edge lengths ``spacing``.

    Twice the area of the spherical Voronoi cell of each of the 26 unit vectors
    ``u = D v / |D v|`` (``D = diag(spacing)``) over ``4 pi``: the quadrature
    weights of Cauchy's formula on the physical directions of the lattice lines.
    For cubic voxels they are :data:`CROFTON_WEIGHTS`.
    """
    from scipy.spatial import SphericalVoronoi

    d = CROFTON_DIRECTIONS * np.asarray(spacing, float)
    pts = np.concatenate([d, -d])
    pts /= np.linalg.norm(pts, axis=1)[:, None]
    areas = SphericalVoronoi(pts).calculate_areas()
    return (areas[:13] + areas[13:]) / (4 * np.pi)


def _lut(spacing=(1.0, 1.0, 1.0)) -> np.ndarray:
    """Surface contribution of each of the 256 configurations (per unit of ``spacing``).

    Corner ``(dx, dy, dz)`` of a cell is bit ``dx + 2 dy + 4 dz``.  For direction
    ``v_j``, the corner pairs ``(p, p + v_j)`` inside one cell number
    ``c_j`` = 4 (axes), 2 (face diagonals), 1 (body diagonals); every lattice pair
    lies in exactly ``c_j`` cells, so summing ``diff_j / c_j`` over cells counts
    each phase/complement transition once.  The lines in direction ``v_j`` have
    total length ``n_cells * |D v_j|`` (one pair of length ``|D v_j|`` per cell
    on average, ``D = diag(spacing)``), so
    ``P_j = sum_cells diff_j / (c_j |D v_j| n_cells)`` and ``S_V = 2 sum_j w_j P_j``.
    """
    spacing = np.asarray(spacing, float)
    weights = CROFTON_WEIGHTS if np.all(spacing == spacing[0]) else crofton_weights(spacing)
    corners = [(dx, dy, dz) for dz in (0, 1) for dy in (0, 1) for dx in (0, 1)]
    lut = np.zeros(256)
    for conf in range(256):
        bits = [(conf >> b) & 1 for b in range(8)]
        total = 0.0
        for v, w in zip(CROFTON_DIRECTIONS, weights):
            diff = 0
            pairs = 0
            for p in corners:
                q = (p[0] + v[0], p[1] + v[1], p[2] + v[2])
                if min(q) < 0 or max(q) > 1:
                    continue
                pairs += 1
                a = bits[p[0] + 2 * p[1] + 4 * p[2]]
                b = bits[q[0] + 2 * q[1] + 4 * q[2]]
                diff += a != b
            total += 2.0 * w * diff / (pairs * float(np.linalg.norm(v * spacing)))
        lut[conf] = total
    return lut


_LUT = _lut()


@functools.lru_cache(maxsize=32)
def _lut_for(spacing: tuple[float, float, float]) -> np.ndarray:
    return _lut(spacing)


@numba.njit(cache=True, nogil=True)
def _configuration_histogram(m, hist, lo, hi):
    """``hist[i]`` (zeroed) += the configurations of the cells between x-planes ``i`` and ``i + 1``.

    Per pair of rows, first the 4-bit codes of the cell faces along z (a vectorized pass),
    then the cells' 8-bit codes (two neighbouring faces) counted into four interleaved
    histograms: a run of equal codes (the inside and the outside of the phase) no longer
    waits on its own previous increment (BM01 200^3 one thread: 2.1-2.8x against one
    histogram fed face by face; the same counts)."""
    nx, ny, nz = m.shape
    code = np.empty(nz, np.uint8)
    h = np.zeros((4, 256), np.int64)
    n = nz - 1
    q = n - n % 4
    for i in range(lo, hi):
        for j in range(ny - 1):
            a = m[i, j]
            b = m[i + 1, j]
            c = m[i, j + 1]
            d = m[i + 1, j + 1]
            for k in range(nz):
                code[k] = a[k] | (b[k] << 1) | (c[k] << 2) | (d[k] << 3)
            for k in range(0, q, 4):
                h[0, code[k] | (code[k + 1] << 4)] += 1
                h[1, code[k + 1] | (code[k + 2] << 4)] += 1
                h[2, code[k + 2] | (code[k + 3] << 4)] += 1
                h[3, code[k + 3] | (code[k + 4] << 4)] += 1
            for k in range(q, n):
                h[0, code[k] | (code[k + 1] << 4)] += 1
        for v in range(256):
            hist[i, v] += h[0, v] + h[1, v] + h[2, v] + h[3, v]
            h[0, v] = 0
            h[1, v] = 0
            h[2, v] = 0
            h[3, v] = 0


def configuration_histogram(mask: np.ndarray) -> np.ndarray:
    """Counts of the 256 2x2x2 configurations over all cells of the window."""
    m = np.ascontiguousarray(mask).view(np.uint8)
    hist = np.zeros((m.shape[0] - 1, 256), np.int64)
    run_chunks(_configuration_histogram, (m, hist), m.shape[0] - 1, work=m.size)
    return hist.sum(axis=0)


def specific_surface_area(mask: np.ndarray, *, voxel_size) -> float:
    """Specific surface area of a phase in 1/micrometre.

    Parameters
    ----------
    mask : ndarray of bool, shape (nx, ny, nz), each axis >= 2
        Phase indicator.
    voxel_size : float or (dx, dy, dz)
        Edge length(s) of a voxel in micrometres (anisotropic voxels allowed).

    Returns
    -------
    float
        Estimated surface area of the phase boundary per unit volume of the
        window, in 1/micrometre.

    Notes
    -----
    Discrete Crofton formula of Schladitz, Ohser and Nagel (2006), as used in the
    paper (Section 2.3, ref. [41]): from the histogram ``h`` of the 256
    configurations of 2x2x2 cells,

    .. math:: S_V = 2 \\sum_{j=1}^{13} w_j P_j, \\qquad
              P_j = \\frac{\\sum_c h_c\\, d_j(c) / c_j}{n_{cells} |v_j| a}

    with ``d_j(c)`` the number of differing corner pairs along ``v_j`` in
    configuration ``c``, ``c_j`` = 4, 2, 1 the number of such pairs per cell,
    ``a`` the voxel size and ``w_j`` the spherical Voronoi weights of the 13
    direction pairs (:data:`CROFTON_WEIGHTS`, summing to 1).  ``S_V = 2 P_L`` is
    the stereological relation between surface density and the mean number of
    boundary crossings per unit line length.  Only cells inside the window are
    used (minus sampling): the window border is not a surface.

    The direction discretization is unbiased for isotropic normals (Cauchy's
    formula); for a plane with normal ``n`` the estimate is
    ``2 sum_j w_j |n . u_j|`` times the truth (0.9266 for an axis normal).

    Anisotropic voxels ``(dx, dy, dz)``: the lattice lines run along the physical
    vectors ``D v_j`` (``D = diag(dx, dy, dz)``), so ``|v_j| a`` becomes
    ``|D v_j|`` and the weights become the spherical Voronoi weights of the unit
    vectors ``D v_j / |D v_j|`` (:func:`crofton_weights`; Ohser and Schladitz,
    "3D Images of Materials Structures", 2009, ch. 5: Crofton weights for a
    cuboidal lattice).  For cubic voxels this is the formula above.
    """
    mask = as_mask(mask)
    spacing = check_spacing(voxel_size)
    if min(mask.shape) < 2:
        raise ValueError(f"mask needs at least 2 voxels along every axis, got shape {mask.shape}")
    hist = configuration_histogram(mask)
    n_cells = (mask.shape[0] - 1) * (mask.shape[1] - 1) * (mask.shape[2] - 1)
    if spacing[0] == spacing[1] == spacing[2]:
        return float(hist @ _LUT) / (n_cells * spacing[0])
    return float(hist @ _lut_for(spacing)) / n_cells
