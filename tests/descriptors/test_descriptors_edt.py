import numpy as np
import pytest
from scipy import ndimage as ndi

from vmt_dask.descriptors import EDT_INF, squared_distance_to, squared_edt


@pytest.fixture(params=["envelope", "window"])
def y_x_passes(request, monkeypatch):
    """Both implementations of the y and x passes: the lower envelope (volumes below
    edt.WINDOW_FROM) and the window search (from it on; forced here on small volumes)."""
    from vmt_dask.descriptors import edt

    if request.param == "window":
        monkeypatch.setattr(edt, "WINDOW_FROM", 0)
    return request.param


@pytest.mark.parametrize("shape", [(5, 6, 7), (1, 1, 9), (17, 3, 22)])
@pytest.mark.parametrize("p", [0.5, 0.95])
def test_matches_scipy_exactly(shape, p, y_x_passes):
    rng = np.random.default_rng(hash((shape, p)) % 2**32)
    m = rng.random(shape) < p
    m.flat[0] = False
    ref = np.rint(ndi.distance_transform_edt(m) ** 2).astype(np.int64)
    np.testing.assert_array_equal(squared_edt(m), ref)
    for bound in (1, 2, 5, 30):
        exp = np.where(ref < bound, ref, EDT_INF)
        np.testing.assert_array_equal(squared_edt(m, bound=bound), exp)
        np.testing.assert_array_equal(squared_distance_to(~m, bound=bound), exp)


def test_no_background_is_inf_and_border_is_not_background():
    m = np.ones((4, 4, 4), bool)
    assert (squared_edt(m) == EDT_INF).all()
    m[0, 0, 0] = False
    d = squared_edt(m)
    assert d[3, 3, 3] == 27 and d[0, 0, 0] == 0


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="3-D"):
        squared_edt(np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="bound"):
        squared_edt(np.ones((3, 3, 3), bool), bound=0)


def test_window_search_with_far_background_matches_scipy(y_x_passes):
    # The y and x passes search windows of at most _WINDOW_MAX offsets and hand columns
    # that need more to the lower envelope: sparse background (distances up to ~100
    # voxels along y and x) exercises both paths; exact integers against scipy.
    from vmt_dask.descriptors import edt

    rng = np.random.default_rng(5)
    m = np.ones((110, 104, 6), bool)
    m[0, 0, 0] = m[109, 0, 5] = False
    m[60:, 50:70, :] = rng.random((50, 20, 6)) < 0.6  # a region of near background too
    ref = np.rint(ndi.distance_transform_edt(m) ** 2).astype(np.int64)
    assert ref.max() > (edt._WINDOW_MAX + 1) ** 2  # the envelope fallback runs
    np.testing.assert_array_equal(squared_edt(m), ref)
    for bound in (3, 50, (edt._WINDOW_MAX + 5) ** 2):
        np.testing.assert_array_equal(squared_edt(m, bound=bound), np.where(ref < bound, ref, EDT_INF))
