import math
import sys

import numpy as np
import pytest

from vmt_dask.descriptors import constrictivity, cpsd, smip, squared_edt
from vmt_dask.descriptors.edt import ball_cover

_con = sys.modules["vmt_dask.descriptors.constrictivity"]
#: The centre-connectivity convention (PoreSpy porosimetry's), the brute-force references' one.
CENTRES = dict(intrusion="centres", connectivity=6)


def _cylinder_with_neck(n=40, R=10, r=4, half_neck=3):
    x, y, z = np.ogrid[:n, :n, :n]
    rad = np.where(np.abs(z - n // 2) <= half_neck, r, R)
    return (x - 19.5) ** 2 + (y - 19.5) ** 2 < rad**2


def test_straight_channel_beta_one():
    x, y, _ = np.ogrid[:30, :30, :40]
    m = np.broadcast_to((x - 14.5) ** 2 + (y - 14.5) ** 2 < 8**2, (30, 30, 40)).copy()
    res = constrictivity(m, voxel_size=0.2)
    assert res.beta == 1.0
    # within a voxel of the geometric radius (0.2 micrometre voxels)
    assert abs(res.r_max / 0.2 - 8) <= 1 and res.r_min == res.r_max


@pytest.mark.parametrize("R,r", [(10, 4), (9, 5)])
def test_neck(R, r):
    res = constrictivity(_cylinder_with_neck(R=R, r=r), voxel_size=1.0)
    assert abs(res.r_max - R) <= 1 and abs(res.r_min - r) <= 1
    # beta accordingly: the radii bounds propagate to the ratio
    assert ((r - 1) / R) ** 2 <= res.beta <= (r / (R - 1)) ** 2
    assert res.beta == pytest.approx((res.r_min / res.r_max) ** 2)


def test_no_inlet_connection_gives_zero():
    m = _cylinder_with_neck()
    m[:, :, :5] = False  # the channel no longer touches the start plane
    res = constrictivity(m, voxel_size=1.0)
    assert res.r_min == 0.0 and res.beta == 0.0 and res.r_max >= 4
    # along x the intrusion plane is x = 0, which the channel does not touch either
    assert constrictivity(m, voxel_size=1.0, axis=0).r_min == 0.0


def _brute_reach(m):
    # Independent bottleneck path values: for each k, 6-connected flood of
    # {dt2 >= k} from the plane z = 0 (scipy labelling); reach = largest such k.
    from scipy import ndimage

    dt2 = squared_edt(m)
    reach = np.zeros(m.shape, np.int64)
    six = ndimage.generate_binary_structure(3, 1)
    for k in np.unique(dt2[m]):
        lab, _ = ndimage.label(dt2 >= k, structure=six)
        ids = np.unique(lab[:, :, 0])
        reach[np.isin(lab, ids[ids > 0])] = k
    return reach


def _brute_cover(r2, k):
    # Union of the open balls |x - c|^2 < r2(c) over r2(c) >= k, ball by ball.
    out = np.zeros(r2.shape, bool)
    x, y, z = np.indices(r2.shape)
    for c in zip(*np.nonzero(r2 >= k)):
        out |= (x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2 < r2[c]
    return out


def test_reach_and_ball_cover_against_brute_force(bm01_labels):
    m = np.ascontiguousarray(bm01_labels[:14, :14, :14] == 1)
    dt2 = squared_edt(m)
    reach = _con._reach(dt2, int(dt2.max()))
    np.testing.assert_array_equal(reach, _brute_reach(m))
    assert np.all(reach <= dt2)
    for k in (1, 2, 4, 5):
        for r2 in (dt2, reach):
            np.testing.assert_array_equal(ball_cover(r2, k=k), _brute_cover(r2, k))
    with pytest.raises(ValueError, match="k must"):
        ball_cover(dt2, k=0)


def test_bisection_matches_full_scan(bm01_labels):
    # The cumulative curves are non-increasing in k, so bisection returns the
    # largest feasible k exactly.
    for phase in (1, 2):
        m = np.ascontiguousarray(bm01_labels[:32, :32, :32] == phase)
        res = constrictivity(m, voxel_size=1.0, **CENTRES)
        dt2 = squared_edt(m)
        reach = _con._reach(dt2, int(dt2.max()))
        kmax = int(dt2[m].max())
        n = m.sum()
        ks = range(1, kmax + 1)
        c = np.array([_con._cpsd_count(dt2, k) for k in ks])
        s = np.array([_con._smip_count(reach, k) for k in ks])
        assert np.all(np.diff(c) <= 0) and np.all(np.diff(s) <= 0) and np.all(s <= c)
        assert c[0] == n
        assert res.k_max == max(k for k in ks if 2 * c[k - 1] >= n)
        assert res.k_min == max([k for k in ks if 2 * s[k - 1] >= n], default=0)


def test_cpsd_smip_functions(bm01_labels):
    m = bm01_labels == 2
    radii = np.array([0.2, 0.3, 0.4, 0.5, 0.6, 0.8])
    c, s = cpsd(m, radii, voxel_size=0.2), smip(m, radii, voxel_size=0.2)
    assert c[0] == pytest.approx(m.mean())
    assert np.all(s <= c + 1e-15) and np.all(np.diff(c) <= 0) and np.all(np.diff(s) <= 0)
    full = np.ones((4, 4, 4), bool)
    assert cpsd(full, [1.0, 5.0], voxel_size=1.0).tolist() == [1.0, 1.0]
    assert smip(full, [1.0, 5.0], voxel_size=1.0).tolist() == [1.0, 1.0]


def test_peer_agreement_with_porespy_all_radii(bm01_labels):
    # Our curves at every candidate radius r = sqrt(k) equal PoreSpy's cumulative
    # fractions voxel count for voxel count.  CPSD: PoreSpy's fractional-radius
    # local thickness (method='legacy', radii = the distinct dt values, inserted
    # from large to small: seeds dt >= r, cover edt(~seeds) < r), fraction with
    # value >= r.  SMIP: the same sweep with the seeds trimmed to those
    # 6-connected to the inlet plane (PoreSpy's trim_disconnected_voxels,
    # conn='min', as in its porosimetry; its drainage_dt floors dt to integers,
    # so the fractional sweep is assembled from its primitives here).
    # Radii are compared through k = rint(r**2) because the float32 dt of the
    # `edt` package rounds sqrt(k).
    import edt  # test extra
    import porespy as ps  # test extra

    ps.settings.tqdm["disable"] = True
    for phase in (1, 2):
        m = np.ascontiguousarray(bm01_labels == phase)
        dt = edt.edt(m)
        sizes = np.unique(dt[m])
        ks = np.rint(sizes.astype(float) ** 2).astype(int)
        np.testing.assert_array_equal(np.unique(squared_edt(m)[m]), ks)
        radii = np.sqrt(ks)
        lt = ps.filters.local_thickness(m, method="legacy", sizes=sizes)
        inlets = np.zeros_like(m)
        inlets[:, :, 0] = True
        union = np.zeros_like(m)
        n_smip = {}
        for r in sizes[::-1]:
            seeds = ps.filters.trim_disconnected_voxels(dt >= r, inlets=inlets, conn="min")
            if seeds.any():
                union |= edt.edt(~seeds) < r
            n_smip[r] = np.count_nonzero(union)
        c = np.rint(cpsd(m, radii, voxel_size=1.0) * m.size)
        s = np.rint(smip(m, radii, voxel_size=1.0, **CENTRES) * m.size)
        np.testing.assert_array_equal(c, [np.count_nonzero(lt >= r) for r in sizes])
        np.testing.assert_array_equal(s, [n_smip[r] for r in sizes])


def test_peer_agreement_with_porespy_integer_radii(bm01_labels):
    # PoreSpy's default local_thickness and porosimetry evaluate integer radii
    # only: lt is the largest integer r whose opening ({dt >= r} dilated by the
    # open ball of radius r) covers the voxel, pm the same with the centres
    # 6-connected to the inlets within {dt >= r}.  Hence lt >= r  <=>  x lies in
    # an open ball of squared radius floor(dt(c))**2 around a centre with
    # floor(dt(c)) >= r, and pm >= r likewise with floor(sqrt(reach(c)))**2.  Our
    # cover kernel fed with those quantized radii must reproduce PoreSpy voxel
    # for voxel; our cpsd/smip use the exact ball radius dt(c) (resp.
    # sqrt(reach(c))), which contains the quantized ball, so they can only be
    # larger.
    import porespy as ps  # test extra

    ps.settings.tqdm["disable"] = True
    for phase in (1, 2):
        m = np.ascontiguousarray(bm01_labels == phase)
        dt2 = squared_edt(m)
        reach = _con._reach(dt2, int(dt2.max()))
        rmax = int(math.isqrt(int(dt2[m].max())))
        radii = np.arange(rmax, 0, -1)
        lt = ps.filters.local_thickness(m, sizes=radii)
        inlets = np.zeros_like(m)
        inlets[:, :, 0] = True
        pm = ps.filters.porosimetry(m, inlets=inlets, sizes=radii)
        q_dt = np.vectorize(math.isqrt)(dt2) ** 2
        q_reach = np.vectorize(math.isqrt)(reach) ** 2
        c = cpsd(m, radii.astype(float), voxel_size=1.0)
        s = smip(m, radii.astype(float), voxel_size=1.0, **CENTRES)
        for i, r in enumerate(radii):
            k = int(r * r)
            np.testing.assert_array_equal(ball_cover(q_dt, k=k), lt >= r)
            np.testing.assert_array_equal(ball_cover(q_reach, k=k), pm >= r)
            assert c[i] * m.size >= np.count_nonzero(lt >= r)
            assert s[i] * m.size >= np.count_nonzero(pm >= r)


def test_invariants_and_validation(bm01_labels):
    for phase in (0, 1, 2):
        res = constrictivity(bm01_labels == phase, voxel_size=0.2)
        assert 0.0 <= res.beta <= 1.0 and 0 <= res.r_min <= res.r_max
    full = constrictivity(np.ones((5, 5, 5), bool), voxel_size=0.2)
    assert full.beta == 1.0 and math.isinf(full.r_max)
    with pytest.raises(ValueError, match="empty"):
        constrictivity(np.zeros((5, 5, 5), bool), voxel_size=0.2)
    with pytest.raises(ValueError, match="voxel_size"):
        constrictivity(np.ones((5, 5, 5), bool), voxel_size=0)
    with pytest.raises(ValueError, match="radii"):
        cpsd(np.ones((5, 5, 5), bool), [-1.0], voxel_size=1.0)


@pytest.mark.parametrize("gap,beta", [(None, 1.0), (25, 1.0), (14, 0.0)])
def test_non_percolating_phase_value_of_the_definition_and_flag(gap, beta):
    # A straight channel along z (16 x 16 x 40), cut by a phase-free plane at z = gap.  The
    # paper's SMIP counts what balls intrude from the inlet plane; it does not ask them to
    # reach the far plane.  Cut at 25 the inlet side holds 25/39 > 1/2 of the phase and has
    # no neck: SMIP = CPSD down to the eps/2 radius, r_min = r_max, beta = 1 although nothing
    # passes.  Cut at 14 the inlet side holds 14/39 < 1/2: SMIP < eps/2 at every radius,
    # r_min = 0, beta = 0.  Both are the definition's exact values; `percolating` flags them.
    x, y, _ = np.ogrid[:16, :16, :40]
    m = np.broadcast_to((x - 7.5) ** 2 + (y - 7.5) ** 2 < 6**2, (16, 16, 40)).copy()
    if gap is not None:
        m[:, :, gap] = False
    through = gap is None
    res = constrictivity(m, voxel_size=1.0)
    assert res.beta == beta and res.percolating is through
    assert (res.r_min == res.r_max) if beta == 1.0 else (res.r_min == 0.0 and res.r_max > 0)
    # the histogram path and the per-threshold paths (reservoir inlet, anisotropic voxels,
    # centre intrusion) flag it alike and give the same value here
    variants = _con.constrictivity_variants(
        m, {"res": {"inlet": "reservoir"}, "cen": CENTRES, "cen26": {"intrusion": "centres"}}, voxel_size=1.0)
    aniso = constrictivity(m, voxel_size=(1.0, 1.0, 1.0 + 1e-9))
    for r in (*variants.values(), aniso):
        assert r.percolating is through and r.beta == beta
    # along x the channel's cross-section touches neither end plane: r_min = 0, not percolating
    assert constrictivity(m, voxel_size=1.0, axis=0).percolating is False
    # describe() reports the same case through the tortuosity (26-neighbourhood, as the default)
    from vmt_dask.descriptors import describe

    d = describe(m.astype(np.uint8), phase=1, voxel_size=1.0)
    assert d["constrictivity"] == beta and (d["tortuosity_reached"] > 0) is through


def test_percolating_flag_six_versus_26():
    # two bars that meet only along an edge: 26-connected from z = 0 to the far plane, not
    # 6-connected; the flag follows the convention's neighbourhood
    m = np.zeros((8, 8, 12), bool)
    m[1:4, 1:4, :6] = True
    m[4:7, 4:7, 6:] = True
    assert constrictivity(m, voxel_size=1.0).percolating is True
    assert constrictivity(m, voxel_size=1.0, connectivity=6).percolating is False
    assert constrictivity(m, voxel_size=1.0, intrusion="centres", connectivity=6).percolating is False
    assert constrictivity(m, voxel_size=1.0, inlet="reservoir", connectivity=6).percolating is False
