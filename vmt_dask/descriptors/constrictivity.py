"""Constrictivity from the continuous phase size distribution and simulated intrusion."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numba
import numpy as np

from ..errors import InputError
from ._parallel import run_chunks
from ._validate import as_mask, check_axis, check_positive, check_spacing, check_voxel_size
from .edt import EDT_INF, _ball_cover_values, ball_cover_values_spacing, squared_edt, squared_edt_spacing
from .thickness import _bottleneck_counts_inplace, _local_thickness_inplace, value_counts

__all__ = ["constrictivity", "constrictivity_variants", "ConstrictivityResult", "cpsd", "smip",
           "INTRUSIONS", "INLETS", "BALLS", "CROSSINGS", "CONVENTION_DEFAULTS"]


@dataclass(frozen=True)
class ConstrictivityResult:
    """Constrictivity of one phase.

    Attributes
    ----------
    beta : float
        ``(r_min / r_max) ** 2`` in [0, 1] (NaN if ``r_max = 0``).
    r_min, r_max : float
        Characteristic radii in micrometres (``r_min`` from SMIP, ``r_max`` from
        CPSD); both ``inf`` when the window holds no complement voxel at all.
    k_min, k_max : int
        The grid radii as thresholds on the squared distance transform (voxel
        units): the admissible centres are those with ``dt**2 >= k``.  With the
        default conventions ``r = sqrt(k) * voxel_size``; 0 when no grid radius
        is feasible.
    percolating : bool or None
        Whether the phase connects the inlet plane to the far plane (index ``n - 1`` along
        the axis) in the convention's neighbourhood (26 by default: then exactly when the
        geodesic tortuosity reaches some start voxel).  ``False`` flags a value that
        describes the window, not a transport bottleneck: SMIP counts what is intruded from
        the inlet, and the definition does not ask the intrusion to break through (see
        :func:`constrictivity`, Notes).  ``None`` only for results made without it.
    radii, cpsd, smip : ndarray of float64 or None
        With ``curves=True``: the radius grid in micrometres (ascending; with
        ``radius_step=None`` every radius at which a curve can step, ``sqrt(k)``
        voxels for each distinct value ``k`` of ``dt**2`` in the phase) and the
        CPSD and SMIP there (volume fractions of the window, non-increasing).
        Both are right-continuous step functions of ``r**2`` on the grid: the
        value at ``radii[j]`` holds for ``radii[j-1] < r <= radii[j]``.
        ``None`` otherwise.
    """

    beta: float
    r_min: float
    r_max: float
    k_min: int
    k_max: int
    percolating: bool | None = None
    radii: np.ndarray | None = field(default=None, repr=False, compare=False)
    cpsd: np.ndarray | None = field(default=None, repr=False, compare=False)
    smip: np.ndarray | None = field(default=None, repr=False, compare=False)


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


@numba.njit(cache=True, nogil=True)
def _count_planes(a, k, below, counts, lo, hi):
    """``counts[i] = #{a[i] < k}`` (``below``) or ``#{a[i] >= k}`` for the x-planes ``[lo, hi)``."""
    _, ny, nz = a.shape
    for i in range(lo, hi):
        n = 0
        for j in range(ny):
            for z in range(nz):
                n += (a[i, j, z] < k) == below
        counts[i] = n


def _count(a, k, below):
    counts = np.zeros(a.shape[0], np.int64)
    run_chunks(_count_planes, (a, np.int64(k), below, counts), a.shape[0], work=a.size)
    return int(counts.sum())


def _count_below(d2, k):
    return _count(d2, k, True)


def _count_at_least(r2, k):
    return _count(r2, k, False)


@numba.njit(cache=True, nogil=True)
def _reach26(dt2, vmax):
    """As :func:`_reach` with paths in the 26-neighbourhood."""
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
                continue
            i = u // syz
            rem = u - i * syz
            j = rem // nz
            z = rem - j * nz
            for di in range(-1, 2):
                ii = i + di
                if ii < 0 or ii >= nx:
                    continue
                for dj in range(-1, 2):
                    jj = j + dj
                    if jj < 0 or jj >= ny:
                        continue
                    for dk in range(-1, 2):
                        zz = z + dk
                        if zz < 0 or zz >= nz or (di == 0 and dj == 0 and dk == 0):
                            continue
                        v = ii * syz + jj * nz + zz
                        cand = min(b, d[v])
                        if cand > flat[v]:
                            flat[v] = cand
                            item, nxt, n_nodes = _push(item, nxt, head, n_nodes, v, cand)
    return flat.reshape(dt2.shape)


