"""Exact local thickness and bottleneck (widest-path) values on the voxel lattice (numba).

Both maps are integer squared radii in voxel units, so the cumulative curves built from
their histograms (CPSD and SMIP, see :mod:`vmt_dask.descriptors.constrictivity`) are exact
step functions.
"""
from __future__ import annotations

import contextlib
import math
import threading

import numba
import numpy as np

from ._parallel import n_threads, run_chunks
from .edt import EDT_INF

__all__ = ["local_thickness_squared", "bottleneck_from_plane", "containment_table", "value_counts"]

#: Volumes from this many voxels on take the containment test row by row (vectorized,
#: :func:`_dominated_rows`); smaller ones voxel by voxel (:func:`_dominated_voxels`, the
#: same centres, ~1.5 s less compile on a fresh cache: the demo's and the tests' first run).
ROWS_FROM = 1 << 21
#: The 26 neighbour offsets fall into three classes under the lattice symmetries:
#: face (0, 0, 1), edge (0, 1, 1) and corner (1, 1, 1) neighbours.
_CLASSES = np.array([(0, 0, 1), (0, 1, 1), (1, 1, 1)], np.int64)


def _containment(dmax, vs):
    """``need[q, d]``: smallest ``d'`` with ``ball(d) + v_q`` inside ``ball(d')`` (lattice points).

    ``ball(d)`` is the set of lattice offsets ``y`` with ``|y|^2 < d`` (an open ball of
    squared radius ``d``).  ``ball(d) + v`` lies in ``ball(d')`` iff
    ``d' > max_{|y|^2 <= d-1} |y - v|^2 = max_{s <= d-1} (s + |v|^2 + 2 P_v(s))`` with
    ``P_v(s) = max {y . v : |y|^2 = s}``; by the sign and permutation symmetries of the
    lattice ``P_v(s)`` pairs the sorted absolute components of ``y`` with those of ``v``.
    numpy (integer, exact; one x-value ``a`` of the sorted triples ``a <= b <= c`` at a
    time): no numba compile on the descriptors' first run.
    """
    nq = vs.shape[0]
    neg = -(1 << 40)
    p = np.full((nq, dmax + 1), neg, np.int64)
    rad = math.isqrt(dmax)
    r = np.arange(rad + 1, dtype=np.int64)
    b, c = np.meshgrid(r, r, indexing="ij")
    for a in range(rad + 1):
        sel = (b >= a) & (c >= b) & (a * a + b * b + c * c <= dmax)
        if not sel.any():
            break
        bb, cc = b[sel], c[sel]
        s = a * a + bb * bb + cc * cc
        for q in range(nq):
            np.maximum.at(p[q], s, a * vs[q, 0] + bb * vs[q, 1] + cc * vs[q, 2])
    need = np.zeros((nq, dmax + 1), np.int64)
    sv = np.arange(dmax, dtype=np.int64)  # s = d - 1 for d = 1 .. dmax
    for q in range(nq):
        vv = int(vs[q] @ vs[q])
        m = np.where(p[q, :dmax] > neg, sv + vv + 2 * p[q, :dmax], -1)
        need[q, 1:] = np.maximum.accumulate(m) + 1
    return need


def containment_table(dmax: int) -> np.ndarray:
    """Table ``need[q, d]`` (int64, shape (3, dmax + 1)) of lattice-ball containment.

    ``need[q, d]`` is the smallest squared radius ``d'`` such that the open lattice ball
    of squared radius ``d`` around ``c`` lies inside the one of squared radius ``d'``
    around a neighbour ``c + v`` of class ``q`` (0: face, 1: edge, 2: corner neighbour).
    Cost ``O(dmax^1.5)``.
    """
    dmax = int(dmax)
    if dmax < 0:
        raise ValueError(f"dmax must be >= 0, got {dmax}")
    return _containment(dmax, _CLASSES)


@numba.njit(cache=True, nogil=True)
def _dominated_voxel(f, need, i, j, k):
    """Whether a 26-neighbour ball of ``(i, j, k)`` contains its ball (table ``need``)."""
    nx, ny, nz = f.shape
    d = f[i, j, k]
    for di in range(-1, 2):
        ii = i + di
        if ii < 0 or ii >= nx:
            continue
        for dj in range(-1, 2):
            jj = j + dj
            if jj < 0 or jj >= ny:
                continue
            for dk in range(-1, 2):
                kk = k + dk
                if kk < 0 or kk >= nz:
                    continue
                q = (di != 0) + (dj != 0) + (dk != 0) - 1
                if q >= 0 and f[ii, jj, kk] >= need[q, d]:
                    return True
    return False


@numba.njit(cache=True, nogil=True)
def _dominated_voxels(f, need, keep, counts, lo, hi):
    """As :func:`_dominated_rows`, voxel by voxel with early exits (small volumes: compiles
    in ~0.9 s CPU against ~2.4 s; the same kept centres)."""
    nx, ny, nz = f.shape
    for i in range(lo, hi):
        n = 0
        for j in range(ny):
            for k in range(nz):
                if f[i, j, k] > 0 and not _dominated_voxel(f, need, i, j, k):
                    keep[i, j, k] = True
                    n += 1
        counts[i] = n


@numba.njit(cache=True, nogil=True)
def _dominated_rows(f, need, keep, counts, lo, hi):
    """Per x-plane ``i`` in ``[lo, hi)``: mark in ``keep`` (zeroed) the centres that no
    26-neighbour ball contains, and count them in ``counts[i]``.

    ``need`` (int32, shape (3, dmax + 1)): :func:`containment_table`.  Interior rows are
    tested whole: the three thresholds of every voxel are gathered once, then each of the
    9 neighbour rows is compared at offsets -1, 0, +1 along z (contiguous, no early exit:
    vectorized); the rest voxel by voxel (:func:`_dominated_voxel`).  ``need[., 0] = 0``,
    so non-phase voxels come out dominated (never kept) either way.
    """
    nx, ny, nz = f.shape
    nd = np.empty((3, nz), np.int32)
    dom = np.empty(nz, np.bool_)
    for i in range(lo, hi):
        n = 0
        for j in range(ny):
            row = f[i, j]
            if 0 < i < nx - 1 and 0 < j < ny - 1 and nz > 2:
                for k in range(nz):
                    d = row[k]
                    nd[0, k] = need[0, d]
                    nd[1, k] = need[1, d]
                    nd[2, k] = need[2, d]
                for k in range(1, nz - 1):
                    dom[k] = (row[k - 1] >= nd[0, k]) | (row[k + 1] >= nd[0, k])
                for di in range(-1, 2):
                    for dj in range(-1, 2):
                        c = (di != 0) + (dj != 0)  # class of the in-plane step; +1 with a z step
                        if c == 0:
                            continue
                        a = f[i + di, j + dj]
                        for k in range(1, nz - 1):
                            dom[k] |= (a[k] >= nd[c - 1, k]) | (a[k - 1] >= nd[c, k]) | (a[k + 1] >= nd[c, k])
                dom[0] = _dominated_voxel(f, need, i, j, 0)
                dom[nz - 1] = _dominated_voxel(f, need, i, j, nz - 1)
                for k in range(nz):
                    kp = (row[k] > 0) & (not dom[k])
                    keep[i, j, k] = kp
                    n += kp
            else:
                for k in range(nz):
                    if row[k] > 0 and not _dominated_voxel(f, need, i, j, k):
                        keep[i, j, k] = True
                        n += 1
        counts[i] = n


