import math

import numpy as np
import pytest

from vmt_dask.descriptors import DESCRIPTOR_KEYS, describe
from vmt_dask.errors import InputError


def test_keys_and_invariants_on_realization(bm01_labels):
    out = {p: describe(bm01_labels, phase=p) for p in ("pore", "SE", "AM")}
    for p, d in out.items():
        assert tuple(d) == DESCRIPTOR_KEYS
        assert 0.0 <= d["volume_fraction"] <= 1.0
        assert d["specific_surface_area"] > 0
        assert 0.0 <= d["tortuosity_reached"] <= 1.0
        if d["tortuosity_reached"] > 0:
            assert d["tortuosity_mean"] >= 1.0 and d["tortuosity_std"] >= 0
        else:
            assert math.isnan(d["tortuosity_mean"])
        assert 0.0 <= d["constrictivity"] <= 1.0
        assert 0.0 <= d["r_min"] <= d["r_max"]
    assert sum(d["volume_fraction"] for d in out.values()) == pytest.approx(1.0, abs=1e-12)
    assert describe(bm01_labels, phase=2) == out["AM"]


def test_axis_and_voxel_size(bm01_labels):
    a = describe(bm01_labels, phase="AM", voxel_size=0.2)
    b = describe(bm01_labels, phase="AM", voxel_size=0.4)
    assert b["specific_surface_area"] == pytest.approx(a["specific_surface_area"] / 2)
    assert b["r_max"] == pytest.approx(2 * a["r_max"])
    t = describe(np.ascontiguousarray(np.swapaxes(bm01_labels, 0, 2)), phase="AM", axis=0)
    assert t["tortuosity_mean"] == pytest.approx(a["tortuosity_mean"], rel=1e-12)
    assert t["constrictivity"] == a["constrictivity"]


def test_non_percolating_phase_is_reported_not_faked():
    lab = np.zeros((8, 8, 20), np.uint8)
    lab[2:6, 2:6, :10] = 1
    d = describe(lab, phase="SE")
    assert d["tortuosity_reached"] == 0.0 and math.isnan(d["tortuosity_mean"])
    assert math.isnan(d["tortuosity_std"])


def test_bad_input():
    lab = np.zeros((6, 6, 6), np.uint8)
    with pytest.raises(InputError, match="'AM'"):
        describe(lab, phase="AM")
    with pytest.raises(InputError, match="3-D"):
        describe(lab[0], phase="pore")
    with pytest.raises(InputError, match="phase"):
        describe(lab, phase="XX")
    with pytest.raises(InputError, match="integer"):
        describe(lab.astype(float), phase="pore")
    with pytest.raises(InputError, match="voxel_size"):
        describe(lab, phase="pore", voxel_size=-0.2)
    with pytest.raises(InputError, match="axis"):
        describe(lab, phase="pore", axis=5)


@pytest.mark.parametrize("workers", [1, 2])
def test_describe_all_equals_describe(bm01_labels, workers):
    from vmt_dask.descriptors import describe_all

    out = describe_all(bm01_labels, phases=("SE", "AM", 0), voxel_size=0.2, axis=1, workers=workers)
    assert list(out) == ["SE", "AM", 0]
    for p, d in out.items():
        exp = describe(bm01_labels, phase=p, voxel_size=0.2, axis=1)
        assert d.keys() == exp.keys()
        for k in exp:
            assert d[k] == exp[k] or (math.isnan(d[k]) and math.isnan(exp[k])), (p, k)


def test_describe_all_refuses_before_work(bm01_labels):
    from vmt_dask.descriptors import describe_all

    with pytest.raises(InputError, match="label 7"):
        describe_all(bm01_labels, phases=("SE", 7))
    with pytest.raises(InputError, match="workers"):
        describe_all(bm01_labels, workers=0)


def test_describe_returns_the_curves_of_its_constrictivity(bm01_labels):
    # curves=True adds the CPSD/SMIP curves of the same evaluation and changes no other value
    from vmt_dask.descriptors import constrictivity, describe, describe_all

    for phase in ("SE", "AM"):
        plain = describe(bm01_labels, phase=phase)
        full = describe(bm01_labels, phase=phase, curves=True)
        c = full.pop("curves")
        assert full == plain
        ref = constrictivity(bm01_labels == (1 if phase == "SE" else 2), voxel_size=0.2, curves=True)
        for key, arr in (("radius", ref.radii), ("cpsd", ref.cpsd), ("smip", ref.smip)):
            np.testing.assert_array_equal(c[key], arr)
        assert c["radius"].dtype == np.float64 and np.all(np.diff(c["radius"]) > 0)
        assert np.all(np.diff(c["cpsd"]) <= 0) and np.all(c["smip"] <= c["cpsd"])
    both = describe_all(bm01_labels, curves=True, workers=2)
    np.testing.assert_array_equal(both["AM"]["curves"]["smip"], describe(bm01_labels, phase="AM", curves=True)["curves"]["smip"])


def test_describe_curves_need_cubic_voxels(bm01_labels):
    from vmt_dask.descriptors import describe, describe_all
    from vmt_dask.errors import InputError

    with pytest.raises(InputError, match="cubic voxels"):
        describe(bm01_labels, phase="SE", voxel_size=(0.2, 0.2, 0.3), curves=True)
    with pytest.raises(InputError, match="cubic voxels"):
        describe_all(bm01_labels, voxel_size=(0.2, 0.2, 0.3), curves=True)
