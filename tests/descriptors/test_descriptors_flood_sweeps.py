"""The bottleneck (widest-path) flood by raster sweeps (thickness._flood_sweeps) gives the
flood by value order's array and level counts exactly (integers: no tolerance).  The value
order flood is the sweeps' fallback (large values, mazes); forcing it gives the reference."""
import numpy as np
import pytest
from scipy import ndimage

import vmt_dask.descriptors as D
from vmt_dask.descriptors import thickness
from vmt_dask.descriptors.thickness import bottleneck_from_plane, local_thickness_squared


def _serpentine(nx=24, ny=6, nz=30):
    """Sheets across x joined at alternate x ends: the widest path from z = 0 runs back and
    forth along x, so every sheet needs one more sweep."""
    m = np.zeros((nx, ny, nz), bool)
    x = 1
    for z0 in range(0, nz, 4):
        m[1:nx - 1, 1:ny - 1, z0:z0 + 2] = True
        x = nx - 2 if x == 1 else 1
        m[x, 1:ny - 1, z0:min(z0 + 4, nz)] = True
    return m


def _value_order(monkeypatch, lt, conn):
    monkeypatch.setattr(thickness, "FLOOD_ROW_LIMIT", -1)  # give up at once
    a = lt.copy()
    h = thickness._bottleneck_counts_inplace(a, int(lt.max()), conn)
    monkeypatch.undo()
    return a, h


def _no_fallback(*args):
    raise AssertionError("the sweep flood fell back to the flood by value order")


def _cases():
    rng = np.random.default_rng(9)
    out = []
    for _ in range(10):
        shape = tuple(int(v) for v in rng.integers(1, 30, 3))
        f = ndimage.gaussian_filter(rng.standard_normal(shape), rng.uniform(0.3, 3.0))
        out.append(f > np.quantile(f, rng.uniform(0.2, 0.75)))
    return out + [_serpentine(), np.ascontiguousarray(np.moveaxis(_serpentine(), 0, 1))]


@pytest.mark.parametrize("fused_from", [0, 10**12])  # _flood_sweeps / _flood_sweeps_small
@pytest.mark.parametrize("conn", [6, 26])
def test_sweep_flood_equals_the_value_order_flood(monkeypatch, conn, fused_from):
    monkeypatch.setattr(thickness, "FLOOD_FUSED_FROM", fused_from)
    for m in _cases():
        dt = D.squared_edt(m)
        if int(dt.max()) >= int(D.EDT_INF):
            continue  # all phase: no local thickness
        for f in (local_thickness_squared(dt), dt):  # the opening family and the centres' reach
            if int(f.max()) == 0:
                continue
            ref, href = _value_order(monkeypatch, f, conn)
            monkeypatch.setattr(thickness, "FLOOD_FUSED_FROM", fused_from)  # undone by _value_order
            ours = f.copy()
            with monkeypatch.context() as mp:  # the sweeps must do it: no fallback to the reference
                mp.setattr(thickness, "_bottleneck_inplace", _no_fallback)
                hist = thickness._bottleneck_counts_inplace(ours, int(f.max()), conn)
            np.testing.assert_array_equal(ours, ref)
            np.testing.assert_array_equal(hist, href)


@pytest.mark.parametrize("kernel", ["_flood_sweeps", "_flood_sweeps_small"])
def test_sweep_flood_takes_many_sweeps_on_a_serpentine(monkeypatch, kernel):
    m = _serpentine()
    lt = local_thickness_squared(D.squared_edt(m))
    calls = []
    real = getattr(thickness, kernel)
    monkeypatch.setattr(thickness, "FLOOD_FUSED_FROM", 0 if kernel == "_flood_sweeps" else 10**12)

    def count(*args):
        calls.append(real(*args))
        return calls[-1]

    monkeypatch.setattr(thickness, kernel, count)
    b = bottleneck_from_plane(lt)
    assert calls[0] >= 6  # the sheets alternate in x: the repetition is exercised
    assert b[m].min() > 0  # every phase voxel connects to z = 0 through the serpentine
    monkeypatch.undo()
    ref, _ = _value_order(monkeypatch, lt, 26)
    np.testing.assert_array_equal(b, np.where(ref < 0, -ref, 0))


def test_large_values_use_the_value_order_flood(monkeypatch):
    # values >= 2^15 do not fit the int16 B array: the value-order flood runs (same answer as a
    # brute-force widest path on a tiny case)
    f = np.zeros((3, 1, 4), np.int32)
    f[1, 0, :] = [40000, 7, 50000, 3]
    f[0, 0, 2] = 45000
    called = []
    monkeypatch.setattr(thickness, "_flood_sweeps", lambda *a: called.append(1) or 0)
    monkeypatch.setattr(thickness, "_flood_sweeps_small", lambda *a: called.append(1) or 0)
    b = bottleneck_from_plane(f)
    assert not called
    np.testing.assert_array_equal(b[1, 0], [40000, 7, 7, 3])
    assert b[0, 0, 2] == 7


def test_blocked_row_scan_equals_the_plain_recurrence():
    # _flood_scan skips blocks that cannot rise; the plain two-way recurrence is the
    # reference (rows shorter and longer than a block, rises carried across block ends)
    rng = np.random.default_rng(12)
    for n in (1, 2, 5, 31, 32, 33, 64, 97, 200):
        for _ in range(30):
            fr = rng.integers(0, 50, n).astype(np.int32)
            r = np.where(rng.random(n) < 0.2, np.minimum(fr, rng.integers(0, 50, n)), 0).astype(np.int16)
            want = r.astype(np.int64)
            for z in range(1, n):
                want[z] = max(want[z], min(fr[z], want[z - 1]))
            for z in range(n - 2, -1, -1):
                want[z] = max(want[z], min(fr[z], want[z + 1]))
            got = r.copy()
            thickness._flood_scan(got, fr)
            np.testing.assert_array_equal(got, want)
