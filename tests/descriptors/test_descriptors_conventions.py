"""Known answers for the constrictivity conventions (intrusion, connectivity,
radius grid, open/closed balls, inlet, crossing).

Lengths in voxels (voxel_size = 1).  Expected values follow from the lattice
geometry: the squared distance of a voxel centre to the nearest complement
voxel centre is an integer, and the curves only change at those integers.
"""
import itertools
import math

import numpy as np
import pytest

from vmt_dask.descriptors import constrictivity, smip
from vmt_dask.errors import InputError

ALL = [dict(intrusion=i, connectivity=c, radius_step=s, balls=b, inlet=t, crossing=x)
       for i, c, s, b, t, x in itertools.product(
           ("centres", "opening"), (6, 26), (None, 1.0, 0.5), ("open", "closed"),
           ("plane", "reservoir"), ("grid", "interpolate"))]


def _tube(n=24, nz=30, R=7):
    x, y, _ = np.ogrid[:n, :n, :nz]
    c = (n - 1) / 2
    return np.broadcast_to((x - c) ** 2 + (y - c) ** 2 < R * R, (n, n, nz)).copy()


@pytest.mark.parametrize("conv", ALL[::7])  # 14 of the 96, every option value present
def test_straight_tube_beta_one_every_convention(conv):
    # A straight tube along z is the same at every z: whatever a ball reaches
    # from the inlet it reaches everywhere, so SMIP = CPSD and beta = 1.
    res = constrictivity(_tube(), voxel_size=1.0, **conv)
    assert res.beta == pytest.approx(1.0)
    assert 5 <= res.r_max <= 8  # the tube radius 7 within a voxel or so of the grid


def _necklace(n=21, R=7, d=10, count=5):
    # balls of radius R centred on the z axis every d voxels, overlapping pairwise;
    # the first is centred in the inlet plane (cut in half by the window)
    nz = d * (count - 1) + R + 1
    x, y, z = np.ogrid[:n, :n, :nz]
    c = (n - 1) / 2
    m = np.zeros((n, n, nz), bool)
    for i in range(count):
        m |= (x - c) ** 2 + (y - c) ** 2 + (z - i * d) ** 2 < R * R
    return m


def test_necklace_opening_connects_overlapping_balls():
    # Pearls of radius 7 overlapping with a neck of radius sqrt(49 - 25) ~ 4.9.
    # Centre connectivity: a ball must pass the neck -> r_min ~ neck, beta ~ (4.9/7)^2 = 0.49.
    # Opened set: the union of the pearls is one connected set -> r_min = r_max, beta = 1.
    m = _necklace()
    cen = constrictivity(m, voxel_size=1.0, intrusion="centres")
    opn = constrictivity(m, voxel_size=1.0, intrusion="opening")
    assert constrictivity(m, voxel_size=1.0) == constrictivity(m, voxel_size=1.0, intrusion="opening",
                                                               connectivity=26)  # the default
    assert cen.r_max == pytest.approx(7.0)  # dt2 = 49 at the pearl centres
    assert 4.0 <= cen.r_min <= 5.5  # the neck radius 4.9 within a voxel
    assert 0.3 <= cen.beta <= 0.62
    assert opn.beta == pytest.approx(1.0) and opn.r_min == opn.r_max


def _neck(nz=40, R=9, r=4, at=0.75, half=2, n=22):
    x, y, z = np.ogrid[:n, :n, :nz]
    c = (n - 1) / 2
    rad = np.where(np.abs(z - int(at * nz)) <= half, r, R)
    return (x - c) ** 2 + (y - c) ** 2 < rad ** 2


def test_neck_position_eps_half_rule():
    # The definitions are cumulative with the threshold eps/2: a neck beyond which
    # less than half of the phase lies does not limit r_min (both variants), a neck
    # near the inlet does (both variants; a ball of the wide radius cannot pass it,
    # and the opened set at that radius is cut there).
    late, early = _neck(at=0.8), _neck(at=0.2)
    for intrusion in ("centres", "opening"):
        assert constrictivity(late, voxel_size=1.0, intrusion=intrusion).beta == pytest.approx(1.0)
        res = constrictivity(early, voxel_size=1.0, intrusion=intrusion)
        assert 3.0 <= res.r_min <= 4.5 and res.beta < 0.3, intrusion


def test_diagonal_contact_six_versus_twentysix():
    # A thin tube from the inlet (small volume) and a large block that touches it
    # only along an edge (26- but not 6-connected).  6: the block is never
    # intruded, SMIP(1) < eps/2 -> r_min = 0.  26: at r = 1 (k = 1: every phase
    # voxel is a centre, the opening is the phase) the block is reached -> r_min = 1.
    m = np.zeros((20, 20, 24), bool)
    m[3:5, 3:5, 0:12] = True  # tube, 48 voxels, every voxel next to the complement (dt^2 = 1)
    m[5:20, 5:20, 11:24] = True  # block, touches the tube's (4, 4, 11) only diagonally
    for intrusion in ("centres", "opening"):
        six = constrictivity(m, voxel_size=1.0, intrusion=intrusion, connectivity=6)
        tsix = constrictivity(m, voxel_size=1.0, intrusion=intrusion, connectivity=26)
        assert six.r_min == 0.0 and six.beta == 0.0, intrusion
        assert tsix.r_min == 1.0 and tsix.k_min == 1, intrusion


