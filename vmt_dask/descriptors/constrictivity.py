"""Constrictivity from the continuous phase size distribution and simulated intrusion."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from ._validate import as_mask, check_axis, check_voxel_size
from .edt import EDT_INF, _ball_cover_values, squared_edt

__all__ = ["constrictivity", "ConstrictivityResult", "cpsd", "smip"]


@dataclass(frozen=True)
class ConstrictivityResult:
    """Constrictivity of one phase.

    Attributes
    ----------
    beta : float
        ``(r_min / r_max) ** 2`` in [0, 1].
    r_min, r_max : float
        Characteristic radii in micrometres (``r_min`` from SMIP, ``r_max`` from
        CPSD); both ``inf`` when the window holds no complement voxel at all.
    k_min, k_max : int
        The same radii as squared voxel counts: ``r = sqrt(k) * voxel_size``.
    """

    beta: float
    r_min: float
    r_max: float
    k_min: int
    k_max: int


@numba.njit(cache=True, nogil=True, inline="always")
def _push(item, nxt, head, n_nodes, u, bucket):
    """Push voxel ``u`` onto bucket ``bucket`` (linked lists in growable arrays)."""
    if n_nodes == item.size:
        cap = item.size + item.size // 2 + 1024
        g_item = np.empty(cap, np.int32)
        g_next = np.empty(cap, np.int64)
        g_item[:n_nodes] = item[:n_nodes]
        g_next[:n_nodes] = nxt[:n_nodes]
        item = g_item
        nxt = g_next
    item[n_nodes] = u
    nxt[n_nodes] = head[bucket]
    head[bucket] = n_nodes
    return item, nxt, n_nodes + 1


@numba.njit(cache=True, nogil=True)
def _reach(dt2, vmax):
    """Bottleneck value of the best 6-connected path from the plane z = 0.

    ``reach[c] = max over paths (inside dt2 > 0) from a voxel with z = 0 to c of
    the smallest dt2 on the path`` (0 where no such path exists).  Bucket queue
    over the integer values ``1 .. vmax`` (singly linked lists in growable
    arrays), processed from high to low: a voxel is final when popped at its
    current value, stale entries are skipped.  A voxel is pushed only when its
    value strictly rises, so each (voxel, value) pair is queued at most once.
    """
    nx, ny, nz = dt2.shape
    flat = np.zeros(dt2.size, np.int32)
    d = dt2.reshape(dt2.size)
    head = np.full(vmax + 1, -1, np.int64)
    cap = max(1024, dt2.size // 2)
    item = np.empty(cap, np.int32)
    nxt = np.empty(cap, np.int64)
    n_nodes = 0
    syz = ny * nz
    for i in range(nx):
        for j in range(ny):
            u = i * syz + j * nz
            w = d[u]
            if w > 0:
                flat[u] = w
                item, nxt, n_nodes = _push(item, nxt, head, n_nodes, u, w)
    for b in range(vmax, 0, -1):
        while head[b] >= 0:
            node = head[b]
            head[b] = nxt[node]
            u = np.int64(item[node])
            if flat[u] != b:
                continue  # stale entry: the voxel was raised and finalized higher
            i = u // syz
            rem = u - i * syz
            j = rem // nz
            z = rem - j * nz
            for dd in range(6):
                if dd == 0:
                    if i == 0:
                        continue
                    v = u - syz
                elif dd == 1:
                    if i == nx - 1:
                        continue
                    v = u + syz
                elif dd == 2:
                    if j == 0:
                        continue
                    v = u - nz
                elif dd == 3:
                    if j == ny - 1:
                        continue
                    v = u + nz
                elif dd == 4:
                    if z == 0:
                        continue
                    v = u - 1
                else:
                    if z == nz - 1:
                        continue
                    v = u + 1
                cand = min(b, d[v])
                if cand > flat[v]:
                    flat[v] = cand
                    item, nxt, n_nodes = _push(item, nxt, head, n_nodes, v, cand)
    return flat.reshape(dt2.shape)


@numba.njit(cache=True, nogil=True, parallel=True)
def _count_below(d2, k):
    n = 0
    for i in numba.prange(d2.shape[0]):
        n += np.count_nonzero(d2[i] < k)
    return n


@numba.njit(cache=True, nogil=True, parallel=True)
def _count_at_least(r2, k):
    n = 0
    for i in numba.prange(r2.shape[0]):
        n += np.count_nonzero(r2[i] >= k)
    return n


def _cover_count(r2: np.ndarray, k: int) -> int:
    """Number of voxels inside an open ball ``|x - c|^2 < r2(c)`` with ``r2(c) >= k``."""
    if _count_at_least(r2, k) == 0:
        return 0
    return int(_count_below(_ball_cover_values(r2, k), 0))


def _cpsd_count(dt2, k):
    return _cover_count(dt2, k)


def _smip_count(reach, k):
    return _cover_count(reach, k)


def _reach_of(dt2):
    vals_max = int(dt2.max()) if dt2.size else 0
    if vals_max >= int(EDT_INF):
        raise ValueError("reach is undefined for a phase filling the window")
    return _reach(dt2, max(vals_max, 1))


def _prepare(mask, axis):
    mask = as_mask(mask)
    axis = check_axis(axis)
    m = np.ascontiguousarray(np.moveaxis(mask, axis, -1))
    dt2 = squared_edt(m)
    return m, dt2


def _radii_to_k(radii, voxel_size):
    r = np.atleast_1d(np.asarray(radii, dtype=float)) / voxel_size
    if np.any(~np.isfinite(r)) or np.any(r <= 0):
        raise ValueError(f"radii must be positive and finite, got {radii!r}")
    # CPSD and SMIP only change at r**2 = integer k: r**2 in (k-1, k] gives the
    # same opening (dt2 is integer).  The small slack absorbs rounding of r.
    return np.maximum(1, np.ceil(r * r - 1e-9)).astype(np.int64)


def _full_window(dt2) -> bool:
    # a single non-phase voxel makes every distance finite
    return dt2.size > 0 and int(dt2.max()) == int(EDT_INF)


def cpsd(mask: np.ndarray, radii, *, voxel_size: float) -> np.ndarray:
    """Continuous phase size distribution at the given radii.

    Parameters
    ----------
    mask : ndarray of bool, shape (nx, ny, nz)
        Phase indicator.
    radii : float or array_like
        Ball radii in micrometres (> 0).
    voxel_size : float
        Voxel edge length in micrometres.

    Returns
    -------
    ndarray of float
        ``CPSD(r)``: volume fraction (of the window) where the local thickness
        is at least ``r``, i.e. covered by a maximal inscribed open ball of
        radius ``>= r`` (Münch and Holzer 2008; PoreSpy ``local_thickness``).
        Non-increasing in ``r``; see :func:`constrictivity`.
    """
    a = check_voxel_size(voxel_size)
    ks = _radii_to_k(radii, a)
    m, dt2 = _prepare(mask, 2)
    if _full_window(dt2):
        return np.ones(ks.size)
    return np.array([_cpsd_count(dt2, int(k)) for k in ks]) / m.size


def smip(mask: np.ndarray, radii, *, voxel_size: float, axis: int = 2) -> np.ndarray:
    """Simulated mercury intrusion from the start plane at the given radii.

    Parameters
    ----------
    mask : ndarray of bool, shape (nx, ny, nz)
        Phase indicator.
    radii : float or array_like
        Ball radii in micrometres (> 0).
    voxel_size : float
        Voxel edge length in micrometres.
    axis : int
        Intrusion direction; balls enter through index 0 along this axis.

    Returns
    -------
    ndarray of float
        ``SMIP(r)``: volume fraction (of the window) covered by open balls of
        radius ``>= r`` that can be moved in from the start plane (Münch and
        Holzer 2008; PoreSpy ``porosimetry``).  Non-increasing in ``r``; see
        :func:`constrictivity`.
    """
    a = check_voxel_size(voxel_size)
    ks = _radii_to_k(radii, a)
    m, dt2 = _prepare(mask, axis)
    if _full_window(dt2):
        return np.ones(ks.size)
    reach = _reach_of(dt2)
    return np.array([_smip_count(reach, int(k)) for k in ks]) / m.size


def _largest_feasible(count, lo, hi, target):
    """Largest ``k`` in ``[lo, hi)`` with ``2 count(k) >= target`` by bisection.

    ``lo`` must be known feasible (or a sentinel) and ``hi`` infeasible.
    """
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if 2 * count(mid) >= target:
            lo = mid
        else:
            hi = mid
    return lo


def constrictivity(mask: np.ndarray, *, voxel_size: float, axis: int = 2) -> ConstrictivityResult:
    """Constrictivity ``beta = (r_min / r_max)^2`` of a phase.

    Parameters
    ----------
    mask : ndarray of bool, shape (nx, ny, nz)
        Phase indicator (non-empty).
    voxel_size : float
        Voxel edge length in micrometres.
    axis : int
        Intrusion direction for SMIP (default 2 = z); balls enter through the
        plane at index 0 along it.

    Returns
    -------
    ConstrictivityResult
        ``beta``, ``r_min`` and ``r_max`` (micrometres), and the same radii as
        squared voxel counts ``k_min``, ``k_max``.

    Notes
    -----
    Paper Section 2.3 (refs. [42], [45]); cumulative definitions of Münch and
    Holzer (2008), as computed by PoreSpy's ``local_thickness`` and
    ``porosimetry``.  Let ``dt`` be the Euclidean distance of each phase voxel to
    the nearest non-phase voxel (the window border is *not* non-phase); the
    open ball of radius ``dt(c)`` around ``c`` lies in the phase.

    * ``CPSD(r)`` = fraction of the window covered by the balls
      ``{x : |x - c| < dt(c)}`` with ``dt(c) >= r`` (local thickness ``>= r``);
      ``r_max`` = largest ``r`` with ``CPSD(r) >= eps / 2``.
    * ``SMIP(r)``: the same with ``dt(c)`` replaced by the bottleneck value
      ``reach(c)`` = max over 6-connected paths in the phase from the start plane
      (index 0 along ``axis``) to ``c`` of the smallest ``dt`` on the path; a
      ball of radius ``>= r`` can be moved from the inlet to ``c`` iff
      ``reach(c) >= r`` (PoreSpy's ``trim_disconnected_voxels(conn='min')``
      per radius).  ``r_min`` likewise.

    Each evaluation is one generalized squared distance transform of the
    sampled function ``f(c) = -dt(c)**2`` (or ``-reach(c)**2``) restricted to
    ``dt(c)**2 >= r**2``: ``x`` is covered iff ``min_c |x - c|**2 + f(c) < 0``;
    ``reach`` is computed once by a bucket-queue flood.  Both curves are
    non-increasing in ``r`` (fewer centres for a larger ``r``, same balls) and
    constant for ``r**2`` in ``(k - 1, k]`` (integer squared distances), so the
    largest feasible ``k`` among ``1 .. max dt**2`` is found exactly by
    bisection.  ``CPSD(1) = eps``, so ``r_max >= 1`` voxel; ``r_min = 0`` when
    no phase voxel can be intruded at all (no phase in the start plane, or
    SMIP(1) < eps / 2).  ``#{dt >= r}`` (each centre covers itself) is a free
    lower bound of CPSD and brackets its search from below, ``#{reach >= r}``
    likewise for SMIP; the SMIP search is restricted to ``k <= k_max`` because
    ``reach <= dt`` gives ``SMIP <= CPSD``.
    """
    a = check_voxel_size(voxel_size)
    m, dt2 = _prepare(mask, axis)
    n_phase = int(np.count_nonzero(m))
    if n_phase == 0:
        raise ValueError("mask holds no phase voxel: constrictivity is undefined for an empty phase")
    vals = dt2[m]
    if vals.max() == EDT_INF:
        # No complement in the window: balls of any size fit.
        return ConstrictivityResult(beta=1.0, r_min=math.inf, r_max=math.inf,
                                    k_min=int(EDT_INF), k_max=int(EDT_INF))
    kmax = int(vals.max())
    # ge[k] = #{dt2 >= k}; a lower bound of the covered volume at k.
    ge = np.cumsum(np.bincount(vals, minlength=kmax + 1)[::-1])[::-1]
    feasible_free = np.flatnonzero(2 * ge >= n_phase)
    k_lo = max(1, int(feasible_free.max()))
    del vals
    k_max = _largest_feasible(lambda k: _cpsd_count(dt2, k), k_lo, kmax + 1, n_phase)

    reach = _reach(dt2, kmax)
    # #{reach >= k} (each intruded centre covers itself) brackets SMIP from below.
    ge_r = np.cumsum(np.bincount(reach[m], minlength=kmax + 1)[::-1])[::-1]
    k_lo_s = min(int(np.flatnonzero(2 * ge_r >= n_phase).max()), k_max)

    def smip_count(k):
        n_c = int(_count_at_least(reach, k))
        if n_c == 0:
            return 0
        if 2 * n_c >= n_phase:  # the centres alone already cover enough
            return n_c
        return _cover_count(reach, k)

    k_min = _largest_feasible(smip_count, k_lo_s, k_max + 1, n_phase)
    r_min = math.sqrt(k_min) * a
    r_max = math.sqrt(k_max) * a
    return ConstrictivityResult(beta=k_min / k_max, r_min=r_min, r_max=r_max,
                                k_min=int(k_min), k_max=int(k_max))
