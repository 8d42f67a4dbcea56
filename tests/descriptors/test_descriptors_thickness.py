"""Local thickness, bottleneck flood and the histogram curves against brute force and the
evaluation path (one generalized distance transform per radius) they replace."""
import itertools
import math
import sys

import numpy as np
import pytest
from scipy import ndimage

from vmt_dask.descriptors import constrictivity, constrictivity_variants, cpsd, smip, squared_edt
from vmt_dask.descriptors.edt import _ball_cover_values
from vmt_dask.descriptors.thickness import (bottleneck_from_plane, containment_table,
                                            local_thickness_squared, value_counts)
from vmt_dask.errors import InputError

_con = sys.modules["vmt_dask.descriptors.constrictivity"]


def _structures(n_random=10, seed=7):
    """Small random structures: thresholded noise, opened or dilated to vary the pore sizes."""
    rng = np.random.default_rng(seed)
    out = []
    for t in range(n_random):
        m = rng.random((13 + t % 4, 15, 17)) < 0.45 + 0.04 * (t % 8)
        if t % 3:
            m = ndimage.binary_opening(m, iterations=t % 3)
        if t % 4 == 0:
            m = ndimage.binary_dilation(m)
        if m.any() and not m.all():
            out.append(np.ascontiguousarray(m))
    return out


def test_containment_table_against_enumeration():
    # need[q, d] = smallest d' with (lattice ball of d) + v inside the lattice ball of d'
    dmax = 40
    need = containment_table(dmax)
    r = 7
    y = np.stack(np.meshgrid(*[np.arange(-r, r + 1)] * 3, indexing="ij"), -1).reshape(-1, 3)
    s = (y**2).sum(1)
    for q, v in enumerate([(0, 0, 1), (0, 1, 1), (1, 1, 1)]):
        shifted = ((y - np.array(v)) ** 2).sum(1)
        for d in range(1, dmax + 1):
            assert need[q, d] == shifted[s < d].max() + 1
    assert need[0, 1] == 2 and need[2, 1] == 4  # a single voxel moved by a face / corner step


def test_local_thickness_against_ball_cover():
    # LT2 >= k is exactly the union of the open balls |x - c|^2 < dt2(c) with dt2(c) >= k,
    # computed independently by one generalized distance transform per k.
    for m in _structures():
        dt2 = squared_edt(m)
        lt = local_thickness_squared(dt2)
        assert np.all(lt[~m] == 0) and np.all(lt[m] >= dt2[m])
        for k in np.unique(dt2[m]):
            np.testing.assert_array_equal(lt >= k, _ball_cover_values(dt2, int(k)) < 0)


def test_local_thickness_slab_and_ball():
    # A plate of odd width w = 5: dt2 = 1, 4, 9, 4, 1 across it; the open ball of squared
    # radius 9 on the mid-plane covers |dz| <= 2, the whole plate: LT2 = 9 everywhere.
    m = np.zeros((12, 12, 9), bool)
    m[:, :, 2:7] = True
    lt = local_thickness_squared(squared_edt(m))
    assert np.all(lt[:, :, 2:7] == 9) and np.all(lt[:, :, [0, 1, 7, 8]] == 0)
    # a digital ball |x - c|^2 < 30 in a larger window: its centre has dt2 = 30 (nearest
    # outside lattice point at squared distance 30 or more), so LT2 = dt2(c) on the ball
    x, y, z = np.ogrid[:15, :15, :15]
    b = (x - 7) ** 2 + (y - 7) ** 2 + (z - 7) ** 2 < 30
    dt2 = squared_edt(b)
    lt = local_thickness_squared(dt2)
    assert np.all(lt[b] == dt2[7, 7, 7])


@pytest.mark.parametrize("conn", [6, 26])
def test_bottleneck_against_labelling(conn):
    # B >= k exactly on the components of {f >= k} that touch the plane z = 0 (scipy labels)
    st = ndimage.generate_binary_structure(3, 1 if conn == 6 else 3)
    for m in _structures(6, seed=3):
        f = local_thickness_squared(squared_edt(m))
        b = bottleneck_from_plane(f, connectivity=conn)
        assert np.all(b <= f)
        for k in np.unique(f[f > 0]):
            lab, _ = ndimage.label(f >= k, structure=st)
            ids = np.unique(lab[:, :, 0])
            np.testing.assert_array_equal(b >= k, np.isin(lab, ids[ids > 0]))


def test_bottleneck_equals_centre_reach():
    # The bucket-queue reach of the first release is the bottleneck value of dt2.
    for m in _structures(4, seed=5):
        dt2 = squared_edt(m)
        vmax = int(dt2.max())
        np.testing.assert_array_equal(bottleneck_from_plane(dt2, connectivity=6), _con._reach(dt2, vmax))
        np.testing.assert_array_equal(bottleneck_from_plane(dt2, connectivity=26), _con._reach26(dt2, vmax))


