"""Geodesic tortuosity from exact multi-source shortest-path distances to the target plane.

The 26-neighbourhood with cubic voxels (the default) is solved by raster sweeps over rows
(:func:`_sweeps`: streaming, vectorised relaxations instead of a priority queue; Dial's
bucket search is the fallback for mazes and gives the same bits); the 98-neighbourhood
and anisotropic voxels use Dial's buckets (:func:`_dial_checked`)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from ..errors import InputError
from ._parallel import run_chunks
from ._validate import as_mask, check_axis, check_spacing

_S2 = math.sqrt(2.0)
_S3 = math.sqrt(3.0)

__all__ = ["geodesic_tortuosity", "geodesic_distance_to_plane", "TortuosityResult", "NEIGHBOURHOODS"]

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


#: The raster sweeps give up (and Dial's search finishes the job from scratch) after this
#: many row computations per row of the volume.  On the study's structures a sweep search
#: computes each row ~3.4-3.9 times (BM01/BM10, 96^3-160^3); mazes whose shortest paths turn
#: back along the transport axis many times need more sweeps (still exact, only slower).
SWEEP_ROW_LIMIT = 24


@numba.njit(cache=True, nogil=True)
def _fill_nan(dist, t, lo, hi):
    """``dist[a+1, b+1, c+1]`` = ``inf`` where ``t[a, b, c]`` else NaN, for ``lo <= b < hi``.

    ``t`` is the mask with the transport axis first (a strided view when the axis was the
    last one): 32 x 32 tiles in (a, c) keep both the strided reads and the writes in cache.
    The padding faces of rows ``b`` are NaN; the caller sets the padding planes ``b``.
    """
    na, nb, nc = t.shape
    tile = 32
    for b in range(lo, hi):
        for a in range(na + 2):
            dist[a, b + 1, 0] = np.nan
            dist[a, b + 1, nc + 1] = np.nan
        for c in range(nc + 2):
            dist[0, b + 1, c] = np.nan
            dist[na + 1, b + 1, c] = np.nan
        for a0 in range(0, na, tile):
            a1 = min(a0 + tile, na)
            for c0 in range(0, nc, tile):
                c1 = min(c0 + tile, nc)
                for a in range(a0, a1):
                    row = dist[a + 1, b + 1]
                    for c in range(c0, c1):
                        row[c + 1] = np.inf if t[a, b, c] else np.nan


@numba.njit(cache=True, nogil=True)
def _relax(c, a, wc, ws):
    """``c[z] = min(c[z], a[z] + wc, min(a[z-1], a[z+1]) + ws)`` for ``1 <= z < n-1``.

    Exact: rounding is monotone, so ``min(fl(u + w), fl(v + w)) == fl(min(u, v) + w)``.
    NaN in ``a`` (not phase) is skipped (``v if v < g else g`` keeps ``g``, which starts at
    inf); NaN in ``c`` stays NaN.
    """
    for z in range(1, c.size - 1):
        g = np.inf
        v = a[z + 1]
        g = v if v < g else g
        v = a[z - 1]
        g = v if v < g else g
        best = c[z]
        v = a[z] + wc
        best = v if v < best else best
        v = g + ws
        best = v if v < best else best
        c[z] = best


@numba.njit(cache=True, nogil=True)
def _scan_store(r, c):
    """Relax ``c`` along itself (steps +-1, both directions), then store it into the row
    ``r`` where lower.  Returns whether ``r`` changed (if ``c`` is nowhere below ``r``
    nothing else runs).  Each directed scan (a serial dependency chain) runs only if a
    branch-free check finds a position it improves."""
    n = r.size
    lower = False
    for z in range(1, n - 1):
        lower |= c[z] < r[z]
    if not lower:
        return False
    f = False
    for z in range(2, n - 1):
        f |= c[z - 1] + 1.0 < c[z]
    if f:
        for z in range(2, n - 1):
            v = c[z - 1] + 1.0
            if v < c[z]:
                c[z] = v
    f = False
    for z in range(1, n - 2):
        f |= c[z + 1] + 1.0 < c[z]
    if f:
        for z in range(n - 3, 0, -1):
            v = c[z + 1] + 1.0
            if v < c[z]:
                c[z] = v
    for z in range(1, n - 1):
        if c[z] < r[z]:
            r[z] = c[z]
    return True


@numba.njit(cache=True, nogil=True)
def _sweeps(d, src_plane, s2, s3, row_limit, stamp, last, c):
    """Exact 26-neighbourhood distances by Gauss-Seidel raster sweeps over the rows of ``d``.

    ``d`` (float64, padded, transport axis first) holds 0 on the sources (plane
    ``src_plane``), ``inf`` on the other phase voxels and NaN elsewhere.  A row ``(p, y)``
    (contiguous along the last axis) is recomputed when one of its 8 neighbour rows
    ``(p + dp, y + dy)`` changed after the row's last computation, and then relaxes from
    those rows only (:func:`_relax`) and along itself (:func:`_scan_store`).  Planes are
    visited alternately from the source plane down and back up; inside a plane the rows
    are visited alternately up and down until no row of the plane needs work.  The search
    ends when a whole sweep computes nothing: then every phase voxel satisfies
    ``d[v] = min_u fl(d[u] + |u - v|)``, whose solution is unique (every step is >= 1),
    i.e. exactly the distances of Dial's search (:func:`_dial`).  Returns the number of
    sweeps, or -1 when more than ``row_limit`` row computations were needed (``d`` is then
    an upper bound, not the answer).  ``stamp`` (zeros) and ``last`` (-1), int64 of shape
    ``d.shape[:2]``: the time of each row's last change and last computation; ``c``: a
    float64 row buffer (allocated by the caller: ``np.full`` inside costs ~1 s of compile).
    """
    nx, ny, nz = d.shape
    for y in range(1, ny - 1):
        stamp[src_plane, y] = 1
    t = 2
    sweeps = 0
    rows = 0
    while True:
        work = False
        down = sweeps % 2 == 0
        for pi in range(1, nx - 1):
            p = nx - 1 - pi if down else pi
            up = True
            while True:
                busy = False
                for yi in range(1, ny - 1):
                    y = yi if up else ny - 1 - yi
                    lp = last[p, y]
                    need = False
                    for dp in range(-1, 2):
                        for dy in range(-1, 2):
                            if (dp != 0 or dy != 0) and stamp[p + dp, y + dy] > lp:
                                need = True
                    if not need:
                        continue
                    r = d[p, y]
                    for z in range(nz):
                        c[z] = r[z]
                    for dp in range(-1, 2):
                        for dy in range(-1, 2):
                            if (dp != 0 or dy != 0) and stamp[p + dp, y + dy] > lp:
                                if dp != 0 and dy != 0:
                                    _relax(c, d[p + dp, y + dy], s2, s3)
                                else:
                                    _relax(c, d[p + dp, y + dy], 1.0, s2)
                    if _scan_store(r, c):
                        stamp[p, y] = t
                    last[p, y] = t
                    t += 1
                    rows += 1
                    busy = True
                if not busy:
                    break
                work = True
                up = not up
            if rows > row_limit:
                return -1
        sweeps += 1
        if not work:
            return sweeps


@numba.njit(cache=True, nogil=True)
def _nan_to_inf(d, lo, hi):
    """NaN (not phase) to ``inf``, in place (flat ``[lo, hi)``).  A kernel, not numpy: the
    NaN pattern is random, and ``np.copyto(..., where=np.isnan(...))`` per plane took 0.55 s
    at 401^3 against 0.09 s."""
    for u in range(lo, hi):
        if d[u] != d[u]:
            d[u] = np.inf


@numba.njit(cache=True, nogil=True)
def _restart_dial(d, lo, hi):
    """Dial's start state from the sweeps' array (flat ``[lo, hi)``, in place): NaN (not
    phase) to ``-inf``, every phase voxel to ``inf`` (a kernel: a random NaN pattern is slow
    for numpy's masked assignment, see :func:`_nan_to_inf`)."""
    for u in range(lo, hi):
        d[u] = -np.inf if d[u] != d[u] else np.inf


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
    return _distances(mask, axis, neighbourhood, voxel_size, True)


def _distances(mask, axis, neighbourhood, voxel_size, finish: bool):
    """:func:`geodesic_distance_to_plane`; ``finish=False`` (the tortuosity, which reads
    only whether a start value is finite): the voxels that are not phase or not reached
    may hold NaN or ``-inf`` instead of ``inf`` (no pass over the whole field to convert
    them: 0.13-0.18 s at 401^3, one thread)."""
    mask = as_mask(mask)
    axis = check_axis(axis)
    neighbourhood = _check_neighbourhood(neighbourhood)
    if voxel_size is None:
        sp = (1.0, 1.0, 1.0)
    else:
        sp0 = check_spacing(voxel_size)
        sp = tuple(sp0[i] for i in range(3) if i != axis) + (sp0[axis],)
    unit = min(sp)
    if neighbourhood == 26 and sp[0] == sp[1] == sp[2]:
        # one float64 array, transport axis first: 0 on the sources, inf on the other phase
        # voxels, NaN elsewhere (no separate mask); rows run along the last axis
        t = np.moveaxis(mask, axis, 0)
        shape_t = tuple(n + 2 for n in t.shape)
        dist = np.empty(shape_t)
        dist[:, 0] = np.nan
        dist[:, -1] = np.nan
        run_chunks(_fill_nan, (dist, t), t.shape[1], work=dist.size)
        src = dist[-2]
        src[src == np.inf] = 0.0
        flat = dist.reshape(-1)
        rows = shape_t[:2]
        if _sweeps(dist, shape_t[0] - 2, _S2, _S3, SWEEP_ROW_LIMIT * rows[0] * rows[1], np.zeros(rows, np.int64),
                   np.full(rows, -1, np.int64), np.empty(shape_t[2])) < 0:
            # a maze: Dial's search from scratch (the same distances)
            run_chunks(_restart_dial, (flat,), flat.size)  # NaN (not phase) to -inf, the rest to inf
            sources = np.flatnonzero(t[-1])  # phase voxels of the target plane
            jj, kk = np.divmod(sources, t.shape[2])
            sources = ((shape_t[0] - 2) * shape_t[1] + (jj + 1)) * shape_t[2] + (kk + 1)
            offs, wts, _, _ = _neighbours(shape_t, 26)
            idx_t = np.int32 if dist.size < (1 << 31) else np.int64
            _dial(flat, sources, offs, wts, np.empty((3, max(1 << 16, 4 * sources.size)), idx_t))
            if finish:
                run_chunks(_neg_to_inf, (flat,), flat.size)
        elif finish:
            run_chunks(_nan_to_inf, (flat,), flat.size)
        out = dist[1:-1, 1:-1, 1:-1]
        if voxel_size is not None:
            out *= unit
        return np.moveaxis(out, 0, axis)
    pad = 1 if neighbourhood == 26 else 2
    m = np.moveaxis(mask, axis, -1)
    shape_p = tuple(n + 2 * pad for n in m.shape)
    inner = (slice(pad, -pad), slice(pad, -pad))
    offs, wts, checks, nchk = _neighbours(shape_p, neighbourhood, tuple(h / unit for h in sp))
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
    voxels at once; it is exact for the graph (float64 path lengths; raster sweeps to the
    fixed point ``d(v) = min_u fl(d(u) + |u - v|)``, which is unique because every step is
    at least 1, or Dial's bucket algorithm, which reaches the same fixed point).
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
    # finish=False: a start value that is not phase or not reached may be NaN or -inf
    # instead of inf; only np.isfinite reads it below (values: NaN there as before)
    dist = _distances(mask, axis, neighbourhood, voxel_size, False)
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