def _slab(w=9, n=24, nz=20):
    m = np.zeros((n, n, nz), bool)
    m[10:10 + w] = True  # a plate of w voxels across x, spanning y and z
    return m


def test_slab_radius_grid_balls_and_crossing():
    # Plate of odd width w = 9: the middle plane has dt = 5 (distance to the
    # complement centres at x = 9 and 19); every voxel of the plate is covered
    # by the open balls of radius 5 there.  CPSD = eps for r^2 <= 25, 0 beyond.
    m = _slab()
    assert constrictivity(m, voxel_size=1.0).r_max == pytest.approx(5.0)
    assert constrictivity(m, voxel_size=1.0, radius_step=1.0).r_max == pytest.approx(5.0)
    # closed balls need dt > r: r = 5 no longer fits, r = 4 does
    assert constrictivity(m, voxel_size=1.0, radius_step=1.0, balls="closed").r_max == pytest.approx(4.0)
    assert constrictivity(m, voxel_size=1.0, radius_step=0.5, balls="closed").r_max == pytest.approx(4.5)
    # interpolated crossing of eps/2 between the last feasible and the next grid radius:
    # the curve falls from eps to 0, so the crossing is the midpoint
    res = constrictivity(m, voxel_size=1.0, crossing="interpolate")
    assert res.r_max == pytest.approx(0.5 * (5 + math.sqrt(26)))
    res = constrictivity(m, voxel_size=1.0, radius_step=1.0, crossing="interpolate")
    assert res.r_max == pytest.approx(5.5) and res.beta == pytest.approx(1.0)
    # voxel_size scales the radii
    res2 = constrictivity(m, voxel_size=0.2, radius_step=1.0, crossing="interpolate")
    assert res2.r_max == pytest.approx(5.5 * 0.2)


def test_reservoir_lets_partial_balls_in():
    # A layer two voxels thick at the inlet: from the plane, the largest centre
    # there has dt^2 = 4, so no ball of radius 3 is admissible; from a reservoir
    # in front, balls of radius 3 centred in the reservoir dip into the layer
    # and cover it (open ball |x - c| < dt(c) with c at least 3 voxels out).
    m = np.zeros((16, 16, 20), bool)
    m[:, :, :2] = True
    layer = 2 * 16 * 16 / m.size
    assert smip(m, [3.0], voxel_size=1.0)[0] == 0.0
    assert smip(m, [3.0], voxel_size=1.0, intrusion="centres")[0] == 0.0
    assert smip(m, [3.0], voxel_size=1.0, inlet="reservoir", intrusion="centres")[0] == pytest.approx(layer)
    assert smip(m, [3.0], voxel_size=1.0, inlet="reservoir", intrusion="opening")[0] == pytest.approx(layer)


def test_opening_smip_equals_components_of_the_cpsd_set_touching_the_inlet(bm01_labels):
    # Independent check with scipy: label the local-thickness set, keep labels in z = 0.
    from scipy import ndimage

    from vmt_dask.descriptors import squared_edt
    from vmt_dask.descriptors.edt import ball_cover

    m = np.ascontiguousarray(bm01_labels[:24, :24, :24] == 1)
    dt2 = squared_edt(m)
    for conn, struct in ((6, ndimage.generate_binary_structure(3, 1)),
                         (26, np.ones((3, 3, 3), bool))):
        for k in (1, 2, 4, 8):
            cov = ball_cover(dt2, k=k)
            lab, _ = ndimage.label(cov, structure=struct)
            ids = np.unique(lab[:, :, 0])
            want = np.isin(lab, ids[ids > 0]).sum() / m.size
            got = smip(m, [math.sqrt(k)], voxel_size=1.0, intrusion="opening", connectivity=conn)[0]
            assert got == pytest.approx(want), (conn, k)
    # and the opening variant dominates the centre variant (balls that overlap count)
    r = [1.0, 1.5, 2.0, 2.5]
    cen = smip(m, r, voxel_size=1.0, intrusion="centres", connectivity=6)
    assert np.all(smip(m, r, voxel_size=1.0, intrusion="opening", connectivity=6) >= cen - 1e-15)


@pytest.mark.parametrize("kw,match", [
    (dict(intrusion="ball"), "intrusion"), (dict(connectivity=18), "connectivity"),
    (dict(radius_step=0.0), "radius_step"), (dict(balls="half"), "balls"),
    (dict(inlet="front"), "inlet"), (dict(crossing="spline"), "crossing"),
])
def test_bad_convention_names_the_parameter(kw, match):
    with pytest.raises(InputError, match=match):
        constrictivity(_slab(), voxel_size=1.0, **kw)


def test_variants_share_work_and_equal_single_calls(bm01_labels):
    from vmt_dask.descriptors import constrictivity_variants

    m = bm01_labels[:32, :32, :32] == 1
    variants = {"default": {}, "open26": dict(intrusion="opening", connectivity=26),
                "vox": dict(radius_step=1.0, crossing="interpolate"),
                "res": dict(inlet="reservoir", balls="closed", radius_step=0.5)}
    got = constrictivity_variants(m, variants, voxel_size=0.2)
    for name, kw in variants.items():
        assert got[name] == constrictivity(m, voxel_size=0.2, **kw), name
    with pytest.raises(InputError, match="unknown"):
        constrictivity_variants(m, {"x": {"neighbourhood": 26}}, voxel_size=0.2)