_VARIANTS = {
    f"{i}-{c}-{s}-{b}-{x}": dict(intrusion=i, connectivity=c, radius_step=s, balls=b, crossing=x)
    for i, c, s, b, x in itertools.product(("opening", "centres"), (6, 26), (None, 1.0, 0.5),
                                           ("open", "closed"), ("grid", "interpolate"))
}


def test_histogram_path_equals_evaluation_path(bm01_labels, monkeypatch):
    # Every plane-inlet convention: the histogram path (default) gives the same result,
    # field by field, as one cover transform per evaluated radius (the evaluation path).
    cases = [np.ascontiguousarray(bm01_labels[:20, :24, :28] == p) for p in (1, 2)] + _structures(4)
    fast = [constrictivity_variants(m, _VARIANTS, voxel_size=0.2, axis=ax)
            for m in cases for ax in (0, 2)]
    monkeypatch.setattr(_con, "_fast", lambda conv, aniso: False)
    slow = [constrictivity_variants(m, _VARIANTS, voxel_size=0.2, axis=ax)
            for m in cases for ax in (0, 2)]
    for f, s in zip(fast, slow):
        for name in _VARIANTS:
            a, b = f[name], s[name]
            assert (a.k_min, a.k_max) == (b.k_min, b.k_max), name
            for x, y in ((a.beta, b.beta), (a.r_min, b.r_min), (a.r_max, b.r_max)):
                assert x == y or (math.isnan(x) and math.isnan(y)), name


def test_curves_match_radii_and_point_functions(bm01_labels):
    for phase in (1, 2):
        m = bm01_labels == phase
        eps = m.mean()
        res = constrictivity(m, voxel_size=0.2, curves=True)
        r, c, s = res.radii, res.cpsd, res.smip
        assert r.shape == c.shape == s.shape and np.all(np.diff(r) > 0)
        assert np.all(np.diff(c) <= 0) and np.all(np.diff(s) <= 0) and np.all(s <= c)
        assert c[0] == pytest.approx(eps)
        # the radii are the largest grid radii where the curves reach eps / 2
        assert res.r_max == pytest.approx(r[c >= eps / 2].max(), rel=1e-12)
        feas = r[s >= eps / 2]
        assert res.r_min == (pytest.approx(feas.max(), rel=1e-12) if feas.size else 0.0)
        # and equal the point functions at the same radii
        np.testing.assert_allclose(c, cpsd(m, r, voxel_size=0.2), rtol=0, atol=0)
        np.testing.assert_allclose(s, smip(m, r, voxel_size=0.2), rtol=0, atol=0)
        # the grid is every distinct dt^2 value of the phase
        np.testing.assert_allclose((r / 0.2) ** 2, np.unique(squared_edt(m)[m]), rtol=1e-12)
    assert constrictivity(m, voxel_size=0.2).radii is None


def test_curves_of_a_tube_are_one_step():
    # a straight tube along z: every voxel is covered by the central balls, all connected
    x, y, _ = np.ogrid[:20, :20, :16]
    m = np.broadcast_to((x - 9.5) ** 2 + (y - 9.5) ** 2 < 6**2, (20, 20, 16)).copy()
    res = constrictivity(m, voxel_size=1.0, curves=True)
    np.testing.assert_array_equal(res.cpsd, res.smip)
    assert res.beta == 1.0 and res.cpsd[-1] > 0 and res.cpsd[0] == pytest.approx(m.mean())


def test_curves_refused_where_unsupported():
    m = np.zeros((8, 8, 8), bool)
    m[2:6, 2:6, :] = True
    with pytest.raises(InputError, match="curves=True"):
        constrictivity(m, voxel_size=(0.2, 0.2, 0.3), curves=True)
    with pytest.raises(InputError, match="curves=True"):
        constrictivity(m, voxel_size=0.2, inlet="reservoir", curves=True)


def test_value_counts_and_errors():
    f = np.array([0, 3, 3, 1, 7], np.int32).reshape(1, 1, 5)
    np.testing.assert_array_equal(value_counts(f), [0, 1, 0, 2, 0, 0, 0, 1])
    with pytest.raises(ValueError, match="3-D"):
        local_thickness_squared(np.zeros((3, 3), np.int32))
    with pytest.raises(ValueError, match="connectivity"):
        bottleneck_from_plane(f, connectivity=8)
    with pytest.raises(ValueError, match="EDT_INF"):
        local_thickness_squared(squared_edt(np.ones((3, 3, 3), bool)))


def test_local_thickness_independent_of_slabs():
    # the slabs only split the work: 4, 12 and 16 slabs give the same map
    for m in _structures(3, seed=11):
        dt2 = squared_edt(m)
        ref = local_thickness_squared(dt2, threads=1)
        for t in (3, 4):
            np.testing.assert_array_equal(local_thickness_squared(dt2, threads=t), ref)