@numba.njit(cache=True, nogil=True)
def _flood_padded(c, offs, nzp, z0, seeds):
    """Depth-first flood of ``c`` (flat, padded with a False border; consumed) from ``seeds``."""
    stack = np.empty(max(1, int(np.count_nonzero(c))), np.int32)
    top = 0
    for u in seeds:
        if c[u]:
            c[u] = False
            stack[top] = u
            top += 1
    count = 0
    nn = offs.size
    while top > 0:
        top -= 1
        u = np.int64(stack[top])
        if u % nzp >= z0:
            count += 1
        for q in range(nn):
            v = u + offs[q]
            if c[v]:
                c[v] = False
                stack[top] = v
                top += 1
    return count


def _flood_count(cov, conn26, z0):
    """Voxels with ``z >= z0`` of the components of ``cov`` that touch the plane z = 0.

    ``cov`` (bool, shape (nx, ny, nz)) is flooded from its voxels in the plane
    z = 0 with the 6- or 26-neighbourhood: depth-first over a copy padded with
    a False border (no bounds checks; each voxel is pushed at most once).
    """
    nx, ny, nz = cov.shape
    cp = np.zeros((nx + 2, ny + 2, nz + 2), bool)
    cp[1:-1, 1:-1, 1:-1] = cov
    nyp, nzp = ny + 2, nz + 2
    offs = [(di * nyp + dj) * nzp + dk for di in (-1, 0, 1) for dj in (-1, 0, 1) for dk in (-1, 0, 1)
            if (di, dj, dk) != (0, 0, 0) and (conn26 or abs(di) + abs(dj) + abs(dk) == 1)]
    plane = np.zeros(cp.shape, bool)
    plane[:, :, 1] = cp[:, :, 1]
    seeds = np.flatnonzero(plane)
    del plane
    return int(_flood_padded(cp.reshape(-1), np.array(offs, np.int64), nzp, z0 + 1, seeds))


def _cover_count(r2: np.ndarray, k: int, z0: int = 0) -> int:
    """Voxels (with ``z >= z0``) inside an open ball ``|x - c|^2 < r2(c)`` with ``r2(c) >= k``."""
    if _count_at_least(r2, k) == 0:
        return 0
    g = _ball_cover_values(r2, k)
    return int(_count_below(g[:, :, z0:] if z0 else g, 0))


def _cpsd_count(dt2, k):
    return _cover_count(dt2, k)


def _smip_count(reach, k):
    return _cover_count(reach, k)


def _reach_of(dt2, connectivity=6):
    vals_max = int(dt2.max()) if dt2.size else 0
    if vals_max >= int(EDT_INF):
        raise ValueError("reach is undefined for a phase filling the window")
    return (_reach26 if connectivity == 26 else _reach)(dt2, max(vals_max, 1))


def _prepare(mask, axis):
    mask = as_mask(mask)
    axis = check_axis(axis)
    m = np.ascontiguousarray(np.moveaxis(mask, axis, -1))
    dt2 = squared_edt(m)
    return m, dt2


def _radii_to_k(radii, voxel_size):
    r = np.atleast_1d(np.asarray(radii, dtype=float)) / voxel_size
    if np.any(~np.isfinite(r)) or np.any(r <= 0):
        raise InputError(f"radii must be positive and finite, got {radii!r}")
    # CPSD and SMIP only change at r**2 = integer k: r**2 in (k-1, k] gives the
    # same opening (dt2 is integer).  The small slack absorbs rounding of r.
    return np.maximum(1, np.ceil(r * r - 1e-9)).astype(np.int64)


def _full_window(dt2) -> bool:
    # a single non-phase voxel makes every distance finite
    return dt2.size > 0 and int(dt2.max()) == int(EDT_INF)


# --------------------------------------------------------------------------- conventions
#: Where intrusion is judged connected: through the ball centres (``"centres"``: a
#: ball must be moved from the inlet with its centre on a path of admissible
#: centres) or through the opened set (``"opening"``: components of the union of
#: admissible balls that touch the inlet).
INTRUSIONS = ("centres", "opening")
#: Where intrusion starts: the first plane of the window, or a reservoir of phase
#: in front of it (balls may enter the window partially).
INLETS = ("plane", "reservoir")
#: A ball of radius r fits at c if it misses every complement voxel centre: open
#: balls ``|x - c| < r`` need ``dt(c) >= r``, closed balls ``|x - c| <= r`` need ``dt(c) > r``.
BALLS = ("open", "closed")
#: r_min / r_max: the largest grid radius whose curve value reaches eps/2, or the
#: crossing of eps/2 interpolated linearly in r between that grid radius and the next.
CROSSINGS = ("grid", "interpolate")


@dataclass(frozen=True)
class _Conventions:
    intrusion: str
    connectivity: int
    radius_step: float | None
    balls: str
    inlet: str
    crossing: str


