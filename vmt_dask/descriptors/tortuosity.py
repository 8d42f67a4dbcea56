"""Geodesic tortuosity by one multi-source shortest-path search (Dial's buckets)."""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from ._validate import as_mask, check_axis

__all__ = ["geodesic_tortuosity", "geodesic_distance_to_plane", "TortuosityResult"]


@dataclass(frozen=True)
class TortuosityResult:
    """Geodesic tortuosity of one phase along one axis.

    Attributes
    ----------
    mean, std : float
        Mean and population standard deviation (``ddof=0``) of ``tau`` over the
        start-plane phase voxels that reach the target plane; NaN if none does.
    reached_fraction : float
        Reached start voxels / start-plane phase voxels (0 if the start plane
        holds no phase voxel).
    n_start : int
        Number of phase voxels in the start plane.
    values : ndarray or None
        With ``return_values=True``: ``tau`` on the start plane, shape of the
        plane (the two other axes in their original order), NaN where the voxel
        is not phase or does not reach the target plane.
    """

    mean: float
    std: float
    reached_fraction: float
    n_start: int
    values: np.ndarray | None = None


def _neighbours(shape_p):
    """Flat offsets and step lengths of the 26-neighbourhood in a padded array."""
    _, ny, nz = shape_p
    offs, wts = [], []
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            for dz in (-1, 0, 1):
                n = abs(dx) + abs(dy) + abs(dz)
                if n == 0:
                    continue
                offs.append((dx * ny + dy) * nz + dz)
                wts.append(np.sqrt(n))
    return np.array(offs, np.int64), np.array(wts, np.float64)


@numba.njit(cache=True, nogil=True)
def _dial(open_, dist, sources, offs, wts):
    """Exact shortest-path distances from ``sources`` through ``open_`` voxels.

    ``open_`` (flat, padded with a closed border) is consumed: a voxel is closed
    once its distance is final.  Dial's algorithm with buckets of width 1: every
    edge weighs at least 1, so when bucket ``b`` (distances in ``[b, b+1)``) is
    reached no entry in it can still improve (an improvement would need a
    predecessor below ``b``, all of which are final), and relaxations from it only
    land in buckets ``b+1`` and ``b+2`` (weights <= sqrt 3 < 2): a ring of three
    buckets suffices.  Stale duplicate entries are skipped (lazy deletion).
    Before a bucket of ``n`` entries is processed, the two others are grown to
    take ``26 n`` more, so the inner loop has no capacity checks.
    """
    nring = 3
    nn = offs.size
    cap = max(1 << 16, 4 * sources.size)
    buckets = np.empty((nring, cap), np.int64)
    counts = np.zeros(nring, np.int64)
    for s in sources:
        dist[s] = 0.0
        buckets[0, counts[0]] = s
        counts[0] += 1
    pending = sources.size
    b = 0
    while pending > 0:
        slot = b % nring
        n = counts[slot]
        newcap = cap
        for s in range(nring):
            if s != slot:
                while counts[s] + nn * n > newcap:
                    newcap *= 2
        if newcap > cap:
            grown = np.empty((nring, newcap), np.int64)
            for s in range(nring):
                grown[s, : counts[s]] = buckets[s, : counts[s]]
            buckets = grown
            cap = newcap
        cur = buckets[slot]
        for t in range(n):
            u = cur[t]
            if not open_[u]:
                continue
            open_[u] = False
            du = dist[u]
            for q in range(nn):
                w = u + offs[q]
                if open_[w]:
                    nd = du + wts[q]
                    if nd < dist[w]:
                        dist[w] = nd
                        sl = np.int64(nd) % nring
                        buckets[sl, counts[sl]] = w
                        counts[sl] += 1
                        pending += 1
        pending -= n
        counts[slot] = 0
        b += 1


def geodesic_distance_to_plane(mask: np.ndarray, *, axis: int = 2) -> np.ndarray:
    """Shortest 26-neighbourhood path length (voxel units) to the last plane.

    Parameters
    ----------
    mask : ndarray of bool, shape (nx, ny, nz)
        Phase indicator; paths stay inside the phase.
    axis : int
        The target plane is index ``n - 1`` along this axis.

    Returns
    -------
    ndarray of float64, same shape
        Distance of every phase voxel to the nearest phase voxel of the target
        plane with steps 1, sqrt 2, sqrt 3; ``inf`` where unreachable or not phase.
    """
    mask = as_mask(mask)
    axis = check_axis(axis)
    m = np.moveaxis(mask, axis, -1)
    open_ = np.pad(m, 1, constant_values=False)
    shape_p = open_.shape
    dist = np.full(shape_p, np.inf)
    target = np.zeros(shape_p, bool)
    target[1:-1, 1:-1, -2] = open_[1:-1, 1:-1, -2]
    sources = np.flatnonzero(target)
    del target
    offs, wts = _neighbours(shape_p)
    _dial(open_.reshape(-1), dist.reshape(-1), sources, offs, wts)
    out = dist[1:-1, 1:-1, 1:-1]
    return np.moveaxis(out, -1, axis)


def geodesic_tortuosity(
    mask: np.ndarray, *, axis: int = 2, return_values: bool = False
) -> TortuosityResult:
    """Geodesic tortuosity from the start plane to the target plane.

    Parameters
    ----------
    mask : ndarray of bool, shape (nx, ny, nz)
        Phase indicator; at least 2 voxels along ``axis``.
    axis : int
        Transport direction (default 2 = z). Start plane index 0, target plane
        index ``n - 1``.
    return_values : bool
        Also return the per-start-voxel values (:attr:`TortuosityResult.values`).

    Returns
    -------
    TortuosityResult
        ``mean``, ``std`` (population, ``ddof=0``), ``reached_fraction``,
        ``n_start`` and optionally ``values``.  A phase that does not connect the
        two planes gives ``mean = std = nan`` and ``reached_fraction = 0``.

    Notes
    -----
    Paper Section 2.3 (ref. [42]): for every phase voxel ``x`` of the start plane
    that is connected through the phase to the target plane,

    .. math:: \\tau(x) = d_G(x, \\text{target plane}) / (n - 1)

    with ``d_G`` the shortest path length in the 26-neighbourhood graph with step
    lengths 1, sqrt 2, sqrt 3 (voxel units), so ``tau >= 1``.  One multi-source
    search from the target plane gives all start voxels at once; it is exact
    (Dial's bucket algorithm, float64 path lengths).
    """
    mask = as_mask(mask)
    axis = check_axis(axis)
    n = mask.shape[axis]
    if n < 2:
        raise ValueError(f"mask needs at least 2 voxels along axis {axis}, got shape {mask.shape}")
    dist = geodesic_distance_to_plane(mask, axis=axis)
    start_mask = np.take(mask, 0, axis=axis)
    start = np.take(dist, 0, axis=axis)
    n_start = int(np.count_nonzero(start_mask))
    reached = np.isfinite(start)
    tau = start[reached] / (n - 1)
    if tau.size:
        mean, std = float(tau.mean()), float(tau.std())
    else:
        mean = std = float("nan")
    values = None
    if return_values:
        values = np.where(reached, start / (n - 1), np.nan)
    return TortuosityResult(
        mean=mean,
        std=std,
        reached_fraction=(tau.size / n_start) if n_start else 0.0,
        n_start=n_start,
        values=values,
    )