def test_containment_by_rows_equals_voxel_by_voxel():
    # _dominated_rows (whole interior rows, vectorized; volumes from ROWS_FROM on) keeps
    # exactly the centres of _dominated_voxels (voxel by voxel, early exits)
    from vmt_dask.descriptors import thickness

    for m in _structures(8, seed=13):
        f = squared_edt(m)
        need = containment_table(int(f.max())).astype(np.int32)
        out = []
        for kernel in (thickness._dominated_rows, thickness._dominated_voxels):
            keep = np.zeros(f.shape, bool)
            counts = np.zeros(f.shape[0], np.int64)
            kernel(f, need, keep, counts, 0, f.shape[0])
            out.append((keep, counts))
        np.testing.assert_array_equal(out[0][0], out[1][0])
        np.testing.assert_array_equal(out[0][1], out[1][1])
        assert out[0][0].any()


def test_local_thickness_independent_of_tiles(monkeypatch):
    # the painting order (z-tiles or raster order) and the z-slabs only reorder max writes:
    # tiles of 4 voxels on small structures give the map of raster order, with 1 and 3 threads
    from vmt_dask.descriptors import thickness

    for m in _structures(4, seed=17):
        dt2 = squared_edt(m)
        monkeypatch.setattr(thickness, "_TILE_FROM_RADIUS", 10**6)  # raster order
        ref = local_thickness_squared(dt2, threads=1)
        monkeypatch.setattr(thickness, "_TILE_FROM_RADIUS", 0)
        monkeypatch.setattr(thickness, "_PAINT_TILE", 4)
        for t in (1, 3):
            np.testing.assert_array_equal(local_thickness_squared(dt2, threads=t), ref)