def _check_choice(value, choices, name):
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def _conventions(intrusion, connectivity, radius_step, balls, inlet, crossing) -> _Conventions:
    _check_choice(intrusion, INTRUSIONS, "intrusion")
    if isinstance(connectivity, bool) or connectivity not in (6, 26):
        raise InputError(f"connectivity must be 6 or 26, got {connectivity!r}")
    if radius_step is not None:
        radius_step = check_positive(radius_step, "radius_step")
    _check_choice(balls, BALLS, "balls")
    _check_choice(inlet, INLETS, "inlet")
    _check_choice(crossing, CROSSINGS, "crossing")
    return _Conventions(intrusion, int(connectivity), radius_step, balls, inlet, crossing)


def _grid(kmax: int, step: float | None, balls: str):
    """Grid radii ``r_j`` (voxel units, ascending) and their thresholds ``k_j`` on ``dt**2``.

    The last entry is the first one with ``k_j > kmax`` (no admissible centre:
    its curve value is 0), so every search has an infeasible upper end.
    """
    if step is None:  # every distinct value: r**2 = 1, 2, ..., kmax + 1
        ks = np.arange(1, kmax + 2, dtype=np.int64)
        return np.sqrt(ks.astype(float)), ks
    j_end = int(math.floor(math.sqrt(kmax + 1) / step)) + 2
    rs = step * np.arange(1, j_end + 1, dtype=float)
    r2 = rs * rs
    if balls == "open":
        ks = np.maximum(1, np.ceil(r2 - 1e-9)).astype(np.int64)
    else:
        ks = np.floor(r2 + 1e-9).astype(np.int64) + 1
    last = int(np.flatnonzero(ks > kmax)[0])
    return rs[: last + 1], ks[: last + 1]


class _Curves:
    """Memoized CPSD and SMIP voxel counts as functions of the threshold ``k``."""

    def __init__(self, m, dt2, kmax, conv: _Conventions, k_query: int = 0, cpsd_memo=None,
                 aniso=None):
        self.m = m
        self.dt2 = dt2
        # anisotropic voxels: dt2 holds ranks of the distinct squared distances,
        # aniso = (values with a leading 0, spacing); covers use the true values
        self.aniso = aniso
        self.conv = conv
        self.kmax = kmax
        self._cpsd: dict[int, int] = {} if cpsd_memo is None else cpsd_memo
        self._smip: dict[int, int] = {}
        if conv.inlet == "reservoir":
            # R planes of phase in front of the inlet: larger than the largest
            # admissible ball, so any ball can wait in the reservoir.
            # (k_query: the largest threshold that will be asked for, if above kmax.)
            kq = max(kmax, int(k_query))
            self.z0 = int(math.isqrt(kq)) + 2
            mp = np.concatenate([np.ones(m.shape[:2] + (self.z0,), bool), m], axis=2)
            base = squared_edt(mp)
            np.minimum(base, kq + 1, out=base)  # larger values never matter
        else:
            self.z0 = 0
            base = dt2
        self.base = base
        self.reach = None
        if conv.intrusion == "centres":
            self.reach = (_reach26 if conv.connectivity == 26 else _reach)(base, int(base.max()))

    @property
    def through(self) -> bool:
        """Whether the phase's components (the convention's neighbourhood) that touch the
        inlet plane reach the far plane (at the smallest threshold every phase voxel is an
        admissible centre and the opened set is the phase; a reservoir adds nothing: it only
        touches the inlet plane's voxels, which are seeds anyway)."""
        if not hasattr(self, "_through"):
            m = self.m
            self._through = _flood_count(m, self.conv.connectivity == 26, m.shape[2] - 1) > 0
        return self._through

    def _fused(self) -> bool:
        # opened-set SMIP from the plane: its cover is the CPSD set, so one
        # transform gives both counts at a threshold
        return self.reach is None and self.z0 == 0

    def _g(self, r2, k):
        """Cover values (negative = covered) of the balls with threshold ``k``."""
        if self.aniso is None:
            return _ball_cover_values(r2, k)
        vals, sp = self.aniso
        return ball_cover_values_spacing(vals[r2], vals[k], sp)

    def _count(self, r2, k, z0=0):
        if self.aniso is None:
            return _cover_count(r2, k, z0)
        if _count_at_least(r2, k) == 0:
            return 0
        return int(np.count_nonzero(self._g(r2, k)[:, :, z0:] < 0))

    def _both(self, k: int) -> None:
        cov = self._g(self.dt2, k) < 0
        self._cpsd[k] = int(np.count_nonzero(cov))
        self._smip[k] = int(_flood_count(cov, self.conv.connectivity == 26, 0))

    def cpsd(self, k: int) -> int:
        k = int(k)
        if k not in self._cpsd:
            if k > self.kmax:
                self._cpsd[k] = 0
            elif self._fused() and k not in self._smip:
                self._both(k)
            else:
                self._cpsd[k] = self._count(self.dt2, k)
        return self._cpsd[k]

    def smip(self, k: int) -> int:
        k = int(k)
        if k not in self._smip:
            if k > self.kmax and self.z0 == 0:
                val = 0  # no admissible centre (a reservoir has larger ones)
            elif self.reach is not None:
                r = self.reach
                if _count_at_least(r, k) == 0:
                    val = 0
                else:
                    val = self._count(r, k, self.z0)
            elif self._fused() and k not in self._cpsd:
                self._both(k)
                return self._smip[k]
            else:
                cov = self._g(self.base, k) < 0
                val = int(_flood_count(cov, self.conv.connectivity == 26, self.z0))
            self._smip[k] = val
        return self._smip[k]