@numba.njit(cache=True, nogil=True)
def _painted_neighbours(fl, nx, ny, nz, idx, nbo, nbv, lo, hi):
    """Per centre the 26-neighbour ``c'`` with the largest value among those painted before it.

    Painted before: value larger, or equal and earlier in raster order (a neighbour that
    was not kept lies inside a kept ball of larger value, painted before as well).  Stored
    as the offset code ``(di + 1) * 9 + (dj + 1) * 3 + (dk + 1)`` and its value (0: none);
    among equal values the first neighbour in code order.  ``fl``: the values, flat (shape
    ``(nx, ny, nz)`` raveled); centres ``idx[lo:hi]``.  Centres off the array's faces use
    precomputed flat offsets (no bounds checks), the others check each neighbour.
    """
    syz = ny * nz
    offs = np.empty(27, np.int64)
    for q in range(27):
        offs[q] = ((q // 9 - 1) * ny + (q // 3) % 3 - 1) * nz + q % 3 - 1
    for t in range(lo, hi):
        u = np.int64(idx[t])
        d = fl[u]
        i = u // syz
        rem = u - i * syz
        j = rem // nz
        k = rem - j * nz
        best = 0
        code = 13
        if 0 < i < nx - 1 and 0 < j < ny - 1 and 0 < k < nz - 1:
            d2 = 2 * d
            key = np.int64(0)
            for q in range(27):
                dv = np.int64(fl[u + offs[q]])
                # precedes: larger value, or equal and earlier (q < 13); the centre itself
                # (q = 13, dv = d) never does.  One max over value * 32 + (31 - q): the
                # largest value, the first code among equal ones, no serial select chain
                cand = dv if 2 * dv + (q < 13) > d2 else 0
                key = max(key, cand * 32 + (31 - q))
            best = key >> 5
            if best > 0:
                code = 31 - (key & 31)
        else:
            for di in range(-1, 2):
                ii = i + di
                if ii < 0 or ii >= nx:
                    continue
                for dj in range(-1, 2):
                    jj = j + dj
                    if jj < 0 or jj >= ny:
                        continue
                    for dk in range(-1, 2):
                        kk = k + dk
                        if kk < 0 or kk >= nz or (di == 0 and dj == 0 and dk == 0):
                            continue
                        v = (ii * ny + jj) * nz + kk
                        dv = fl[v]
                        if (dv > d or (dv == d and v < u)) and dv > best:
                            best = dv
                            code = (di + 1) * 9 + (dj + 1) * 3 + (dk + 1)
        nbo[t] = code
        nbv[t] = best


#: Width (voxels along z) of the tiles that order the painting: centres go tile by tile
#: (z-tile, then x, y, z): the rows one tile's balls touch stay in cache while its centres
#: are painted (raster order over whole rows evicts them between neighbouring rows).
_PAINT_TILE = 32
#: Largest ball radius (voxels) from which the painting goes by z-tiles; below it one tile
#: (raster order).  Two phases measured at 200^3 and 401^3 (BM01): tiles helped SE (radii
#: 22-30) by 7-8 % and slowed AM (radii 8-9) by up to 10 %.
_TILE_FROM_RADIUS = 16


#: Height (voxels along y) of the tiles of the template painting (:func:`_paint_templates`):
#: tiles of 32 x 32 (z, y) keep the rows a tile's balls touch in cache from one x-plane of
#: centres to the next (401^3 one thread, same run, load ~4.5: SE 4.24 -> 3.74 s, AM 3.22 ->
#: 2.86 s against z-tiles of 32 only; 64 x 32 and 16 x 16 in between).
_PAINT_TILE_Y = 32


@numba.njit(cache=True, nogil=True)
def _tiled_centres(fl, kl, ny, nz, tz, ty, idx, val, tstart):
    """Kept centres (flat ``kl``) ordered by tiles (z-tile ``k // tz`` first, then y-tile
    ``j // ty``), raster order inside a tile, with their values; ``tstart[q]``: the first
    centre of tile ``q = (k // tz) * nty + j // ty`` (``tstart[-1] = n``)."""
    ntz = (nz + tz - 1) // tz
    nty = (ny + ty - 1) // ty
    nt = tstart.size - 1
    for q in range(nt + 1):
        tstart[q] = 0
    nrows = fl.size // nz
    for r in range(nrows):
        base = r * nz
        qy = (r % ny) // ty
        for qz in range(ntz):
            c = 0
            for k in range(qz * tz, min((qz + 1) * tz, nz)):
                c += kl[base + k]
            tstart[qz * nty + qy + 1] += c
    for q in range(nt):
        tstart[q + 1] += tstart[q]
    pos = tstart[:nt].copy()
    for r in range(nrows):
        base = r * nz
        qy = (r % ny) // ty
        for qz in range(ntz):
            q = qz * nty + qy
            t = pos[q]
            for k in range(qz * tz, min((qz + 1) * tz, nz)):
                if kl[base + k]:
                    idx[t] = base + k
                    val[t] = fl[base + k]
                    t += 1
            pos[q] = t


@numba.njit(cache=True, nogil=True)
def _paint_max(out, order, vals, nbo, nbv, isq, nslab, tstart, tile, lo, hi):
    """Raise ``out`` to ``d`` on each kept ball's crescent outside its painted neighbour ball.

    Max semantics make the order irrelevant: a voxel of ``B(c)`` inside the ball of the
    neighbour ``c*`` chosen by :func:`_painted_neighbours` (which precedes ``c`` in the
    order value descending, raster ascending) gets at least ``f(c*) >= f(c)`` from ``c*``
    or, inductively, from the balls that cover ``c*``'s; so each centre writes only the
    rest of its ball.  Centres come by z-tiles of width ``tile`` (:func:`_tiled_centres`,
    ``tstart``), raster order inside a tile (coherent memory access); slab ``s`` owns the
    z-range ``[s nz / nslab, (s+1) nz / nslab)`` and paints the centres of the tiles that
    can reach it (from the largest radius), clipped to it; this call paints the slabs
    ``[lo, hi)``.
    """
    nx, ny, nz = out.shape
    syz = ny * nz
    rmax = isq[isq.size - 1]
    ntile = tstart.size - 1
    for s in range(lo, hi):
        zs0 = s * nz // nslab
        zs1 = (s + 1) * nz // nslab
        t0 = tstart[max(zs0 - rmax, 0) // tile]
        t1 = tstart[min((zs1 - 1 + rmax) // tile + 1, ntile)]
        for t in range(t0, t1):
            u = np.int64(order[t])
            d = vals[t]
            r = isq[d - 1]
            a = u // syz
            rem = u - a * syz
            b = rem // nz
            e = rem - b * nz
            if e + r < zs0 or e - r >= zs1:
                continue
            dn = nbv[t]
            code = nbo[t]
            an = a + code // 9 - 1
            bn = b + (code // 3) % 3 - 1
            en = e + code % 3 - 1
            # in-plane distance of the two centres (0, 1 or sqrt 2)
            dl = math.sqrt((bn - b) * (bn - b) + (en - e) * (en - e))
            for ii in range(max(a - r, 0), min(a + r, nx - 1) + 1):
                rem1 = d - 1 - (ii - a) * (ii - a)
                remn1 = dn - 1 - (ii - an) * (ii - an)
                # the whole disc inside the neighbour's (continuous test with a margin, so
                # rounding can only keep a plane): every row of it would be skipped
                if remn1 >= 0 and math.sqrt(rem1) + dl + 1e-9 <= math.sqrt(remn1):
                    continue
                ry = isq[rem1]
                plane = out[ii]
                for jj in range(max(b - ry, 0), min(b + ry, ny - 1) + 1):
                    h = isq[rem1 - (jj - b) * (jj - b)]
                    z0 = max(e - h, zs0)
                    z1 = min(e + h, zs1 - 1)  # z0 > z1 (outside the slab): nothing below writes
                    remn = remn1 - (jj - bn) * (jj - bn)
                    lo_ = nz
                    hi_ = -1
                    if remn >= 0:
                        hn = isq[remn]
                        lo_ = en - hn
                        hi_ = en + hn
                        if lo_ <= z0 and z1 <= hi_:
                            continue
                    row = plane[jj]
                    # branch-free max (vectorizes); same values as a conditional store
                    if lo_ > hi_:  # no neighbour interval on this row
                        for z in range(z0, z1 + 1):
                            row[z] = max(row[z], d)
                    else:
                        for z in range(z0, min(z1, lo_ - 1) + 1):
                            row[z] = max(row[z], d)
                        for z in range(max(z0, hi_ + 1), z1 + 1):
                            row[z] = max(row[z], d)


#: Volumes from this many voxels on paint by crescent templates (:func:`_paint_templates`);
#: smaller ones evaluate every row of every ball (:func:`_paint_max`: the same writes, one
#: kernel fewer to compile on a fresh cache, the demo's and the tests' first run).
TEMPLATES_FROM = 1 << 21
#: Templates store their rows as int8 offsets: balls of radius >= 128 voxels paint by rows.
_TEMPLATE_RADIUS_BELOW = 128
#: Memory bound of the template row segments (4 bytes each, held during the painting only):
#: at most ``max(per_voxel * f.size, _TEMPLATE_SEGS_MIN_BYTES)`` bytes, else the painting
#: evaluates the rows (:func:`_paint_max`, the same map, slower: BM10 SE 401^3 one thread,
#: whole local thickness 12.8 s by rows vs 7.6 s with its 43.8 M segments = 2.72 B/voxel).
#: ``per_voxel`` is :data:`_TEMPLATE_SEGS_BYTES_PER_VOXEL` (4) when one phase is described
#: at a time (``describe``, ``constrictivity``, the study's describe task): its peak is the
#: tortuosity's float64 field (8 B/voxel + mask), which the painting stage (map 4 + mask 1 +
#: 13 B per kept centre + segments) stays near even at the cap.  Phases described at once
#: (``describe_all(workers >= 2)``, inside :func:`shared_segment_budget`) get
#: :data:`_TEMPLATE_SEGS_BYTES_PER_VOXEL_SHARED` (1): their peak read 14.2-14.4 B/voxel at
#: 401^3 BM01 (load ~2) with the SE phase's 0.84 B/voxel of segments inside, so two phases
#: painting at once with that cap each add < 1.2 B/voxel (the 16 B/voxel goal).
#: Per voxel the segments shrink with the size (the set of (class, d, dn) saturates: BM01 SE
#: 200^3 1.5 B/voxel, 401^3 0.84): the floor of 64 MiB (1 B/voxel of 401^3) keeps small
#: volumes, where fixed costs dominate the bytes per voxel, on the faster path.
_TEMPLATE_SEGS_BYTES_PER_VOXEL = 4
_TEMPLATE_SEGS_BYTES_PER_VOXEL_SHARED = 1
_TEMPLATE_SEGS_MIN_BYTES = 1 << 26
_SEGMENT_BUDGET = threading.local()


@contextlib.contextmanager
def shared_segment_budget():
    """In this block (this thread only) the template segments get the budget of phases
    described at once (:data:`_TEMPLATE_SEGS_BYTES_PER_VOXEL_SHARED`); the map is the same."""
    before = getattr(_SEGMENT_BUDGET, "shared", False)
    _SEGMENT_BUDGET.shared = True
    try:
        yield
    finally:
        _SEGMENT_BUDGET.shared = before


def _segment_bytes_per_voxel() -> int:
    if getattr(_SEGMENT_BUDGET, "shared", False):
        return _TEMPLATE_SEGS_BYTES_PER_VOXEL_SHARED
    return _TEMPLATE_SEGS_BYTES_PER_VOXEL


def _template_table(need: np.ndarray, dmax: int):
    """Slot layout of the crescent templates: ``base[cls, d]`` (int64, shape (8, dmax + 1)) and
    the slot count.

    A kept centre of value ``d`` whose painted neighbour lies at ``v = (da, db, de)`` has the
    class ``cls = 4|da| + 2|db| + |de|`` (0: no painted neighbour, one slot per ``d``) and
    the neighbour value ``dn`` in ``[d, need[c-1, d])`` (``c`` the number of non-zero
    components of ``v``: at least ``d`` because the neighbour precedes it, below ``need``
    because the centre is not contained in the neighbour's ball); its slot is
    ``base[cls, d] + dn - d``.  About ``18.5 dmax^1.5`` slots.
    """
    width = np.zeros((8, dmax + 1), np.int64)
    width[0] = 1
    ds = np.arange(dmax + 1, dtype=np.int64)
    for cls in range(1, 8):
        c = bin(cls).count("1")
        width[cls] = np.maximum(need[c - 1, : dmax + 1].astype(np.int64) - ds, 0)
    width[:, 0] = 0  # no centre has value 0
    flat = np.concatenate([[0], np.cumsum(width.reshape(-1))])
    return flat[:-1].reshape(8, dmax + 1), int(flat[-1])


@numba.njit(cache=True, nogil=True)
def _template_slots(vals, nbo, nbv, base, used, lo, hi):
    """Per centre ``t`` in ``[lo, hi)``: overwrite ``nbv[t]`` (the painted neighbour's value)
    with the centre's template slot (:func:`_template_table`) and mark it in ``used``.
    Returns the number of centres outside their slot range (0 by the containment argument
    of :func:`_template_table`; checked, never written out of bounds)."""
    bad = 0
    nd = base.shape[1]
    for t in range(lo, hi):
        code = nbo[t]
        da = code // 9 - 1
        db = (code // 3) % 3 - 1
        de = code % 3 - 1
        cls = 4 * abs(da) + 2 * abs(db) + abs(de)
        d = vals[t]
        j = nbv[t] - d if cls > 0 else 0
        s = base[cls, d] + j
        k = cls * nd + d + 1  # the next (cls, d) in slot order: its base ends this range
        if j < 0 or s >= (base[k // nd, k % nd] if k < base.size else used.size):
            bad += 1
            s = 0
        nbv[t] = s
        used[s] = 1
    return bad


@numba.njit(cache=True, nogil=True)
def _number_templates(base, used, tmap, params):
    """Number the used slots in slot order: ``tmap[slot] = m``, ``params[m] = (cls, d, dn)``
    (``dn = 0``: no neighbour).  Returns the template count."""
    nt = 0
    ncls, nd = base.shape
    for cls in range(ncls):
        for d in range(1, nd):
            s0 = base[cls, d]
            s1 = base[cls, d + 1] if d + 1 < nd else (base[cls + 1, 1] if cls + 1 < ncls else used.size)
            for s in range(s0, s1):
                if used[s]:
                    tmap[s] = nt
                    params[nt, 0] = cls
                    params[nt, 1] = d
                    params[nt, 2] = d + s - s0 if cls > 0 else 0
                    nt += 1
    return nt


@numba.njit(cache=True, nogil=True)
def _crescent_rows(params, isq, start, segs, fill, lo, hi):
    """The crescent of each template ``m`` in ``[lo, hi)`` as row segments.

    Template ``(cls, d, dn)``: the open lattice ball of squared radius ``d`` at the origin
    minus the one of ``dn`` at ``v = (cls >> 2, (cls >> 1) & 1, cls & 1)`` (non-negative
    components; other signs are reflections), row by row: per x-offset ``di`` and
    y-offset ``dj`` the ball's z-interval ``[-h, h]`` minus the neighbour's, at most two
    segments ``(di, dj, zl, zh)`` (int8).  ``fill=False``: count them into ``start[m + 1]``;
    ``fill=True``: write them from ``segs[start[m]]`` on.  The same rows, intervals and
    skips as :func:`_paint_max` evaluates for every centre, once per template.
    """
    for m in range(lo, hi):
        cls = params[m, 0]
        d = params[m, 1]
        dn = params[m, 2]
        va = cls >> 2
        vb = (cls >> 1) & 1
        ve = cls & 1
        r = isq[d - 1]
        n = start[m] if fill else 0
        dl = math.sqrt(vb * vb + ve * ve)
        for di in range(-r, r + 1):
            rem1 = d - 1 - di * di
            remn1 = dn - 1 - (di - va) * (di - va)
            # the whole disc inside the neighbour's (continuous test with a margin, as in
            # _paint_max): no row of it is painted
            if cls > 0 and remn1 >= 0 and math.sqrt(rem1) + dl + 1e-9 <= math.sqrt(remn1):
                continue
            ry = isq[rem1]
            for dj in range(-ry, ry + 1):
                h = isq[rem1 - dj * dj]
                remn = remn1 - (dj - vb) * (dj - vb)
                lo_ = h + 1  # the neighbour's interval [lo_, hi_]; empty without neighbour
                hi_ = h
                if cls > 0 and remn >= 0:
                    hn = isq[remn]
                    lo_ = ve - hn
                    hi_ = ve + hn
                for z0, z1 in ((-h, min(h, lo_ - 1)), (max(-h, hi_ + 1), h)):
                    if z0 <= z1:
                        if fill:
                            segs[n, 0] = di
                            segs[n, 1] = dj
                            segs[n, 2] = z0
                            segs[n, 3] = z1
                        n += 1
        if not fill:
            start[m + 1] = n


@numba.njit(cache=True, nogil=True)
def _paint_templates(out, order, nbo, slot, tmap, params, start, segs, isq, nslab, tstart, tile, lo, hi):
    """:func:`_paint_max` by replaying each centre's crescent template (:func:`_crescent_rows`).

    Centre ``t`` at ``(a, b, e)`` with the painted neighbour at ``(a, b, e) + v`` replays the
    segments of template ``m = tmap[slot[t]]`` (its value ``d = params[m, 1]``: no value array
    per centre) reflected by the signs of ``v``: the rows
    ``(a + sa di, b + sb dj)`` from ``e + zl`` to ``e + zh`` (``sz < 0``: ``e - zh`` to
    ``e - zl``), clipped to the array and to the slab; no row of the ball is evaluated.
    Slabs, tiles and order as :func:`_paint_max`: the same writes, so the same map.
    """
    nx, ny, nz = out.shape
    fl = out.reshape(-1)
    syz = ny * nz
    rmax = isq[isq.size - 1]
    ntile = tstart.size - 1
    for s in range(lo, hi):
        zs0 = s * nz // nslab
        zs1 = (s + 1) * nz // nslab
        t0 = tstart[max(zs0 - rmax, 0) // tile]
        t1 = tstart[min((zs1 - 1 + rmax) // tile + 1, ntile)]
        for t in range(t0, t1):
            u = np.int64(order[t])
            m = tmap[slot[t]]
            d = params[m, 1]
            r = isq[d - 1]
            a = u // syz
            rem = u - a * syz
            b = rem // nz
            e = rem - b * nz
            if e + r < zs0 or e - r >= zs1:
                continue
            code = nbo[t]
            sx = syz if code >= 9 else -syz  # reflections: signs of the neighbour offset
            sy = nz if (code // 3) % 3 >= 1 else -nz
            pz = code % 3 >= 1
            if a - r >= 0 and a + r < nx and b - r >= 0 and b + r < ny and e - r >= zs0 and e + r < zs1:
                for q in range(start[m], start[m + 1]):
                    w = u + segs[q, 0] * sx + segs[q, 1] * sy
                    zl = segs[q, 2]
                    zh = segs[q, 3]
                    z0 = w + (zl if pz else -zh)
                    z1 = w + (zh if pz else -zl)
                    for z in range(z0, z1 + 1):
                        fl[z] = max(fl[z], d)
            else:
                sa = 1 if code >= 9 else -1
                sb = 1 if (code // 3) % 3 >= 1 else -1
                for q in range(start[m], start[m + 1]):
                    ii = a + sa * segs[q, 0]
                    jj = b + sb * segs[q, 1]
                    if ii < 0 or ii >= nx or jj < 0 or jj >= ny:
                        continue
                    zl = segs[q, 2]
                    zh = segs[q, 3]
                    z0 = max(e + (zl if pz else -zh), zs0)
                    z1 = min(e + (zh if pz else -zl), zs1 - 1)
                    w = (ii * ny + jj) * nz
                    for z in range(w + z0, w + z1 + 1):
                        fl[z] = max(fl[z], d)


def local_thickness_squared(f: np.ndarray, *, threads: int | None = None) -> np.ndarray:
    """Squared local thickness: the largest ball of the family ``f`` covering each voxel.

    Parameters
    ----------
    f : ndarray of int32, shape (nx, ny, nz)
        Squared ball radius per centre in voxel units (``0``: no ball), e.g. the squared
        Euclidean distance transform of a phase (:func:`~vmt_dask.descriptors.squared_edt`).
        Values must be below :data:`~vmt_dask.descriptors.EDT_INF`.
    threads : int, optional
        Granularity of the parallel painting: ``4 * threads`` z-slabs, one with one thread
        (default: numba's thread count).  The result does not depend on it.

    Returns
    -------
    ndarray of int32, same shape
        ``LT2(x) = max {f(c) : |x - c|^2 < f(c)}`` (open balls, lattice distances), ``0``
        where no ball covers ``x``.  With ``f = dt^2`` this is the squared local thickness
        (Hildebrand and Rüegsegger 1997) and ``#{LT2 >= k}`` is the volume of the opening
        by a ball of squared radius ``k``: the CPSD (Münch and Holzer 2008).

    Raises
    ------
    ValueError
        ``f`` not 3-D, negative, or holding :data:`EDT_INF`.

    Notes
    -----
    Exact.  (1) A centre whose lattice ball lies inside the ball of a 26-neighbour with
    at least its value cannot be the largest ball anywhere (containment by the table of
    :func:`containment_table`; chains end since containment of equal balls is
    impossible), so only the other centres are kept.  (2) Each kept centre ``c`` knows
    its largest 26-neighbour ``c*`` that precedes it in the order (value descending,
    raster ascending); by induction over that order every voxel of ``B(c*)`` ends with
    at least ``f(c*) >= f(c)``, so ``c`` only raises the voxels of its ball outside
    ``B(c*)`` to ``f(c)`` (per row at most two intervals).  From
    :data:`TEMPLATES_FROM` voxels on, that crescent is built once per (neighbour class,
    ``f(c)``, ``f(c*)``) as row segments and replayed, reflected, per centre
    (:func:`_crescent_rows`, :func:`_paint_templates`); below, every row of every ball is
    evaluated (:func:`_paint_max`): the same writes.  With max semantics the painting
    order is free: centres go by tiles (32 x 32 along z and y with templates, z-tiles of
    32 for large balls without), raster order inside a tile (the rows a tile's balls touch
    stay in cache), z-slabs in parallel.  Memory: the input (overwritten in place by the
    internal caller) plus 13 bytes per kept centre, and 4 bytes per template row segment
    (at most ``max(1 byte per voxel, 64 MiB)``, else the row evaluation paints).
    """
    f = np.asarray(f)
    if f.ndim != 3:
        raise ValueError(f"f must be 3-D, got ndim={f.ndim}")
    f = np.ascontiguousarray(f, dtype=np.int32)
    if f.size == 0:
        return np.zeros(f.shape, np.int32)
    dmax = int(f.max())
    if dmax >= int(EDT_INF):
        raise ValueError("f holds EDT_INF (a phase without complement): local thickness is unbounded")
    if int(f.min()) < 0:
        raise ValueError(f"f must be >= 0, got minimum {int(f.min())}")
    if dmax == 0:
        return np.zeros(f.shape, np.int32)
    out = f.copy()
    _local_thickness_inplace(out, dmax, threads)
    return out


def _local_thickness_inplace(f: np.ndarray, dmax: int, threads: int | None = None) -> None:
    """:func:`local_thickness_squared` overwriting ``f`` (int32, C-contiguous, ``0 < dmax < EDT_INF``)."""
    need = containment_table(dmax).astype(np.int32)  # values <= 4 dmax + 3 < 2^31
    nx = f.shape[0]
    keep = np.zeros(f.shape, np.bool_)
    counts = np.zeros(nx, np.int64)
    # whole rows (vectorized) from 128^3 on; voxel by voxel below (cheaper to compile)
    run_chunks(_dominated_rows if f.size >= ROWS_FROM else _dominated_voxels, (f, need, keep, counts), nx,
               work=f.size)
    n = int(counts.sum())
    idx = np.empty(n, np.int32 if f.size < (1 << 31) else np.int64)
    val = np.empty(n, np.int32)
    nbo = np.empty(n, np.int8)
    nbv = np.empty(n, np.int32)
    fl = f.reshape(-1)
    ny, nz = f.shape[1], f.shape[2]
    isq = np.array([math.isqrt(v) for v in range(dmax + 1)], np.int64)
    templates = None
    if f.size >= TEMPLATES_FROM and isq[-1] < _TEMPLATE_RADIUS_BELOW:
        base, size = _template_table(need, dmax)
        if size <= f.size:  # ~18.5 dmax^1.5 slots: 5 bytes each, at most 5 bytes per voxel
            templates = base, size
    if templates is not None:
        tile, ty = _PAINT_TILE, _PAINT_TILE_Y
    else:
        # z-tiles pay off for large balls only in the row evaluation (401^3 one thread: SE,
        # radii up to 30, painting 7.17 -> 6.68 s; AM, radii up to 9, 3.89 -> 4.27 s)
        tile, ty = (_PAINT_TILE if isq[-1] >= _TILE_FROM_RADIUS else nz), ny
    nty = (ny + ty - 1) // ty
    tstart = np.empty((nz + tile - 1) // tile * nty + 1, np.int64)
    _tiled_centres(fl, keep.reshape(-1), ny, nz, tile, ty, idx, val, tstart)
    del keep
    tstart = np.ascontiguousarray(tstart[::nty])  # the first centre of each z-tile
    run_chunks(_painted_neighbours, (fl, *f.shape, idx, nbo, nbv), n, work=26 * n)
    t = n_threads() if threads is None else max(1, int(threads))
    # several z-slabs per thread (the balls are unevenly spread), one with one thread
    nslab = 1 if t == 1 else min(nz, 4 * t)
    # one slab per chunk, taken by the threads as they finish one (the result does not
    # depend on the slab count or on which thread paints which slab)
    if templates is not None:
        seg_bytes = max(_segment_bytes_per_voxel() * f.size, _TEMPLATE_SEGS_MIN_BYTES)
        tpl = _build_templates(val, nbo, nbv, isq, *templates, seg_bytes=seg_bytes)
        if tpl is not None:
            del val  # the painting reads each centre's value from its template (4 bytes per centre less)
            run_chunks(_paint_templates, (f, idx, nbo, nbv, *tpl, isq, nslab, tstart, tile), nslab,
                       work=f.size, chunks=nslab, threads=t)
            return
        # over the segment budget: nbv holds the neighbour values again, the rows are evaluated
        # (the (z, y) tiles' centre order is as good for _paint_max: any order, the same map)
    run_chunks(_paint_max, (f, idx, val, nbo, nbv, isq, nslab, tstart, tile), nslab, work=f.size,
               chunks=nslab, threads=t)


def _build_templates(val, nbo, nbv, isq, base, size, *, seg_bytes: int):
    """The crescent templates of the kept centres: ``(tmap, params, start, segs)``
    (:func:`_number_templates`, :func:`_crescent_rows`); ``nbv`` is overwritten by the slots.

    ``None`` when the row segments would take more than ``seg_bytes`` bytes (4 each): then
    ``nbv`` holds the neighbour values again (``dn`` of each centre's template) and nothing
    of the templates is kept."""
    n = val.size
    used = np.zeros(size, np.uint8)
    if _template_slots(val, nbo, nbv, base, used, 0, n):
        raise RuntimeError("local thickness: a kept centre outside its template range (internal error)")
    tmap = np.empty(size, np.int32)
    params = np.empty((int(np.count_nonzero(used)), 3), np.int64)
    nt = _number_templates(base, used, tmap, params)
    del used
    start = np.zeros(nt + 1, np.int64)
    # work (for run_chunks' serial threshold): the rows a template evaluates, those of the
    # disc of squared radius d - 1 per x-offset: about pi d, plus one per template
    work = int(math.pi * float(params[:, 1].sum())) + nt
    run_chunks(_crescent_rows, (params, isq, start, np.empty((0, 4), np.int8), False), nt, work=work)
    np.cumsum(start, out=start)
    if 4 * int(start[-1]) > seg_bytes:
        # back to the neighbour values (template slot -> its dn; 0 for "no neighbour", as
        # _painted_neighbours wrote), in blocks: 12 bytes per centre of the block at a time
        step = 1 << 20
        for lo in range(0, nbv.size, step):
            blk = nbv[lo:lo + step]
            blk[:] = params[tmap[blk], 2]
        return None
    segs = np.empty((int(start[-1]), 4), np.int8)
    run_chunks(_crescent_rows, (params, isq, start, segs, True), nt, work=work)
    return tmap, params, start, segs


# ----------------------------------------------------------------------------- bottleneck
@numba.njit(cache=True, nogil=True)
def _order_desc(fl, vmax, out):
    """Flat indices with ``fl > 0`` sorted by value descending (stable: raster order)."""
    hist = np.zeros(vmax + 2, np.int64)
    for u in range(fl.size):
        hist[fl[u]] += 1
    start = np.zeros(vmax + 2, np.int64)
    acc = 0
    for d in range(vmax, 0, -1):
        start[d] = acc
        acc += hist[d]
    for u in range(fl.size):
        d = fl[u]
        if d > 0:
            out[start[d]] = u
            start[d] += 1
    return out


@numba.njit(cache=True, nogil=True)
def _nbr(w, q, i, j, k, nx, ny, nz, dv, offs):
    """Flat index of neighbour ``q`` of ``w = (i, j, k)``, or -1 outside the array."""
    ii = i + dv[q, 0]
    jj = j + dv[q, 1]
    kk = k + dv[q, 2]
    if ii < 0 or ii >= nx or jj < 0 or jj >= ny or kk < 0 or kk >= nz:
        return -1
    return w + offs[q]


@numba.njit(cache=True, nogil=True)
def _bottleneck_inplace(fl, nx, ny, nz, order, dv, offs, hist):
    """Flood ``f`` (int32 >= 0) from the plane z = 0 in place; reached voxels end as ``-B``.

    ``order``: the flat indices with ``f > 0`` by value descending.  ``hist[b]`` counts the
    voxels reached at level ``b``.  One array holds both the value and the state: a voxel
    is reached iff negative, so each neighbour test is a single load.  ``fl``: the
    values, flat (shape ``(nx, ny, nz)`` raveled).
    """
    syz = ny * nz
    nn = offs.size
    stack = np.empty(1 << 16, np.int64)
    for t in range(order.size):
        u = np.int64(order[t])
        b = fl[u]
        if b < 0:
            continue
        i = u // syz
        rem = u - i * syz
        j = rem // nz
        k = rem - j * nz
        seed = k == 0
        if not seed:
            if 0 < i < nx - 1 and 0 < j < ny - 1 and k < nz - 1:
                for q in range(nn):
                    if fl[u + offs[q]] < 0:
                        seed = True
                        break
            else:
                for q in range(nn):
                    v = _nbr(u, q, i, j, k, nx, ny, nz, dv, offs)
                    if v >= 0 and fl[v] < 0:
                        seed = True
                        break
        if not seed:
            continue
        fl[u] = -b
        n_b = 1
        top = 1
        stack[0] = u
        while top > 0:
            top -= 1
            w = stack[top]
            if top + nn >= stack.size:
                grown = np.empty(stack.size * 2, np.int64)
                for c in range(top + 1):  # a loop, not a slice copy (its error path is a compile cost)
                    grown[c] = stack[c]
                stack = grown
            i = w // syz
            rem = w - i * syz
            j = rem // nz
            k = rem - j * nz
            if 0 < i < nx - 1 and 0 < j < ny - 1 and 0 < k < nz - 1:
                for q in range(nn):
                    v = w + offs[q]
                    if fl[v] >= b:
                        fl[v] = -b
                        stack[top] = v
                        top += 1
                        n_b += 1
            else:
                for q in range(nn):
                    v = _nbr(w, q, i, j, k, nx, ny, nz, dv, offs)
                    if v >= 0 and fl[v] >= b:
                        fl[v] = -b
                        stack[top] = v
                        top += 1
                        n_b += 1
        hist[b] += n_b


def _neighbourhood(shape, connectivity):
    _, ny, nz = shape
    dv = np.array([(a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1)
                   if (a, b, c) != (0, 0, 0) and (connectivity == 26 or abs(a) + abs(b) + abs(c) == 1)],
                  np.int64)
    return dv, (dv[:, 0] * ny + dv[:, 1]) * nz + dv[:, 2]


def bottleneck_from_plane(f: np.ndarray, *, connectivity: int = 26) -> np.ndarray:
    """Widest-path value from the plane z = 0: ``max over paths of the smallest f on the path``.

    Parameters
    ----------
    f : ndarray of int32, shape (nx, ny, nz)
        Non-negative integer values (``0``: not passable), e.g. the squared local thickness.
    connectivity : {26, 6}
        Path neighbourhood.

    Returns
    -------
    ndarray of int32, same shape
        ``B(x) = max over connectivity-paths x_0, ..., x_m = x inside f > 0 with x_0 in the
        plane z = 0 of min_i f(x_i)``; ``0`` where no such path exists.  ``#{B >= k}`` is
        the volume of the components of ``{f >= k}`` that touch the plane: with ``f`` the
        squared local thickness, the opened-set SMIP (Münch and Holzer 2008).

    Notes
    -----
    Values below 2^15: raster sweeps over the rows to the fixed point (:func:`_flood_sweeps`;
    the copy of ``f`` is halved in place into two int16 arrays, no further memory).  Larger
    values, or a maze that needs more than :data:`FLOOD_ROW_LIMIT` row computations per
    row: the voxels are visited once each by value descending (a counting sort); a voxel of
    value ``b`` in the plane or next to a voxel already reached starts a flood of the
    unreached voxels with ``f >= b``, which all get ``B = b`` (they were not reachable at
    any higher level).  Both serial; the same array.
    """
    f = np.asarray(f)
    if f.ndim != 3:
        raise ValueError(f"f must be 3-D, got ndim={f.ndim}")
    if isinstance(connectivity, bool) or connectivity not in (6, 26):
        raise ValueError(f"connectivity must be 6 or 26, got {connectivity!r}")
    f = np.ascontiguousarray(f, dtype=np.int32)
    if f.size == 0:
        return np.zeros(f.shape, np.int32)
    vmax = int(f.max())
    if int(f.min()) < 0 or vmax >= int(EDT_INF):
        raise ValueError("f must lie in [0, EDT_INF)")
    w = f.copy()
    _bottleneck_counts_inplace(w, vmax, connectivity)
    return np.where(w < 0, -w, 0).astype(np.int32)


# ----------------------------------------------------------------------------- sweep flood
#: The sweep flood holds ``B`` in int16: it needs ``vmax < _FLOOD_SWEEPS_BELOW``; larger
#: values flood by value order (:func:`_bottleneck_inplace`).
_FLOOD_SWEEPS_BELOW = 1 << 15
#: The sweep flood gives up (and the flood by value order runs from scratch) after this
#: many row computations per row; BM01/BM10 at 128^3-300^3 need 4-12.
FLOOD_ROW_LIMIT = 40


@numba.njit(cache=True, nogil=True)
def _flood_gather(g, a, first):
    """``g = a`` (``first``) or ``g = max(g, a)``, elementwise (one neighbour row)."""
    if first:
        for z in range(g.size):
            g[z] = a[z]
    else:
        for z in range(g.size):
            g[z] = max(g[z], a[z])


@numba.njit(cache=True, nogil=True)
def _flood_relax(r, fr, g, wide):
    """Raise the row ``r`` (``B``, values ``fr``) from ``g``, the elementwise max of the
    changed neighbour rows' ``B``: ``r[z] = max(r[z], min(fr[z], max g[z-1 .. z+1]))``
    (``wide``, 26-connectivity) or ``min(fr[z], g[z])`` (6-connectivity).  The same as
    relaxing from each neighbour row in turn (``min`` distributes over ``max``).  Returns
    whether ``r`` changed.  The change flag stays int16 (``r``'s dtype: the sweeps' rows):
    an int accumulator widened every lane to int64 (200^3 one thread, whole flood -4-6 %)."""
    n = r.size
    ch = np.int16(0)
    if wide and n > 1:
        for z in (0, n - 1):
            zz = 1 if z == 0 else n - 2
            v = r[z]
            w = max(v, min(fr[z], max(g[z], g[zz])))
            ch = np.int16(ch | (w ^ v))
            r[z] = w
        for z in range(1, n - 1):
            v = r[z]
            w = max(v, min(fr[z], max(max(g[z - 1], g[z]), g[z + 1])))
            ch = np.int16(ch | (w ^ v))
            r[z] = w
    else:
        for z in range(n):
            v = r[z]
            w = max(v, min(fr[z], g[z]))
            ch = np.int16(ch | (w ^ v))
            r[z] = w
    return ch != 0


#: Block length (voxels) of :func:`_flood_scan`'s skip test.
_SCAN_BLOCK = 32


@numba.njit(cache=True, nogil=True)
def _flood_scan(r, fr):
    """Raise the row ``r`` (values ``fr``) along itself (steps +-1 along z, both directions).

    Each direction is a serial recurrence ``r[z] = max(r[z], min(fr[z], r[z -+ 1]))``; a
    block of :data:`_SCAN_BLOCK` positions is skipped when no position in it can rise from
    the array as it is (``min(fr[z], r[z -+ 1]) > r[z]`` nowhere: a vectorized test) and no
    rise runs into it from the previous block: the recurrence would leave it unchanged.
    (200^3 one thread, same run: -13 % on the whole flood; 128^3 +5 %.)
    """
    n = r.size
    carry = False
    for blk in range(1, n, _SCAN_BLOCK):
        hi = min(blk + _SCAN_BLOCK, n)
        if not carry:
            anyc = 0
            for z in range(blk, hi):
                anyc |= min(fr[z], r[z - 1]) > r[z]
            if anyc == 0:
                continue
        prev = r[blk - 1]
        raised = False
        for z in range(blk, hi):
            v = r[z]
            b = max(v, min(fr[z], prev))
            raised = b != v
            r[z] = b
            prev = b
        carry = raised
    carry = False
    for bhi in range(n - 1, 0, -_SCAN_BLOCK):  # positions bhi - 1 down to max(bhi - block, 0)
        lo = max(bhi - _SCAN_BLOCK, 0)
        if not carry:
            anyc = 0
            for z in range(lo, bhi):
                anyc |= min(fr[z], r[z + 1]) > r[z]
            if anyc == 0:
                continue
        prev = r[bhi]
        raised = False
        for z in range(bhi - 1, lo - 1, -1):
            v = r[z]
            b = max(v, min(fr[z], prev))
            raised = b != v
            r[z] = b
            prev = b
        carry = raised


@numba.njit(cache=True, nogil=True)
def _flood_sweeps(f, bb, wide, row_limit, stamp, last, g):
    """Widest-path values from the plane z = 0 by Gauss-Seidel sweeps over the rows of ``f``.

    ``bb`` (int16, ``B = f`` on z = 0 and 0 elsewhere) is raised in place to the fixed
    point ``B(x) = max(B(x), min(f(x), max_u B(u)))`` over the neighbours ``u``: every
    value is attained by a path (a lower bound of the widest-path value), and at the fixed
    point induction along a widest path shows it is at least that value, so it is exact.
    A row ``(x, y)`` (contiguous along z) is recomputed when one of its neighbour rows (8
    with 26-connectivity, 4 with 6) changed after its last computation, from those rows
    only (their elementwise max first, then one pass over the row), then along itself;
    x-planes alternate forward and backward, rows inside a plane alternate up and down,
    until a whole sweep computes nothing.  Returns the number of sweeps, or -1 after more
    than ``row_limit`` row computations (``bb`` then holds lower bounds).  ``stamp`` (zeros)
    and ``last`` (-1), int64 of shape ``(nx + 2, ny + 2)`` (padded): the time of each row's
    last change and last computation; ``g``: scratch of length nz, ``bb``'s dtype
    (allocated by the caller: ``np.full`` inside costs ~1 s of compile).
    """
    nx, ny, nz = f.shape
    t = 1
    sweeps = 0
    rows = 0
    while True:
        work = False
        fwd = sweeps % 2 == 0
        for xi in range(nx):
            x = xi if fwd else nx - 1 - xi
            up = True
            while True:
                busy = False
                for yi in range(ny):
                    y = yi if up else ny - 1 - yi
                    lp = last[x + 1, y + 1]
                    need = lp < 0  # first visit: the inlet value spreads along the row
                    for dx in range(-1, 2):
                        for dy in range(-1, 2):
                            if (dx != 0 or dy != 0) and (wide or dx == 0 or dy == 0):
                                need |= stamp[x + 1 + dx, y + 1 + dy] > lp
                    if not need:
                        continue
                    r = bb[x, y]
                    fr = f[x, y]
                    ch = lp < 0
                    first = True
                    for dx in range(-1, 2):
                        xx = x + dx
                        if xx < 0 or xx >= nx:
                            continue
                        for dy in range(-1, 2):
                            yy = y + dy
                            if yy < 0 or yy >= ny or (dx == 0 and dy == 0) or (not wide and dx != 0 and dy != 0):
                                continue
                            if stamp[xx + 1, yy + 1] > lp:
                                _flood_gather(g, bb[xx, yy], first)
                                first = False
                    if not first:
                        ch |= _flood_relax(r, fr, g, wide)
                    if ch:
                        _flood_scan(r, fr)
                        stamp[x + 1, y + 1] = t
                    last[x + 1, y + 1] = t
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


#: Volumes from this many voxels on flood with :func:`_flood_sweeps` (gathered neighbour
#: rows, blocked scan); smaller ones with :func:`_flood_sweeps_small` (one relaxation per
#: neighbour row, plain scan: the same values; on a fresh cache it compiles in ~2.9 s CPU
#: against ~4.5 s, which the demo's small grids never earn back).
FLOOD_FUSED_FROM = 1 << 21


@numba.njit(cache=True, nogil=True)
def _flood_relax_row(r, fr, a, wide):
    """:func:`_flood_relax` from one neighbour row ``a`` (small volumes)."""
    n = r.size
    ch = 0
    if wide and n > 1:
        for z in (0, n - 1):
            zz = 1 if z == 0 else n - 2
            v = r[z]
            w = max(v, min(fr[z], max(a[z], a[zz])))
            ch |= w ^ v
            r[z] = w
        for z in range(1, n - 1):
            v = r[z]
            w = max(v, min(fr[z], max(max(a[z - 1], a[z]), a[z + 1])))
            ch |= w ^ v
            r[z] = w
    else:
        for z in range(n):
            v = r[z]
            w = max(v, min(fr[z], a[z]))
            ch |= w ^ v
            r[z] = w
    return ch != 0


@numba.njit(cache=True, nogil=True)
def _flood_scan_plain(r, fr):
    """:func:`_flood_scan` without the block test (small volumes)."""
    n = r.size
    prev = r[0]
    for z in range(1, n):
        b = max(r[z], min(fr[z], prev))
        r[z] = b
        prev = b
    prev = r[n - 1]
    for z in range(n - 2, -1, -1):
        b = max(r[z], min(fr[z], prev))
        r[z] = b
        prev = b


@numba.njit(cache=True, nogil=True)
def _flood_sweeps_small(f, bb, wide, row_limit, stamp, last):
    """:func:`_flood_sweeps` for small volumes: the same sweeps, rows and fixed point, with
    one relaxation per changed neighbour row and the plain row scan (less code to compile)."""
    nx, ny, nz = f.shape
    t = 1
    sweeps = 0
    rows = 0
    while True:
        work = False
        fwd = sweeps % 2 == 0
        for xi in range(nx):
            x = xi if fwd else nx - 1 - xi
            up = True
            while True:
                busy = False
                for yi in range(ny):
                    y = yi if up else ny - 1 - yi
                    lp = last[x + 1, y + 1]
                    need = lp < 0
                    for dx in range(-1, 2):
                        for dy in range(-1, 2):
                            if (dx != 0 or dy != 0) and (wide or dx == 0 or dy == 0):
                                need |= stamp[x + 1 + dx, y + 1 + dy] > lp
                    if not need:
                        continue
                    r = bb[x, y]
                    fr = f[x, y]
                    ch = lp < 0
                    for dx in range(-1, 2):
                        xx = x + dx
                        if xx < 0 or xx >= nx:
                            continue
                        for dy in range(-1, 2):
                            yy = y + dy
                            if yy < 0 or yy >= ny or (dx == 0 and dy == 0) or (not wide and dx != 0 and dy != 0):
                                continue
                            if stamp[xx + 1, yy + 1] > lp:
                                ch |= _flood_relax_row(r, fr, bb[xx, yy], wide)
                    if ch:
                        _flood_scan_plain(r, fr)
                        stamp[x + 1, y + 1] = t
                    last[x + 1, y + 1] = t
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
def _halve_inplace(w32, w16):
    """``w16[u] = w32[u]`` for every ``u`` in ascending order, where ``w16`` is the int16 view
    of ``w32``'s own buffer: the write at bytes ``[2u, 2u + 2)`` never reaches an unread
    ``w32[v]`` (``v > u``, bytes from ``4v``).  Serial, values must fit int16."""
    for u in range(w32.size):
        w16[u] = w32[u]


@numba.njit(cache=True, nogil=True)
def _widen_inplace(w16, w32):
    """``w32[u] = w16[u]`` in descending order (the inverse of :func:`_halve_inplace`): the
    write at bytes ``[4u, 4u + 4)`` never reaches a ``w16[v]`` still to be read (``v < u``)."""
    for u in range(w32.size - 1, -1, -1):
        w32[u] = w16[u]


@numba.njit(cache=True, nogil=True)
def _flood_merge(f16, b16, hist):
    """``f16[u] = -B`` where reached (``B = b16[u] > 0``), ``hist[B] += 1``."""
    for u in range(f16.size):
        b = b16[u]
        if b > 0:
            f16[u] = -b
            hist[b] += 1


def _bottleneck_counts_inplace(f: np.ndarray, vmax: int, connectivity: int) -> np.ndarray:
    """Flood ``f`` in place (reached voxels become ``-B``); return ``hist[b] = #{B = b}``.

    Raster sweeps (:func:`_flood_sweeps`, or :func:`_flood_sweeps_small` below
    :data:`FLOOD_FUSED_FROM` voxels) when the values fit int16, else (or for mazes, after
    :data:`FLOOD_ROW_LIMIT` row computations per row) the flood by value order
    (:func:`_bottleneck_inplace`); both give the same array and counts.  The sweeps need no
    memory beside ``f``: its int32 buffer is rewritten as two int16 arrays, the values in
    its first half and ``B`` in its second (:func:`_halve_inplace`), and widened back at the
    end (:func:`_widen_inplace`).
    """
    hist = np.zeros(vmax + 1, np.int64)
    fl = f.reshape(-1)
    if 0 < vmax < _FLOOD_SWEEPS_BELOW and f.shape[2] > 0:
        n = fl.size
        w16 = fl.view(np.int16)  # f is C-contiguous int32: 2 n int16 over the same bytes
        _halve_inplace(fl, w16)
        f16 = w16[:n].reshape(f.shape)
        bb = w16[n:].reshape(f.shape)
        bb[...] = 0
        bb[:, :, 0] = f16[:, :, 0]  # B = f on the plane z = 0
        rows = (f.shape[0] + 2, f.shape[1] + 2)
        args = (f16, bb, connectivity == 26, FLOOD_ROW_LIMIT * f.shape[0] * f.shape[1],
                np.zeros(rows, np.int64), np.full(rows, -1, np.int64))
        if f.size >= FLOOD_FUSED_FROM:
            sweeps = _flood_sweeps(*args, np.empty(f.shape[2], np.int16))
        else:
            sweeps = _flood_sweeps_small(*args)
        if sweeps >= 0:
            _flood_merge(w16[:n], w16[n:], hist)
        _widen_inplace(w16, fl)  # the values (or -B) back to int32
        if sweeps >= 0:
            return hist
    n = int(np.count_nonzero(f))
    order = _order_desc(fl, vmax, np.empty(n, np.int32 if f.size < (1 << 31) else np.int64))
    dv, offs = _neighbourhood(f.shape, connectivity)
    _bottleneck_inplace(fl, *f.shape, order, dv, offs, hist)
    return hist


@numba.njit(cache=True, nogil=True)
def _value_counts(fl, vmax, hist):
    for u in range(fl.size):
        v = fl[u]
        if v > 0:
            hist[v] += 1


def value_counts(f: np.ndarray, vmax: int | None = None) -> np.ndarray:
    """``hist[v] = #{f == v}`` for ``v = 1 .. vmax`` (int64, length ``vmax + 1``; ``hist[0] = 0``).

    Like ``np.bincount`` without its int64 copy of the input (8 bytes per voxel).
    """
    f = np.ascontiguousarray(f)
    top = int(f.max()) if f.size else 0
    vmax = top if vmax is None else max(int(vmax), top)  # no write past the end
    hist = np.zeros(max(vmax, 0) + 1, np.int64)
    if f.size:
        _value_counts(f.reshape(-1), vmax, hist)
    return hist
