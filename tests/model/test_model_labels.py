"""The fused labelling kernels of realize (Eqs. 4-5) against numpy's masks, bit for bit."""
import numpy as np
import pytest

from vmt_dask.model.fast import numba_threads
from vmt_dask.model.phases import AM, PORE, SE
from vmt_dask.model.realize import _label_am, _label_se


@pytest.mark.parametrize("shape, threads", [((7, 5, 3), 1), ((33, 17, 40), 2)])
def test_labels_equal_numpy_masks(shape, threads):
    rng = np.random.default_rng(3)
    X = rng.standard_normal(shape, dtype=np.float32)
    Y = rng.standard_normal(shape, dtype=np.float32)
    lx, ly = np.float32(1.25), np.float32(-0.26)
    X.flat[::11] = lx  # ties: X >= lambda is SE
    Y.flat[::13] = ly
    X.flat[::29] = np.nan  # NaN compares false: never SE
    expected = np.full(shape, PORE, np.uint8)
    expected[X >= lx] = SE
    expected[(Y >= ly) & (expected == PORE)] = AM
    got = np.empty(shape, np.uint8)
    with numba_threads(threads):
        _label_se(X, lx, got)
        _label_am(Y, ly, got)
    np.testing.assert_array_equal(got, expected)
    assert {PORE, SE, AM} <= set(np.unique(got).tolist())
