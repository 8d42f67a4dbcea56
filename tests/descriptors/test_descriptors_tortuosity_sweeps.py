"""Geodesic distances by raster sweeps (vmt_dask/descriptors/tortuosity.py, ``_sweeps``) are
bit-identical to Dial's search: both compute the unique solution of
``d(v) = min_u fl(d(u) + |u - v|)`` (0 on the target plane; unique because every step is
>= 1), so the comparison has no tolerance.  Dial's search is the sweeps' fallback for mazes
(``SWEEP_ROW_LIMIT``); forcing it gives the reference."""
import numpy as np
import pytest
from scipy import ndimage

from vmt_dask.descriptors import geodesic_distance_to_plane, tortuosity


def _dial_reference(monkeypatch, m, axis):
    monkeypatch.setattr(tortuosity, "SWEEP_ROW_LIMIT", -1)  # give up at once: Dial's search
    out = geodesic_distance_to_plane(m, axis=axis)
    monkeypatch.undo()
    return out


def _no_dial(monkeypatch):
    def fail(*args):
        raise AssertionError("the sweeps fell back to Dial's search")

    monkeypatch.setattr(tortuosity, "_dial", fail)


def _comb(channels=8, ny=3, nz=20):
    """Channels along z (the transport axis) joined alternately at the bottom and the top:
    the only path from the target plane (z = nz-1, last channel) to the start plane (z = 0,
    first channel) runs down and up every channel, so every sweep (down or up) follows one
    channel; the distance of the start voxel is known in closed form."""
    nx = 2 * channels + 1
    m = np.zeros((nx, ny, nz), bool)
    for k in range(channels):
        m[2 * k + 1, :, 1:nz - 1] = True
        if k + 1 < channels:
            z = 1 if k % 2 == 0 else nz - 2
            m[2 * k + 2, :, z] = True
    m[1, :, 0] = True
    m[2 * channels - 1, :, nz - 1] = True
    return m


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sweeps_equal_dial_on_noise_structures(monkeypatch, seed):
    # thresholded smoothed noise of random shape (including planes 1-2 voxels thick),
    # porosity 0.2-0.75: all three axes, every voxel's distance bit for bit
    rng = np.random.default_rng(seed)
    for _ in range(6):
        shape = tuple(int(v) for v in rng.integers(2, 30, 3))
        f = ndimage.gaussian_filter(rng.standard_normal(shape), rng.uniform(0.3, 3.0))
        m = f > np.quantile(f, rng.uniform(0.25, 0.8))
        for axis in range(3):
            ref = _dial_reference(monkeypatch, m, axis)
            _no_dial(monkeypatch)
            np.testing.assert_array_equal(geodesic_distance_to_plane(m, axis=axis), ref)
            monkeypatch.undo()


def test_sweeps_equal_dial_on_a_realization(monkeypatch, bm01_labels):
    for phase in (1, 2):
        m = bm01_labels == phase
        for axis in range(3):
            ref = _dial_reference(monkeypatch, m, axis)
            _no_dial(monkeypatch)
            np.testing.assert_array_equal(geodesic_distance_to_plane(m, axis=axis), ref)
            monkeypatch.undo()


def test_comb_needs_many_sweeps_and_stays_exact(monkeypatch):
    # 8 channels joined at alternate ends: the start voxel's path turns back along the
    # transport axis 7 times; checked against Dial (bitwise) and a closed form
    m = _comb()
    ref = _dial_reference(monkeypatch, m, 2)
    _no_dial(monkeypatch)
    calls = []
    real = tortuosity._sweeps

    def count(*args):
        calls.append(real(*args))
        return calls[-1]

    monkeypatch.setattr(tortuosity, "_sweeps", count)
    ours = geodesic_distance_to_plane(m, axis=2)
    np.testing.assert_array_equal(ours, ref)
    assert calls[0] >= 8  # one sweep per channel at least: the test exercises the repetition
    # closed form: from the start voxel (1, y, 0) each of the 7 links is two diagonal steps
    # (channel end -> link voxel -> next channel, sqrt 2 each); channels 2..7 (x = 3..13)
    # are run along for 15 steps (z = 2..17), the last one (x = 15) for 17 (z = 2..19).
    # Float sums of ~120 steps: rounding below 120 * 2^-53 * 127 ~ 2e-12 (absolute)
    assert ours[1, 0, 0] == pytest.approx(6 * 15 + 17 + 14 * np.sqrt(2.0), rel=0, abs=1e-11)


def test_maze_falls_back_to_dial_with_the_same_distances(monkeypatch):
    m = _comb(channels=6)
    ref = _dial_reference(monkeypatch, m, 2)
    monkeypatch.setattr(tortuosity, "SWEEP_ROW_LIMIT", 1)  # the comb needs more than one
    calls = []
    real = tortuosity._dial

    def spy(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(tortuosity, "_dial", spy)
    np.testing.assert_array_equal(geodesic_distance_to_plane(m, axis=2), ref)
    assert calls == [1]
