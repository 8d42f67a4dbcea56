"""Known answers for the geodesic tortuosity's path neighbourhoods (26 vs 98).

Oblique straight channels (digitized cylinders of radius 2.5 voxels along a
direction v) are convex, so the exact geodesic from a start voxel to the target
plane is the straight segment to the nearest target voxel.  A lattice path
follows a straight segment with the neighbourhood's steps; its length over the
Euclidean length is the chamfer ratio of the direction, the optimum of a small
linear programme (scipy.optimize.linprog here: an independent computation).
"""
import math

import numpy as np
import pytest
from scipy.optimize import linprog

from vmt_dask.descriptors import geodesic_tortuosity
from vmt_dask.descriptors.tortuosity import _steps
from vmt_dask.errors import InputError


def _chamfer_ratio(v, neighbourhood):
    """min sum_i |s_i| n_i subject to sum_i n_i s_i = v, n_i >= 0, over |v|."""
    steps = np.array(_steps(neighbourhood), float)
    res = linprog(np.linalg.norm(steps, axis=1), A_eq=steps.T, b_eq=np.asarray(v, float),
                  bounds=(0, None), method="highs")
    return res.fun / np.linalg.norm(v)


def _channel(v, rho=2.5, nz=41):
    nx = int(10 + (nz - 1) * v[0] / v[2])
    ny = int(10 + (nz - 1) * v[1] / v[2])
    x, y, z = np.indices((nx, ny, nz)).astype(float)
    u = np.asarray(v, float) / np.linalg.norm(v)
    w = np.stack([x - 4 - z * v[0] / v[2], y - 4 - z * v[1] / v[2], np.zeros_like(x)], -1)
    perp = w - (w @ u)[..., None] * u
    return (perp ** 2).sum(-1) < rho * rho


def _exact_mean(m):
    nz = m.shape[2]
    tgt = np.argwhere(m[:, :, -1]).astype(float)
    st = np.argwhere(m[:, :, 0]).astype(float)
    d2 = ((st[:, None, :] - tgt[None, :, :]) ** 2).sum(-1) + (nz - 1) ** 2
    return float(np.sqrt(d2.min(axis=1)).mean()) / (nz - 1)


@pytest.mark.parametrize("v", [(1, 0, 1), (1, 0, 2), (1, 0, 3), (1, 1, 2)])
def test_oblique_channel_against_chamfer_ratio(v):
    m = _channel(v)
    nz = m.shape[2]
    exact = _exact_mean(m)
    # Slack for the path ends: at most one extra sqrt(3) step over nz - 1 planes.
    slack = math.sqrt(3) / (nz - 1)
    for nb in (26, 98):
        res = geodesic_tortuosity(m, neighbourhood=nb)
        assert res.reached_fraction == 1.0
        ratio = res.mean / exact
        lp = _chamfer_ratio(v, nb)
        assert 1.0 <= ratio <= lp + slack, (nb, ratio, lp)
        assert ratio >= lp - slack, (nb, ratio, lp)
    # the 98-neighbourhood is never worse, and strictly better off the 26 directions
    t26 = geodesic_tortuosity(m).mean
    t98 = geodesic_tortuosity(m, neighbourhood=98).mean
    assert t98 <= t26 + 1e-12
    if v != (1, 0, 1):
        assert t26 / t98 > 1.04


def test_chamfer_ratios_known_values():
    # closed forms: (1 + sqrt 2) / sqrt 5 and (sqrt 5 + 1) / sqrt 10
    assert _chamfer_ratio((1, 0, 2), 26) == pytest.approx((1 + math.sqrt(2)) / math.sqrt(5))
    assert _chamfer_ratio((1, 0, 2), 98) == pytest.approx(1.0)
    assert _chamfer_ratio((1, 0, 3), 98) == pytest.approx((math.sqrt(5) + 1) / math.sqrt(10))


def test_98_long_steps_need_their_midpoint_voxels():
    # Two one-voxel shafts; start plane z = 0, target z = 11, displacement (1, 0, 11).
    # Overlapping at z = 6: the long step (1, 0, 2) from (x=1, z=5) to (2, 7) has the
    # midpoint voxels (1, 6) and (2, 6), both phase -> 5 + sqrt 5 + 4 = 9 + sqrt 5;
    # the 26-neighbourhood needs 10 unit steps and one diagonal: 10 + sqrt 2.
    face = np.zeros((4, 1, 12), bool)
    face[1, :, 0:7] = True
    face[2, :, 6:12] = True
    assert geodesic_tortuosity(face).mean * 11 == pytest.approx(10 + math.sqrt(2))
    assert geodesic_tortuosity(face, neighbourhood=98).mean * 11 == pytest.approx(9 + math.sqrt(5))
    # Touching only along an edge ((1, 5) and (2, 6)): every long step across would pass
    # a non-phase midpoint voxel ((2, 5) or (1, 6)), so it is refused and the 98 path
    # equals the 26 path; without the check it would be 4 + sqrt 5 + 5 = 9 + sqrt 5.
    edge = np.zeros((4, 1, 12), bool)
    edge[1, :, 0:6] = True
    edge[2, :, 6:12] = True
    assert geodesic_tortuosity(edge).mean * 11 == pytest.approx(10 + math.sqrt(2))
    assert geodesic_tortuosity(edge, neighbourhood=98).mean * 11 == pytest.approx(10 + math.sqrt(2))


def test_bad_neighbourhood():
    with pytest.raises(InputError, match="neighbourhood"):
        geodesic_tortuosity(np.ones((3, 3, 3), bool), neighbourhood=18)
