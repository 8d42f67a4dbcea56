"""The per-process pool of work buffers (realize.BUFFER_POOL_BYTES, release_buffers): values do
not depend on it, the bytes held are reported and can be released."""
import importlib

import numpy as np
import pytest

from vmt_dask.model import CALIBRATED, realize
from vmt_dask.model.theta import Theta

rm = importlib.import_module("vmt_dask.model.realize")  # the module, not the function

# BM01 with a smooth X~ (alpha 0.02 per voxel at 0.2 um: spectral path), so the X sum's first
# field adds to the pooled buffer instead of storing its square: the buffer must be zero-filled
_SMOOTH_XT = Theta(0.02, *CALIBRATED["BM01"].to_array()[1:])


@pytest.fixture
def uncached(monkeypatch):
    """Small volumes on the large-tile path (no field cache), a fresh pool, and the pool
    emptied afterwards."""
    monkeypatch.setattr(rm, "FIELD_CACHE_BYTES", 0)
    rm.clear_field_cache()
    rm.release_buffers()
    yield
    rm.release_buffers()


@pytest.mark.parametrize("generator, theta", [("simd", CALIBRATED["BM01"]), ("fast", CALIBRATED["BM03"]),
                                              ("simd", _SMOOTH_XT), ("point", CALIBRATED["BM10"]),
                                              ("simd2", CALIBRATED["BM01"]), ("simd2", _SMOOTH_XT)])
def test_pooled_buffers_give_the_same_bits(uncached, monkeypatch, generator, theta):
    """A realization made with buffers left over (non-zero) from another one equals the one made
    with fresh buffers; shapes (33, 29, 40) and (30, 29, 40) so the pooled buffers are larger
    than needed, and the pool off (budget 0) keeps nothing."""
    shape = (30, 29, 40)
    monkeypatch.setattr(rm, "BUFFER_POOL_BYTES", 0)
    fresh = realize(theta, shape, seed=3, generator=generator, threads=1)
    assert rm.held_buffer_bytes() == 0
    monkeypatch.setattr(rm, "BUFFER_POOL_BYTES", 1 << 30)
    realize(theta, (33, 29, 40), seed=8, generator=generator, threads=1)  # leaves other values
    held = rm.held_buffer_bytes()
    assert held >= 4 * 33 * 29 * 40  # at least the sum buffer of the larger volume
    for threads in (1, 2):
        again = realize(theta, shape, seed=3, generator=generator, threads=threads)
        assert np.array_equal(again, fresh)
    assert rm.held_buffer_bytes() == held  # the same buffers came back, nothing new kept


def test_release_buffers_reports_and_frees(uncached):
    realize(CALIBRATED["BM01"], 24, seed=1, threads=1)
    held = rm.held_buffer_bytes()
    # the X/Y sum (4 bytes/voxel) and simd's intermediate (4 (24 + 2 Hx) 24 24 bytes)
    assert held >= 4 * 24 ** 3 + 4 * 24 ** 3
    assert rm.release_buffers() == held
    assert rm.held_buffer_bytes() == 0 and rm.release_buffers() == 0


def test_pool_budget_is_respected(uncached, monkeypatch):
    """Only buffers that fit the budget together are kept."""
    monkeypatch.setattr(rm, "BUFFER_POOL_BYTES", 4 * 24 ** 3)  # room for the sum only
    realize(CALIBRATED["BM01"], 24, seed=1, threads=1)
    assert 0 < rm.held_buffer_bytes() <= 4 * 24 ** 3


def test_small_pooled_buffer_is_replaced(uncached):
    """A pooled buffer smaller than the next tile needs is dropped for a new one."""
    realize(CALIBRATED["BM01"], 20, seed=1, threads=1)
    small = rm.held_buffer_bytes()
    ref = realize(CALIBRATED["BM03"], 28, seed=2, threads=1)
    assert rm.held_buffer_bytes() > small
    rm.release_buffers()
    assert np.array_equal(realize(CALIBRATED["BM03"], 28, seed=2, threads=1), ref)


def test_single_tile_labels_are_the_returned_array(uncached):
    """A box that is one whole tile is labelled in place (no copy): the same values as a box
    cut out of several tiles."""
    th = CALIBRATED["BM01"]
    whole = realize(th, (40, 36, 30), seed=5, voxel_size=0.6, tile=64)
    tiled = realize(th, (40, 36, 30), seed=5, voxel_size=0.6, tile=16)  # several tiles
    assert whole.base is None and whole.flags.owndata
    assert np.array_equal(whole, tiled)
    box = rm.realize_region(th, (40, 36, 30), (3, 4, 5), (40, 36, 30), seed=5, voxel_size=0.6, tile=64)
    assert np.array_equal(box, whole[3:, 4:, 5:])