class _HistCurves:
    """CPSD and SMIP voxel counts at every threshold ``k``, from two histograms.

    ``cpsd_ge[k] = #{LT2 >= k}`` (squared local thickness) and ``smip_ge[k] = #{B >= k}``
    (bottleneck value of the family); beyond their ends the counts are 0.
    """

    reach = None
    z0 = 0

    def __init__(self, cpsd_ge: np.ndarray, smip_ge: np.ndarray, through: bool):
        self.cpsd_ge = cpsd_ge
        self.smip_ge = smip_ge
        self.through = through  # the flood from the inlet plane reached the far plane

    def cpsd(self, k: int) -> int:
        k = int(k)
        return int(self.cpsd_ge[k]) if k < self.cpsd_ge.size else 0

    def smip(self, k: int) -> int:
        k = int(k)
        return int(self.smip_ge[k]) if k < self.smip_ge.size else 0


def _at_least(hist: np.ndarray) -> np.ndarray:
    """``ge[k] = #{value >= k}`` from ``hist[v] = #{value == v}``."""
    return np.cumsum(hist[::-1])[::-1]


def _hist_families(dt2: np.ndarray, fams, consume: bool) -> dict:
    """:class:`_HistCurves` of each (intrusion, connectivity) family with the plane inlet.

    CPSD: ``#{LT2 >= k}`` with ``LT2`` the squared local thickness of ``dt2``.  SMIP,
    ``"opening"``: ``#{B >= k}`` with ``B`` the bottleneck value of ``LT2`` from the plane
    z = 0 (a voxel lies in a component of ``{LT2 >= k}`` touching the plane iff ``B >= k``).
    SMIP, ``"centres"``: ``#{LTR >= k}`` with ``LTR`` the local thickness of the balls of
    squared radius ``reach`` (the bottleneck value of ``dt2``).  ``consume``: ``dt2`` may be
    overwritten (it becomes the flooded local thickness).
    """
    vmax = int(dt2.max())
    smip_ge = {}
    # whether the flood reached the far plane (reached voxels hold -B < 0): at the smallest
    # threshold every phase voxel is admissible, so this is the phase's own connectivity
    through = {}
    for fam in sorted(fams):
        intrusion, conn = fam
        if intrusion != "centres":
            continue
        r = dt2.copy()
        _bottleneck_counts_inplace(r, vmax, conn)  # reached voxels hold -reach
        through[fam] = bool((r[:, :, -1] < 0).any())
        np.negative(r, out=r)
        np.maximum(r, 0, out=r)
        rmax = int(r.max())
        if rmax > 0:
            _local_thickness_inplace(r, rmax)
        smip_ge[fam] = _at_least(value_counts(r, rmax))
        del r
    lt = dt2 if consume else dt2.copy()
    _local_thickness_inplace(lt, vmax)
    cpsd_ge = _at_least(value_counts(lt, vmax))
    openings = sorted(f for f in fams if f[0] == "opening")
    for q, fam in enumerate(openings):
        w = lt if q == len(openings) - 1 else lt.copy()
        smip_ge[fam] = _at_least(_bottleneck_counts_inplace(w, vmax, fam[1]))
        through[fam] = bool((w[:, :, -1] < 0).any())
        del w
    return {fam: _HistCurves(cpsd_ge, smip_ge[fam], through[fam]) for fam in fams}


def _largest_feasible_index(count, ks, lo, hi, n_phase):
    """Largest index ``j`` in ``(lo, hi)`` with ``2 count(ks[j]) >= n_phase`` by bisection.

    ``lo`` is known feasible (``-1``: none known) and ``hi`` infeasible; the
    counts are non-increasing in ``k``.
    """
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if 2 * count(int(ks[mid])) >= n_phase:
            lo = mid
        else:
            hi = mid
    return lo


def _radius(j, rs, ks, count, n_phase, crossing):
    """Radius (voxel units) at grid index ``j`` (-1: below the grid), maybe interpolated."""
    if crossing == "grid":
        return float(rs[j]) if j >= 0 else 0.0
    # linear in r between (r_j, f_j) and (r_{j+1}, f_{j+1}); f(0) = the phase volume
    r0, f0 = (float(rs[j]), count(int(ks[j]))) if j >= 0 else (0.0, n_phase)
    r1, f1 = float(rs[j + 1]), count(int(ks[j + 1]))
    t = 0.5 * n_phase
    if f0 <= f1:
        return r0
    return r0 + (f0 - t) / (f0 - f1) * (r1 - r0)


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
    if not dt2.any():
        return np.zeros(ks.size)
    curves = _hist_families(dt2, {("opening", 26)}, consume=True)[("opening", 26)]
    return np.array([curves.cpsd(int(k)) for k in ks]) / m.size


