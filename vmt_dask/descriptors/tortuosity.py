"""Geodesic tortuosity by one multi-source shortest-path search (Dial's buckets)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from ..errors import InputError
from . import _parallel
from ._parallel import run_chunks
from ._validate import as_mask, check_axis, check_spacing

__all__ = ["geodesic_tortuosity", "geodesic_distance_to_plane", "TortuosityResult", "NEIGHBOURHOODS"]

#: Volumes (padded voxels) of at least this size search by x-slabs in threads
#: (:func:`_dial_slabs`, bit-identical) when more than one thread is available.  Off by
#: default (``1 << 62``): the later exchange rounds re-open voxels, so the slab search costs
#: more CPU than the serial one: +12-20 % at 128^3-200^3 and +29 % (SE) / +55 % (AM) at 401^3
#: (BM01, 2 slabs; 12.1 / 17.2 s CPU vs 9.4 / 11.1 serial), and at load ~4 on 2 cores it gained
#: no wall time (12.1 / 13.2 s wall).  Set it (e.g. ``1 << 20``) on machines with idle cores.
SLAB_BELOW = 1 << 62


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


#: Supported path neighbourhoods: 26 (steps 1, sqrt 2, sqrt 3) and 98 (the 26 plus
#: the 72 steps of the 5x5x5 cube whose components have no common divisor, lengths
#: sqrt 5, sqrt 6 and 3).
NEIGHBOURHOODS = (26, 98)


def _steps(neighbourhood: int) -> list[tuple[int, int, int]]:
    r = 1 if neighbourhood == 26 else 2
    out = []
    for dx in range(-r, r + 1):
        for dy in range(-r, r + 1):
            for dz in range(-r, r + 1):
                if (dx, dy, dz) != (0, 0, 0) and math.gcd(math.gcd(abs(dx), abs(dy)), abs(dz)) == 1:
                    out.append((dx, dy, dz))
    return out


def _neighbours(shape_p, neighbourhood: int = 26, spacing=(1.0, 1.0, 1.0)):
    """Flat offsets, step lengths and corner checks of a neighbourhood in a padded array.

    A long step (a component of 2) passes between voxels: it is allowed only if
    the voxels around its midpoint (floor and ceiling of each half component)
    are phase as well, so a path cannot cut through a corner or a thin wall.
    ``checks[q, :nchk[q]]`` are those voxels' flat offsets.
    """
    _, ny, nz = shape_p
    steps = _steps(neighbourhood)
    offs = np.empty(len(steps), np.int64)
    wts = np.empty(len(steps), np.float64)
    checks = np.zeros((len(steps), 4), np.int64)
    nchk = np.zeros(len(steps), np.int64)
    for q, (dx, dy, dz) in enumerate(steps):
        offs[q] = (dx * ny + dy) * nz + dz
        wts[q] = math.sqrt((dx * spacing[0]) ** 2 + (dy * spacing[1]) ** 2 + (dz * spacing[2]) ** 2)
        if max(abs(dx), abs(dy), abs(dz)) == 2:
            mids = set()
            for cx in {math.floor(dx / 2), math.ceil(dx / 2)}:
                for cy in {math.floor(dy / 2), math.ceil(dy / 2)}:
                    for cz in {math.floor(dz / 2), math.ceil(dz / 2)}:
                        mids.add((cx * ny + cy) * nz + cz)
            mids.discard(0)
            for t, c in enumerate(sorted(mids)):
                checks[q, t] = c
            nchk[q] = len(mids)
    return offs, wts, checks, nchk


@numba.njit(cache=True, nogil=True)
def _dial(dist, sources, offs, wts, buckets):
    """Exact shortest-path distances from ``sources`` (flat, padded array ``dist``).

    ``dist`` holds ``inf`` on phase voxels and ``-inf`` on the rest (and on the padding),
    so one load per neighbour both tests passability and compares: ``nd < dist[w]`` is
    false for non-phase voxels and for final ones (whose distance is at most the current
    bucket).  Dial's algorithm with buckets of width 1: every edge weighs at least 1, so
    when bucket ``b`` (distances in ``[b, b+1)``) is reached no entry in it can still
    improve (an improvement would need a predecessor below ``b``, all of which are final),
    and relaxations from it only land in buckets ``b+1`` and ``b+2`` (weights <= sqrt 3 <
    2): a ring of three buckets suffices.  A voxel is queued only when its tentative
    distance enters a new bucket (an improvement within its bucket is read at pop time),
    so it has at most one entry per bucket; an entry whose voxel now sits in a lower bucket
    is stale and skipped.  ``buckets`` (int32 or int64, shape (3, cap)) is the initial
    ring; before a bucket of ``n`` entries is processed the two others are grown to take
    ``26 n`` more, so the inner loop has no capacity checks.
    """
    nring = 3
    nn = offs.size
    cap = buckets.shape[1]
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
            grown = np.empty((nring, newcap), buckets.dtype)
            for s in range(nring):
                for c in range(counts[s]):  # a loop, not a slice copy (its error path is a compile cost)
                    grown[s, c] = buckets[s, c]
            buckets = grown
            cap = newcap
        cur = buckets[slot]
        for t in range(n):
            u = np.int64(cur[t])
            du = dist[u]
            if np.int64(du) != b:
                continue  # stale: the voxel moved to a lower bucket and is final
            for q in range(nn):
                w = u + offs[q]
                nd = du + wts[q]
                old = dist[w]
                if nd < old:
                    dist[w] = nd
                    sl = np.int64(nd)
                    if old == np.inf or np.int64(old) != sl:
                        sl = sl % nring
                        buckets[sl, counts[sl]] = w
                        counts[sl] += 1
                        pending += 1
        pending -= n
        counts[slot] = 0
        b += 1


@numba.njit(cache=True, nogil=True)
def _dial_slab(dist, sources, keys, offs, wts, dxs, syz, x0, x1, buckets, dedup):
    """:func:`_dial` restricted to the x-planes ``[x0, x1)`` of the padded array, from
    ``sources`` whose distances are already set (``keys``: their buckets, ascending).

    Writes only voxels of its own planes, so several slabs run at once in threads.  A
    source enters the ring when the search reaches its bucket (a jump over empty buckets
    when the ring runs dry).  ``dedup``: queue a voxel only when its distance enters a new
    bucket (as :func:`_dial`; valid in the first search of a slab, when every improved
    voxel is still queued); later searches re-open voxels that a previous search already
    popped, so every improvement is queued (a duplicate entry re-relaxes without effect).
    Returns the ring (grown if needed) for reuse.
    """
    nring = 3
    nn = offs.size
    cap = buckets.shape[1]
    counts = np.zeros(nring, np.int64)
    ns = sources.size
    sp = 0
    pending = 0
    b = keys[0] if ns > 0 else 0
    while pending > 0 or sp < ns:
        if pending == 0 and keys[sp] > b:
            b = keys[sp]  # nothing queued: jump to the next source's bucket
        slot = b % nring
        e = sp
        while e < ns and keys[e] <= b:
            e += 1
        n = counts[slot] + (e - sp)
        newcap = cap
        for s in range(nring):
            need = n if s == slot else counts[s] + nn * n
            while need > newcap:
                newcap *= 2
        if newcap > cap:
            grown = np.empty((nring, newcap), buckets.dtype)
            for s in range(nring):
                for c in range(counts[s]):  # a loop, not a slice copy (its error path is a compile cost)
                    grown[s, c] = buckets[s, c]
            buckets = grown
            cap = newcap
        while sp < e:
            buckets[slot, counts[slot]] = sources[sp]
            counts[slot] += 1
            pending += 1
            sp += 1
        cur = buckets[slot]
        for t in range(n):
            u = np.int64(cur[t])
            du = dist[u]
            if np.int64(du) != b:
                continue  # stale: the voxel moved to a lower bucket and is final
            xu = u // syz
            for q in range(nn):
                xw = xu + dxs[q]
                if xw < x0 or xw >= x1:
                    continue
                w = u + offs[q]
                nd = du + wts[q]
                old = dist[w]
                if nd < old:
                    dist[w] = nd
                    sl = np.int64(nd)
                    if not dedup or old == np.inf or np.int64(old) != sl:
                        sl = sl % nring
                        buckets[sl, counts[sl]] = w
                        counts[sl] += 1
                        pending += 1
        pending -= n
        counts[slot] = 0
        b += 1
    return buckets


@numba.njit(cache=True, nogil=True)
def _exchange(dist, offs, wts, dxs, syz, nyz, plane, outside, out):
    """Relax the voxels of x-plane ``plane`` (padded) from their neighbours in x-plane
    ``outside`` (the adjacent slab's face); the improved voxels go to ``out``, their
    number is returned.  Only finite, non-negative neighbours relax (``-inf`` marks
    non-phase voxels)."""
    n = 0
    base = plane * syz
    dxo = outside - plane
    for r in range(nyz):
        w = base + r
        dw = dist[w]
        if dw == -np.inf:
            continue
        best = dw
        for q in range(offs.size):
            if dxs[q] != dxo:
                continue
            du = dist[w + offs[q]]
            if du >= 0.0 and du != np.inf:
                nd = du + wts[q]
                if nd < best:
                    best = nd
        if best < dw:
            dist[w] = best
            out[n] = w
            n += 1
    return n


def _dial_slabs(dist, shape_p, sources, offs, wts, dxs, idx_t, nslab):
    """Exact distances of :func:`_dial` by ``nslab`` x-slabs in threads.

    Each slab searches from its own sources, writing only its planes; then every face
    voxel is relaxed from the neighbouring slab's face (:func:`_exchange`) and the slabs
    search again from the improved voxels, until an exchange improves nothing.  The
    distances are the unique solution of ``d(w) = min_u fl(d(u) + |u - w|)`` (``0`` on the
    sources; unique because every step is at least 1: the smallest voxel where two
    solutions differ would take its value from a smaller, agreeing neighbour), which the
    serial search computes as well: bit-identical, whatever the slab count.
    """
    nxp, nyp, nzp = shape_p
    syz = nyp * nzp
    dist[sources] = 0.0
    # interior planes 1 .. nxp - 2 split into slabs
    nx = nxp - 2
    edges = [1 + s * nx // nslab for s in range(nslab + 1)]
    xs = sources // syz
    rings = [np.empty((3, 1 << 12), idx_t) for _ in range(nslab)]
    srcs = [sources[(xs >= edges[s]) & (xs < edges[s + 1])] for s in range(nslab)]
    keys = [np.zeros(x.size, np.int64) for x in srcs]
    dedup = True
    out = np.empty(nyp * nzp, np.int64)
    while True:
        def search(lo, hi, dedup=dedup):
            for s in range(lo, hi):
                if srcs[s].size:
                    rings[s] = _dial_slab(dist, srcs[s], keys[s], offs, wts, dxs, syz, edges[s],
                                          edges[s + 1], rings[s], dedup)

        run_chunks(search, (), nslab, chunks=nslab, threads=nslab, work=dist.size)
        dedup = False
        moved = False
        for s in range(nslab):
            got = []
            for plane, outside in ((edges[s], edges[s] - 1), (edges[s + 1] - 1, edges[s + 1])):
                if outside < 1 or outside > nx:
                    continue
                k = _exchange(dist, offs, wts, dxs, syz, nyp * nzp, plane, outside, out)
                got.append(out[:k].copy())
            src = np.unique(np.concatenate(got)) if got else np.empty(0, np.int64)
            key = np.floor(dist[src]).astype(np.int64)
            order = np.argsort(key, kind="stable")
            srcs[s], keys[s] = src[order], key[order]
            moved = moved or src.size > 0
        if not moved:
            return


@numba.njit(cache=True, nogil=True)
def _fill_phase(dist, m, pad, lo, hi):
    """``dist`` (padded) = ``inf`` on the phase voxels of ``m`` and ``-inf`` elsewhere, in place (x-planes ``[lo, hi)``)."""
    nx, ny, nz = dist.shape
    for i in range(lo, hi):
        for j in range(ny):
            for k in range(nz):
                inside = pad <= i < nx - pad and pad <= j < ny - pad and pad <= k < nz - pad
                if inside and m[i - pad, j - pad, k - pad]:
                    dist[i, j, k] = np.inf
                else:
                    dist[i, j, k] = -np.inf


@numba.njit(cache=True, nogil=True)
def _neg_to_inf(d, lo, hi):
    """Unreachable and non-phase voxels (``-inf``) to ``inf``, in place (flat ``[lo, hi)``)."""
    for u in range(lo, hi):
        if d[u] == -np.inf:
            d[u] = np.inf


@numba.njit(cache=True, nogil=True)
def _dial_checked(open_, phase, dist, sources, offs, wts, checks, nchk, nring):
    """:func:`_dial` for neighbourhoods with steps up to ``nring - 1`` long.

    Relaxations from bucket ``b`` land in buckets ``b + 1 .. b + nring - 1``
    (every step is >= 1 and < ``nring - 1`` + 1), so a ring of ``nring`` buckets
    suffices.  A step ``q`` is taken only if the voxels ``u + checks[q, :nchk[q]]``
    are phase (``phase`` is not consumed).
    """
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
                    ok = True
                    for c in range(nchk[q]):
                        if not phase[u + checks[q, c]]:
                            ok = False
                            break
                    if not ok:
                        continue
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


def geodesic_distance_to_plane(mask: np.ndarray, *, axis: int = 2, neighbourhood: int = 26,
                               voxel_size=None) -> np.ndarray:
    """Shortest path length to the last plane in the 26- or 98-neighbourhood.

    Parameters
    ----------
    mask : ndarray of bool, shape (nx, ny, nz)
        Phase indicator; paths stay inside the phase.
    axis : int
        The target plane is index ``n - 1`` along this axis.
    neighbourhood : {26, 98}
        Path steps: the 26-neighbourhood (lengths 1, sqrt 2, sqrt 3) or the
        98-neighbourhood (adds the steps of the 5x5x5 cube with coprime
        components, lengths sqrt 5, sqrt 6, 3, without cutting corners).
    voxel_size : None, float or (dx, dy, dz)
        ``None``: distances in voxel units (cubic voxels).  Otherwise the voxel
        edge lengths in micrometres: each step ``(i, j, k)`` is
        ``|(i dx, j dy, k dz)|`` long and distances are in micrometres.

    Returns
    -------
    ndarray of float64, same shape
        Distance of every phase voxel to the nearest phase voxel of the target
        plane; ``inf`` where unreachable or not phase.

    Notes
    -----
    Dial's buckets have the width of the shortest step (``min(dx, dy, dz)``), so
    every step spans at least one bucket and the search stays exact for the graph.
    """
    mask = as_mask(mask)
    axis = check_axis(axis)
    neighbourhood = _check_neighbourhood(neighbourhood)
    if voxel_size is None:
        sp = (1.0, 1.0, 1.0)
    else:
        sp0 = check_spacing(voxel_size)
        sp = tuple(sp0[i] for i in range(3) if i != axis) + (sp0[axis],)
    unit = min(sp)
    pad = 1 if neighbourhood == 26 else 2
    m = np.moveaxis(mask, axis, -1)
    shape_p = tuple(n + 2 * pad for n in m.shape)
    inner = (slice(pad, -pad), slice(pad, -pad))
    offs, wts, checks, nchk = _neighbours(shape_p, neighbourhood, tuple(h / unit for h in sp))
    if neighbourhood == 26 and sp[0] == sp[1] == sp[2]:
        # one float64 array: inf on phase, -inf elsewhere (no separate open mask)
        dist = np.empty(shape_p)
        run_chunks(_fill_phase, (dist, m, pad), shape_p[0], work=dist.size)
        # flat indices (padded array) of the target plane's phase voxels, in raster order
        ii, jj = np.nonzero(m[:, :, -1])
        sources = ((ii.astype(np.int64) + pad) * shape_p[1] + (jj + pad)) * shape_p[2] + (shape_p[2] - pad - 1)
        idx_t = np.int32 if dist.size < (1 << 31) else np.int64
        nslab = min(_parallel.n_threads(), m.shape[0]) if dist.size >= SLAB_BELOW else 1
        if nslab > 1:  # slabs in threads: the same distances (see _dial_slabs)
            dxs = np.array([st[0] for st in _steps(26)], np.int64)
            _dial_slabs(dist.reshape(-1), shape_p, sources, offs, wts, dxs, idx_t, nslab)
        else:
            _dial(dist.reshape(-1), sources, offs, wts, np.empty((3, max(1 << 16, 4 * sources.size)), idx_t))
        run_chunks(_neg_to_inf, (dist.reshape(-1),), dist.size)
    else:
        open_ = np.pad(m, pad, constant_values=False)
        dist = np.full(shape_p, np.inf)
        target = np.zeros(shape_p, bool)
        target[inner + (-pad - 1,)] = open_[inner + (-pad - 1,)]
        sources = np.flatnonzero(target)
        del target
        phase = open_.copy().reshape(-1)
        _dial_checked(open_.reshape(-1), phase, dist.reshape(-1), sources, offs, wts, checks, nchk,
                      int(math.ceil(wts.max())) + 1)
    out = dist[pad:-pad, pad:-pad, pad:-pad]
    if voxel_size is not None:
        out *= unit
    return np.moveaxis(out, -1, axis)


def _check_neighbourhood(neighbourhood) -> int:
    if isinstance(neighbourhood, bool) or neighbourhood not in NEIGHBOURHOODS:
        raise InputError(f"neighbourhood must be one of {NEIGHBOURHOODS}, got {neighbourhood!r}")
    return int(neighbourhood)


def geodesic_tortuosity(
    mask: np.ndarray, *, axis: int = 2, return_values: bool = False, neighbourhood: int = 26,
    voxel_size=None,
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
    neighbourhood : {26, 98}
        Path steps (see :func:`geodesic_distance_to_plane`).  The 26-neighbourhood
        overestimates the length of a straight segment by up to 8 % in 2-D
        directions such as (1, 0, 2) (ratio (1 + sqrt 2) / sqrt 5); the
        98-neighbourhood contains those steps and bounds the overestimate by
        about 2.5 % (between (1, 0, 2) and (0, 0, 1), say (1, 0, 3): (sqrt 5 + 1) / sqrt 10).
    voxel_size : None, float or (dx, dy, dz)
        Voxel edge lengths in micrometres (anisotropic voxels: physical step
        lengths, and the plane distance ``(n - 1) * d_axis``); ``None`` or a
        single number: cubic voxels (tau does not depend on a common scale).

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
    lengths 1, sqrt 2, sqrt 3 (voxel units; or the 98-neighbourhood), so
    ``tau >= 1``.  One multi-source search from the target plane gives all start
    voxels at once; it is exact for the graph (Dial's bucket algorithm, float64
    path lengths; buckets of width 1 work because every step is at least 1).
    """
    mask = as_mask(mask)
    axis = check_axis(axis)
    n = mask.shape[axis]
    if n < 2:
        raise ValueError(f"mask needs at least 2 voxels along axis {axis}, got shape {mask.shape}")
    if voxel_size is not None:
        sp = check_spacing(voxel_size)
        if sp[0] == sp[1] == sp[2]:
            voxel_size = None  # a common scale cancels
    dist = geodesic_distance_to_plane(mask, axis=axis, neighbourhood=neighbourhood, voxel_size=voxel_size)
    if voxel_size is not None:
        dist = dist / sp[axis]  # in units of the plane spacing along the axis
    plane0 = (slice(None),) * axis + (0,)  # views: np.take would copy the whole volume first
    start_mask = mask[plane0]
    start = dist[plane0]
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