def test_local_thickness_templates_equal_row_evaluation(monkeypatch):
    # the crescent templates (volumes from TEMPLATES_FROM on) replay, reflected, the rows
    # _paint_max evaluates per centre: the same writes, so the same map, with (z, y)-tiles
    # or raster order and 1 or 3 threads; and the union of balls of the brute-force cover
    from vmt_dask.descriptors import thickness

    structures = _structures(6, seed=19)
    rng = np.random.default_rng(23)
    for _ in range(3):  # larger balls (radii up to ~8) and every neighbour class
        g = ndimage.gaussian_filter(rng.standard_normal((30, 26, 34)), 3.0)
        m = g > np.quantile(g, rng.uniform(0.3, 0.7))
        structures.append(np.ascontiguousarray(m))
    built = []  # what each _build_templates call returned: proves the template path ran
    build = thickness._build_templates

    def counted(*args, **kwargs):
        built.append(build(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(thickness, "_build_templates", counted)
    for m in structures:
        dt2 = squared_edt(m)
        monkeypatch.setattr(thickness, "TEMPLATES_FROM", 10**12)
        ref = local_thickness_squared(dt2, threads=1)
        assert not built
        monkeypatch.setattr(thickness, "TEMPLATES_FROM", 0)
        for tz, ty in ((4, 4), (4, 10**6), (10**6, 10**6), (5, 3)):  # (z, y) tiles; raster order
            monkeypatch.setattr(thickness, "_PAINT_TILE", tz)
            monkeypatch.setattr(thickness, "_PAINT_TILE_Y", ty)
            for t in (1, 3):
                np.testing.assert_array_equal(local_thickness_squared(dt2, threads=t), ref)
                # the slot-table guard passed and the templates (not the row fallback) painted
                assert len(built) == 1 and built[0] is not None and built[0][3].shape[0] > 0
                built.clear()
        lt = local_thickness_squared(dt2, threads=2)
        built.clear()
        for k in np.unique(dt2[m])[::3]:
            np.testing.assert_array_equal(lt >= k, _ball_cover_values(dt2, int(k)) < 0)


def test_local_thickness_template_segment_budget_falls_back(monkeypatch):
    # over the segment budget _build_templates gives up after counting, restores the
    # neighbour values it had overwritten by slots, and _paint_max paints (in the (z, y)
    # tiles' centre order): the same map as the row evaluation and as the templates
    from vmt_dask.descriptors import thickness

    rng = np.random.default_rng(29)
    structures = _structures(2, seed=31)
    for _ in range(2):
        g = ndimage.gaussian_filter(rng.standard_normal((28, 30, 26)), 3.0)
        structures.append(np.ascontiguousarray(g > np.quantile(g, rng.uniform(0.3, 0.7))))
    built = []
    build = thickness._build_templates

    def counted(*args, **kwargs):
        built.append(build(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(thickness, "_build_templates", counted)
    monkeypatch.setattr(thickness, "_PAINT_TILE", 4)
    monkeypatch.setattr(thickness, "_PAINT_TILE_Y", 4)
    budget = thickness._TEMPLATE_SEGS_BYTES_PER_VOXEL, thickness._TEMPLATE_SEGS_MIN_BYTES
    for m in structures:
        dt2 = squared_edt(m)
        monkeypatch.setattr(thickness, "TEMPLATES_FROM", 10**12)
        ref = local_thickness_squared(dt2, threads=1)
        monkeypatch.setattr(thickness, "TEMPLATES_FROM", 0)
        for per_voxel, floor, templated in ((*budget, True), (0, 0, False)):  # (0, 0): any segment is over
            monkeypatch.setattr(thickness, "_TEMPLATE_SEGS_BYTES_PER_VOXEL", per_voxel)
            monkeypatch.setattr(thickness, "_TEMPLATE_SEGS_MIN_BYTES", floor)
            for t in (1, 3):
                np.testing.assert_array_equal(local_thickness_squared(dt2, threads=t), ref)
                assert len(built) == 1 and (built.pop() is not None) == templated


def test_crescent_templates_are_ball_minus_neighbour_ball():
    # every template (cls, d, dn) against an enumeration of the lattice points of
    # ball(d) minus ball(dn) at v, without the row skips: the rows it drops are the ones
    # the neighbour ball covers whole
    import math as _m

    from vmt_dask.descriptors import thickness

    dmax = 30
    isq = np.array([_m.isqrt(v) for v in range(dmax + 1)], np.int64)
    need = containment_table(dmax)
    params = []
    for cls in range(8):
        c = bin(cls).count("1")
        for d in range(1, dmax + 1):
            for dn in ([0] if cls == 0 else range(d, min(int(need[c - 1, d]), dmax + 1))):
                params.append((cls, d, dn))
    params = np.array(params, np.int64)
    start = np.zeros(len(params) + 1, np.int64)
    thickness._crescent_rows(params, isq, start, np.empty((0, 4), np.int8), False, 0, len(params))
    np.cumsum(start, out=start)
    segs = np.empty((int(start[-1]), 4), np.int8)
    thickness._crescent_rows(params, isq, start, segs, True, 0, len(params))
    g = np.stack(np.meshgrid(*[np.arange(-6, 7)] * 3, indexing="ij"), -1).reshape(-1, 3)
    for m, (cls, d, dn) in enumerate(params):
        v = np.array([cls >> 2, (cls >> 1) & 1, cls & 1])
        want = (g**2).sum(1) < d
        if cls:
            want &= ((g - v) ** 2).sum(1) >= dn
        got = np.zeros(len(g), bool)
        for di, dj, zl, zh in segs[start[m]:start[m + 1]].astype(int):
            sel = (g[:, 0] == di) & (g[:, 1] == dj) & (g[:, 2] >= zl) & (g[:, 2] <= zh)
            assert not (got & sel).any()  # disjoint segments
            got |= sel
        np.testing.assert_array_equal(got, want, err_msg=f"template {(cls, d, dn)}")


def test_segment_budget_one_phase_and_phases_at_once(monkeypatch, bm01_labels):
    # one phase at a time (describe, describe_all(workers=1), local thickness alone) gets
    # the one-phase budget of template segments; describe_all(workers=2) paints two phases
    # at once and gets the shared (smaller) one in both worker threads; the values agree
    from vmt_dask.descriptors import describe, describe_all, thickness
    from vmt_dask.descriptors.thickness import local_thickness_squared, shared_segment_budget

    seen = []
    build = thickness._build_templates

    def recorded(*args, seg_bytes):
        seen.append(seg_bytes)
        return build(*args, seg_bytes=seg_bytes)

    monkeypatch.setattr(thickness, "_build_templates", recorded)
    monkeypatch.setattr(thickness, "TEMPLATES_FROM", 0)
    monkeypatch.setattr(thickness, "_TEMPLATE_SEGS_MIN_BYTES", 0)  # the budget is per voxel only
    n = bm01_labels.size
    one, shared = thickness._TEMPLATE_SEGS_BYTES_PER_VOXEL, thickness._TEMPLATE_SEGS_BYTES_PER_VOXEL_SHARED
    assert one > shared
    single = {p: describe(bm01_labels, phase=p) for p in ("SE", "AM")}
    assert seen == [one * n] * 2
    seen.clear()
    assert describe_all(bm01_labels, workers=1) == single and seen == [one * n] * 2
    seen.clear()
    assert describe_all(bm01_labels, workers=2) == single and seen == [shared * n] * 2
    seen.clear()
    dt2 = squared_edt(bm01_labels == 1)
    with shared_segment_budget():
        inside = local_thickness_squared(dt2)
    outside = local_thickness_squared(dt2)
    assert seen == [shared * dt2.size, one * dt2.size] and np.array_equal(inside, outside)
