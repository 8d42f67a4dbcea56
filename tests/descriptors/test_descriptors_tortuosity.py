import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from vmt_dask.descriptors import geodesic_distance_to_plane, geodesic_tortuosity


def _reference_distance(m):
    """Independent Dijkstra (scipy.sparse.csgraph, float64) to the plane z = n-1."""
    idx = -np.ones(m.shape, np.int64)
    idx[m] = np.arange(np.count_nonzero(m))
    nx, ny, nz = m.shape
    rows, cols, w = [], [], []
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            for dz in (-1, 0, 1):
                if dx == dy == dz == 0:
                    continue
                sl_a = tuple(slice(max(0, -d), n - max(0, d)) for d, n in zip((dx, dy, dz), m.shape))
                sl_b = tuple(slice(max(0, d), n - max(0, -d)) for d, n in zip((dx, dy, dz), m.shape))
                a, b = idx[sl_a], idx[sl_b]
                ok = (a >= 0) & (b >= 0)
                rows.append(a[ok])
                cols.append(b[ok])
                w.append(np.full(ok.sum(), np.sqrt(abs(dx) + abs(dy) + abs(dz))))
    n = int(m.sum())
    g = sp.csr_matrix((np.concatenate(w), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    src = idx[:, :, -1][m[:, :, -1]]
    out = np.full(m.shape, np.inf)
    out[m] = dijkstra(g, indices=src, min_only=True)
    return out


@pytest.mark.parametrize("p", [0.45, 0.6, 0.8])
def test_agrees_with_scipy_dijkstra_exactly(p):
    m = np.random.default_rng(int(p * 100)).random((14, 12, 17)) < p
    ours, ref = geodesic_distance_to_plane(m), _reference_distance(m)
    np.testing.assert_array_equal(np.isfinite(ours), np.isfinite(ref))
    f = np.isfinite(ref)
    np.testing.assert_allclose(ours[f], ref[f], rtol=0, atol=1e-9)


def test_agrees_with_dijkstra3d(bm01_labels):
    import dijkstra3d  # test extra

    for phase in (1, 2):
        m = bm01_labels == phase
        n = m.shape[2]
        src = [(int(a), int(b), n - 1) for a, b in np.argwhere(m[:, :, -1])]
        ref = dijkstra3d.euclidean_distance_field(m, src).astype(np.float64)
        ours = geodesic_distance_to_plane(m)
        f = np.isfinite(ours)
        # dijkstra3d accumulates in float32: relative rounding ~ steps * 6e-8
        np.testing.assert_allclose(ours[f], ref[f], rtol=1e-5)
        start = f[:, :, 0]
        res = geodesic_tortuosity(m)
        assert res.reached_fraction == start.sum() / m[:, :, 0].sum()
        if start.any():
            assert res.mean == pytest.approx(np.mean(ref[:, :, 0][start]) / (n - 1), rel=1e-6)
        else:
            assert np.isnan(res.mean)


def test_straight_channel_along_z():
    m = np.zeros((9, 9, 30), bool)
    m[3:6, 2:7, :] = True
    r = geodesic_tortuosity(m, return_values=True)
    assert r.mean == 1.0 and r.std == 0.0 and r.reached_fraction == 1.0 and r.n_start == 15
    assert r.values.shape == (9, 9)
    assert np.isnan(r.values[0, 0]) and r.values[4, 4] == 1.0


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_axis_argument(axis):
    shape = [8, 8, 8]
    shape[axis] = 25
    m = np.zeros(shape, bool)
    sl = [slice(2, 5)] * 3
    sl[axis] = slice(None)
    m[tuple(sl)] = True
    r = geodesic_tortuosity(m, axis=axis)
    assert (r.mean, r.std, r.reached_fraction, r.n_start) == (1.0, 0.0, 1.0, 9)


def test_channel_tilted_45_degrees_in_xz():
    # Voxels with 0 <= x - z < w and y in a band of width w.  Reaching z = n-1 takes
    # at least n-1 steps; a step without dx = 1 (length 1 instead of sqrt 2) shifts
    # x - z by -1, which the band allows at most w-1 times, so every path has length
    # in [sqrt2 (n-1) - (sqrt2 - 1)(w-1), sqrt2 (n-1)]: tau within (sqrt2-1)(w-1)/(n-1)
    # below sqrt 2.
    n, w = 41, 3
    x, y, z = np.ogrid[: n + w, :5, :n]
    m = (x - z >= 0) & (x - z < w) & (y >= 1) & (y < 1 + w)
    r = geodesic_tortuosity(m, return_values=True)
    lo = np.sqrt(2) - (np.sqrt(2) - 1) * (w - 1) / (n - 1)
    vals = r.values[np.isfinite(r.values)]
    assert r.reached_fraction == 1.0 and vals.size == w * w
    assert np.all(vals >= lo - 1e-12) and np.all(vals <= np.sqrt(2) + 1e-12)
    assert r.mean == pytest.approx(np.sqrt(2), abs=(np.sqrt(2) - 1) * (w - 1) / (n - 1))


def test_dead_end_reaches_nothing():
    m = np.zeros((7, 7, 20), bool)
    m[2:5, 2:5, :12] = True  # open at the start plane, closed before the target
    m[2:5, 2:5, 15:] = True  # touches the target only
    r = geodesic_tortuosity(m, return_values=True)
    assert np.isnan(r.mean) and np.isnan(r.std)
    assert r.reached_fraction == 0.0 and r.n_start == 9
    assert np.isnan(r.values).all()


def test_partially_reached_fraction():
    m = np.zeros((7, 12, 20), bool)
    m[1:3, 1:3, :] = True  # 4 voxels percolate
    m[4:6, 5:11, :8] = True  # 12 voxels end in a dead end
    r = geodesic_tortuosity(m)
    assert r.reached_fraction == pytest.approx(4 / 16) and r.mean == 1.0


def test_invariants_on_realization(bm01_labels):
    for phase in (0, 1, 2):
        r = geodesic_tortuosity(bm01_labels == phase)
        assert 0.0 <= r.reached_fraction <= 1.0
        if r.reached_fraction > 0:
            assert r.mean >= 1.0 and r.std >= 0.0


def test_validation():
    with pytest.raises(ValueError, match="axis"):
        geodesic_tortuosity(np.ones((3, 3, 3), bool), axis=3)
    with pytest.raises(ValueError, match="at least 2"):
        geodesic_tortuosity(np.ones((3, 3, 1), bool))
    with pytest.raises(TypeError):
        geodesic_tortuosity([[[True]]])