def smip(mask: np.ndarray, radii, *, voxel_size: float, axis: int = 2,
         intrusion: str = "opening", connectivity: int = 26, inlet: str = "plane") -> np.ndarray:
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
    intrusion, connectivity, inlet
        Conventions as in :func:`constrictivity`.

    Returns
    -------
    ndarray of float
        ``SMIP(r)``: volume fraction (of the window) covered by open balls of
        radius ``>= r`` that can be moved in from the start plane (Münch and
        Holzer 2008; PoreSpy ``porosimetry``).  Non-increasing in ``r``; see
        :func:`constrictivity`.
    """
    a = check_voxel_size(voxel_size)
    conv = _conventions(intrusion, connectivity, None, "open", inlet, "grid")
    ks = _radii_to_k(radii, a)
    m, dt2 = _prepare(mask, axis)
    if _full_window(dt2):
        return np.ones(ks.size)
    if not dt2.any():
        return np.zeros(ks.size)
    if _fast(conv, None):
        fam = (conv.intrusion, conv.connectivity)
        curves = _hist_families(dt2, {fam}, consume=True)[fam]
    else:
        curves = _Curves(m, dt2, int(dt2.max()), conv, k_query=int(ks.max()))
    return np.array([curves.smip(int(k)) for k in ks]) / m.size


def constrictivity(mask: np.ndarray, *, voxel_size: float, axis: int = 2,
                   intrusion: str = "opening", connectivity: int = 26,
                   radius_step: float | None = None, balls: str = "open",
                   inlet: str = "plane", crossing: str = "grid",
                   curves: bool = False) -> ConstrictivityResult:
    """Constrictivity ``beta = (r_min / r_max)^2`` of a phase.

    Parameters
    ----------
    mask : ndarray of bool, shape (nx, ny, nz)
        Phase indicator (non-empty).
    voxel_size : float or (dx, dy, dz)
        Voxel edge length(s) in micrometres.  Anisotropic voxels: the distance
        transform and the balls use the physical metric (the radius grid is the
        set of distinct squared distances; ``radius_step`` and the reservoir
        inlet are then not available).
    axis : int
        Intrusion direction for SMIP (default 2 = z); balls enter through the
        plane at index 0 along it.
    intrusion : {"opening", "centres"}
        How intrusion is judged connected to the inlet (see Notes).  Default
        ``"opening"`` (chosen by evidence, see below and docs/fidelity.md).
    connectivity : {26, 6}
        Neighbourhood of the connectivity (of centres or of the opened set);
        default 26.
    radius_step : float or None
        ``None``: every radius ``r = sqrt(k)`` at which the curves can change
        (continuous radii); a number ``s``: the grid ``s, 2 s, ...`` in voxel
        units (1.0 = whole voxels, 0.5 = half voxels).
    balls : {"open", "closed"}
        Whether a ball of radius ``r`` at ``c`` must satisfy ``dt(c) >= r``
        (open) or ``dt(c) > r`` (closed).  Matters only on a grid.
    inlet : {"plane", "reservoir"}
        Intrusion starts from the phase voxels of the first plane, or from a
        reservoir of phase in front of it (balls may enter partially).
    crossing : {"grid", "interpolate"}
        ``r_max`` (``r_min``) is the largest grid radius with CPSD (SMIP)
        ``>= eps / 2``, or the crossing of ``eps / 2`` interpolated linearly in
        ``r`` between that grid radius and the next.
    curves : bool
        Also return the whole CPSD and SMIP curves on the radius grid
        (:attr:`ConstrictivityResult.radii`, ``.cpsd``, ``.smip``).  Cubic voxels
        and the plane inlet only.

    Returns
    -------
    ConstrictivityResult
        ``beta``, ``r_min`` and ``r_max`` (micrometres), and the grid radii as
        squared voxel counts ``k_min``, ``k_max`` (thresholds on ``dt**2``);
        with ``curves=True`` also the curves.

    Raises
    ------
    TypeError, InputError
        Bad mask, voxel size, axis or convention; ``curves=True`` with
        anisotropic voxels or the reservoir inlet.

    Notes
    -----
    Paper Section 2.3 (refs. [42] Neumann et al. 2019, [45] Münch and Holzer
    2008); cumulative definitions of Münch and Holzer, as computed by PoreSpy's
    ``local_thickness`` and ``porosimetry``.  Let ``dt`` be the Euclidean
    distance of each phase voxel to the nearest non-phase voxel (the window
    border is *not* non-phase); the open ball of radius ``dt(c)`` around ``c``
    lies in the phase.

    * ``CPSD(r)`` = fraction of the window covered by the balls
      ``{x : |x - c| < dt(c)}`` with ``dt(c) >= r`` (local thickness ``>= r``,
      the opening by balls of radius ``r``); ``r_max`` = largest ``r`` with
      ``CPSD(r) >= eps / 2``.
    * ``SMIP(r)``, ``intrusion="centres"``: the same with ``dt(c)`` replaced by
      the bottleneck value ``reach(c)`` = max over 6- (26-) connected paths in
      the phase from the inlet to ``c`` of the smallest ``dt`` on the path; a
      ball of radius ``>= r`` can be moved from the inlet to ``c`` iff
      ``reach(c) >= r`` (PoreSpy's ``trim_disconnected_voxels(conn='min')``).
    * ``SMIP(r)``, ``intrusion="opening"``: the voxels of the CPSD set of
      radius ``r`` in the 6- (26-) connected components of that set that touch
      the inlet: balls that merely overlap count as connected (Neumann et al.
      2019 define SMIP through the opening of the phase and its part connected
      to the intrusion side; MorphoLibJ/PoreSpy-style "opening then
      reconstruct from the inlet").
    * ``r_min`` likewise from SMIP; ``r_min <= r_max`` since ``SMIP <= CPSD``
      (the search for ``r_min`` stops at ``r_max``).

    Why the defaults (opened set, 26-neighbourhood, continuous radii, open
    balls, plane inlet, grid crossing): on realizations of the three calibrated
    structures (``python -m vmt_dask.bench fidelity``, docs/fidelity.md) the
    centre connectivity puts AM constrictivity 0.06-0.32 below paper Table 2
    (median |deviation| 0.30 over the presets) and far below the "most values
    in [0.85, 1]" of Section 3.2; the opened set brings AM to a median
    |deviation| of 0.03-0.09 and the six Table 2 constrictivities from a median
    |deviation| of 0.27 to 0.09, in line with an independent held-out check on
    four of the paper's example structures (sixfold closer).  26- versus
    6-connectivity of the opened set differ little (26 is the usual foreground
    connectivity in 3-D image analysis and moves AM towards [0.85, 1]); whole
    voxel radii, a reservoir or an interpolated crossing did not improve the
    agreement consistently.  Centre connectivity remains available
    (``intrusion="centres"``), e.g. to compare with PoreSpy's ``porosimetry``.

    Cubic voxels with the plane inlet (the default): both whole curves come
    from two integer maps and their histograms
    (:mod:`vmt_dask.descriptors.thickness`): the squared local thickness
    ``LT2(x) = max {dt(c)**2 : |x - c| < dt(c)}`` gives ``CPSD(r) = #{LT2 >=
    r**2}``; the opened-set SMIP is ``#{B >= r**2}`` with ``B`` the bottleneck
    (widest-path) value of ``LT2`` from the inlet plane, since a voxel lies in a
    component of ``{LT2 >= k}`` that touches the plane iff ``B >= k``; the
    centre SMIP is ``#{LTR >= r**2}`` with ``LTR`` the local thickness of the
    balls of squared radius ``reach`` (the bottleneck value of ``dt**2``).
    Otherwise (anisotropic voxels, reservoir inlet) each evaluation is one
    generalized squared distance transform of the sampled function ``f(c) =
    -dt(c)**2`` (or ``-reach(c)**2``) restricted to ``dt(c)**2 >= k``: ``x`` is
    covered iff ``min_c |x - c|**2 + f(c) < 0``; ``reach`` is computed once by
    a bucket-queue flood, the opened-set components by one flood per
    evaluation.  Both curves are non-increasing in ``r`` and constant for
    ``r**2`` in ``(k - 1, k]`` (integer squared distances), so the largest
    feasible grid radius is found exactly (a lookup, or a bisection on the
    evaluated path).  ``CPSD(1) = eps``, so ``r_max >= 1`` voxel on the continuous
    grid; ``r_min = 0`` when no grid radius is feasible (no phase in the start
    plane, or SMIP < eps / 2 already at the smallest radius); ``beta`` is NaN
    when ``r_max = 0`` (closed balls on a coarse grid).

    A phase that does not connect the inlet plane to the far plane (``percolating``
    False): the paper's SMIP is the part of the phase that balls of radius ``r`` intrude
    from the inlet (Section 2.3; "forms an intrusion in a predefined direction"), and
    nothing in the definition asks the intrusion to reach the far plane.  This function
    returns the value that definition gives on the window: the intruded part is the
    inlet side of the phase, so ``r_min`` is that side's ``eps / 2`` radius if it holds at
    least half the phase (``beta`` up to 1 although nothing passes), and 0 otherwise
    (``beta = 0``).  Whether a constrictivity is meaningful for a phase that does not
    percolate the definition leaves open; the result flags the case (``percolating``)
    rather than replacing the number (:func:`~vmt_dask.descriptors.describe` reports the
    same case as ``tortuosity_reached = 0``).
    """
    conv = _conventions(intrusion, connectivity, radius_step, balls, inlet, crossing)
    return _constrictivity_set(mask, _spacing_arg(voxel_size), axis, {"": conv},
                               curves_out=bool(curves))[""]


def _spacing_arg(voxel_size):
    """A float for cubic voxels, the (dx, dy, dz) tuple for anisotropic ones."""
    sp = check_spacing(voxel_size)
    return sp[0] if sp[0] == sp[1] == sp[2] else sp


#: Conventions of :func:`constrictivity` (and their defaults), in signature order.
CONVENTION_DEFAULTS = {"intrusion": "opening", "connectivity": 26, "radius_step": None,
                       "balls": "open", "inlet": "plane", "crossing": "grid"}


def constrictivity_variants(mask: np.ndarray, variants, *, voxel_size: float,
                            axis: int = 2) -> dict:
    """:func:`constrictivity` under several conventions, sharing the common work.

    Parameters
    ----------
    mask, voxel_size, axis
        As for :func:`constrictivity`.
    variants : mapping of str to mapping
        Name -> keyword arguments of :func:`constrictivity` (``intrusion``,
        ``connectivity``, ``radius_step``, ``balls``, ``inlet``, ``crossing``;
        missing ones take the defaults).

    Returns
    -------
    dict of str to ConstrictivityResult
        One result per name, each equal to the corresponding
        :func:`constrictivity` call.  The distance transform and the CPSD counts
        are computed once; SMIP counts once per (intrusion, connectivity, inlet).
    """
    a = _spacing_arg(voxel_size)
    convs = {}
    for name, kw in dict(variants).items():
        unknown = set(kw) - set(CONVENTION_DEFAULTS)
        if unknown:
            raise InputError(f"variant {name!r}: unknown convention(s) {sorted(unknown)}")
        convs[name] = _conventions(**{**CONVENTION_DEFAULTS, **kw})
    return _constrictivity_set(mask, a, axis, convs)


def _prepare_anisotropic(mask, axis, spacing):
    """Moved mask, ranks of the squared distances (int32) and (values, spacing)."""
    mask = as_mask(mask)
    axis = check_axis(axis)
    m = np.ascontiguousarray(np.moveaxis(mask, axis, -1))
    sp = tuple(spacing[i] for i in range(3) if i != axis) + (spacing[axis],)
    d2 = squared_edt_spacing(m, sp)
    phase_vals = d2[m]
    if phase_vals.size == 0 or np.isinf(phase_vals.max()):
        return m, np.where(m, EDT_INF, 0).astype(np.int32), None
    vals = np.unique(phase_vals)
    ranks = np.zeros(m.shape, np.int32)
    ranks[m] = np.searchsorted(vals, phase_vals) + 1
    # rank k <-> squared radius vals[k - 1]; one sentinel beyond the largest value
    # (at most one more step of the finest spacing)
    ext = np.concatenate([[0.0], vals, [vals[-1] + min(sp) ** 2]])
    return m, ranks, (ext, sp)


def _fast(conv: _Conventions, aniso) -> bool:
    """Whether a convention's curves come from the histograms (cubic voxels, plane inlet)."""
    return aniso is None and conv.inlet == "plane"


def _constrictivity_set(mask, a, axis, convs: dict, curves_out: bool = False) -> dict:
    aniso = None
    if isinstance(a, tuple):
        m, dt2, aniso = _prepare_anisotropic(mask, axis, a)
        for name, c in convs.items():
            if c.radius_step is not None or c.inlet != "plane":
                raise InputError(f"anisotropic voxels support radius_step=None and inlet='plane' only "
                                 f"(variant {name or 'constrictivity'!r})")
        a = 1.0  # radii come out in micrometres
    else:
        m, dt2 = _prepare(mask, axis)
    if curves_out:
        for name, c in convs.items():
            if not _fast(c, aniso):
                raise InputError("curves=True needs cubic voxels and inlet='plane' "
                                 f"(variant {name or 'constrictivity'!r})")
    n_phase = int(np.count_nonzero(m))
    if n_phase == 0:
        raise InputError("mask holds no phase voxel: constrictivity is undefined for an empty phase")
    if int(dt2.max()) == int(EDT_INF):
        # No complement in the window (every voxel is phase): balls of any size fit.
        full = ConstrictivityResult(beta=1.0, r_min=math.inf, r_max=math.inf,
                                    k_min=int(EDT_INF), k_max=int(EDT_INF), percolating=True)
        if curves_out:
            full = replace(full, radii=np.array([math.inf]), cpsd=np.ones(1), smip=np.ones(1))
        return {name: full for name in convs}
    dt_hist = value_counts(dt2)
    kmax = dt_hist.size - 1
    grids = {name: _grid(kmax, c.radius_step, c.balls) for name, c in convs.items()}
    if aniso is not None:  # radii (micrometres) of the ranks
        grids = {name: (np.sqrt(aniso[0][ks]), ks) for name, (_, ks) in grids.items()}
    kend = max(int(ks.max()) for _, ks in grids.values()) + 1
    # ge[k] = #{dt2 >= k}: each admissible centre covers itself, a lower bound of CPSD.
    ge = _at_least(np.concatenate([dt_hist, np.zeros(max(0, kend + 1 - dt_hist.size), np.int64)]))
    # Cubic voxels, plane inlet: both curves at every threshold from one local thickness
    # and one flood per family (thickness.py); dt2 is consumed unless a slow family needs it.
    fast_fams = {(c.intrusion, c.connectivity) for c in convs.values() if _fast(c, aniso)}
    slow = any(not _fast(c, aniso) for c in convs.values())
    hist_fams = _hist_families(dt2, fast_fams, consume=not slow) if fast_fams else {}
    cpsd_memo: dict[int, int] = {}
    if hist_fams and slow:
        any_fast = next(iter(hist_fams.values()))
        cpsd_memo.update({k: any_fast.cpsd(k) for k in range(1, kend + 1)})
    families: dict[tuple, object] = {}
    # SMIP thresholds known feasible (largest k) per family: an opened-set SMIP
    # dominates the centre SMIP of the same inlet (every intruded ball lies in the
    # opened set and is connected to the inlet through the balls on its path),
    # and 26-connectivity dominates 6.
    known_k: dict[tuple, int] = {}
    out = {}
    order = sorted(convs, key=lambda nm: (convs[nm].intrusion != "centres", convs[nm].connectivity))
    for name in order:
        conv = convs[name]
        rs, ks = grids[name]
        fam = (conv.intrusion, conv.connectivity, conv.inlet)
        if fam not in families:
            if _fast(conv, aniso):
                families[fam] = hist_fams[(conv.intrusion, conv.connectivity)]
            else:
                families[fam] = _Curves(m, dt2, kmax, conv, cpsd_memo=cpsd_memo, aniso=aniso)
        curves = families[fam]
        hi = len(ks) - 1  # infeasible sentinel
        feas = np.flatnonzero(2 * ge[ks] >= n_phase)
        lo = int(feas.max()) if feas.size else -1
        j_max = _largest_feasible_index(curves.cpsd, ks, lo, hi, n_phase)

        lo_s = -1
        if curves.reach is not None:
            # #{reach >= k} in the window (each intruded centre covers itself) brackets SMIP.
            if not hasattr(curves, "ge_r"):
                rw = curves.reach[:, :, curves.z0:]
                curves.ge_r = np.cumsum(np.bincount(rw[m].ravel(), minlength=kend)[:kend][::-1])[::-1]
            feas = np.flatnonzero(2 * curves.ge_r[ks] >= n_phase)
            lo_s = min(int(feas.max()) if feas.size else -1, j_max)
        for (i2, c2, t2), k2 in known_k.items():
            dominated = t2 == conv.inlet and c2 <= conv.connectivity and (
                i2 == "centres" or conv.intrusion == "opening")
            if dominated:
                feas = np.flatnonzero(ks <= k2)
                lo_s = max(lo_s, min(int(feas.max()) if feas.size else -1, j_max))
        j_min = _largest_feasible_index(curves.smip, ks, lo_s, j_max + 1, n_phase)
        if j_min >= 0:
            known_k[fam] = max(known_k.get(fam, 0), int(ks[j_min]))

        r_max = _radius(j_max, rs, ks, curves.cpsd, n_phase, conv.crossing)
        r_min = min(_radius(j_min, rs, ks, curves.smip, n_phase, conv.crossing), r_max)
        beta = (r_min / r_max) ** 2 if r_max > 0 else math.nan
        res = ConstrictivityResult(beta=beta, r_min=r_min * a, r_max=r_max * a,
                                   k_min=int(ks[j_min]) if j_min >= 0 else 0,
                                   k_max=int(ks[j_max]) if j_max >= 0 else 0,
                                   percolating=bool(curves.through))
        if curves_out:
            if conv.radius_step is None:  # every value at which a curve can step
                gk = np.flatnonzero(dt_hist[1:]) + 1
                gr = np.sqrt(gk.astype(float))
            else:  # the convention's grid without its infeasible sentinel
                gk, gr = ks[:-1], rs[:-1]
            res = replace(res, radii=gr * a,
                          cpsd=np.array([curves.cpsd(k) for k in gk], float) / m.size,
                          smip=np.array([curves.smip(k) for k in gk], float) / m.size)
        out[name] = res
    return {name: out[name] for name in convs}
