"""The CPSD and SMIP curves a study stores with each database structure's descriptors.

The stored curves must be those of a direct :func:`vmt_dask.descriptors.constrictivity` call
on the same structure (bit for bit: JSON keeps float64 exactly), and r_min, r_max and the
constrictivity in the same record must follow from them by the definitions (paper Section
2.3, the default grid crossing): r_max is the largest radius with CPSD >= eps / 2, r_min the
largest radius not above r_max with SMIP >= eps / 2, beta = (r_min / r_max)^2.
"""
from __future__ import annotations

import numpy as np
import pytest

from vmt_dask.errors import InputError
from vmt_dask.storage import read_volume
from vmt_dask.study import load_spec, read_curves
from vmt_dask.study.coordinator import init_store
from vmt_dask.study.layout import structure_volume
from vmt_dask.study.results import CURVE_UNITS
from vmt_dask.study.stages import STAGE_TABLE, StudyPlan
from vmt_dask.study.tasks import PHASE_CODES

SPEC = load_spec("smoke", shape=32)


@pytest.fixture(scope="module")
def described(tmp_path_factory):
    """Structure 0 of the smoke design at 32^3, generated and described by the study's tasks."""
    store = str(tmp_path_factory.mktemp("curves") / "s.zarr")
    init_store(SPEC, store, "create")
    plan = StudyPlan(SPEC)
    for t in plan.structure_tasks(plan.points[0], None):
        if t.stage in ("structure", "describe-structure"):
            STAGE_TABLE[t.stage].function()(store, *t.args, **dict(t.kwargs))
    labels, _ = read_volume(store, structure_volume(0))
    return store, np.asarray(labels)


@pytest.mark.parametrize("phase", ["SE", "AM"])
def test_stored_curves_equal_a_direct_call(described, phase):
    from vmt_dask.descriptors import constrictivity

    store, labels = described
    ds = read_curves(store, 0, phase)
    direct = constrictivity(labels == PHASE_CODES[phase], voxel_size=SPEC.voxel_size, axis=SPEC.axis, curves=True)
    assert ds["radius"].size > 3
    np.testing.assert_array_equal(ds["radius"].values, direct.radii)
    np.testing.assert_array_equal(ds["cpsd"].values, direct.cpsd)
    np.testing.assert_array_equal(ds["smip"].values, direct.smip)
    assert ds["radius"].attrs["units"] == CURVE_UNITS["radius"] == "micrometre"
    assert ds.attrs["r_min"] == direct.r_min and ds.attrs["r_max"] == direct.r_max
    assert ds.attrs["constrictivity"] == direct.beta


@pytest.mark.parametrize("phase", ["SE", "AM"])
def test_radii_and_constrictivity_follow_from_the_curves(described, phase):
    store, labels = described
    ds = read_curves(store, 0, phase)
    r, cpsd, smip = ds["radius"].values, ds["cpsd"].values, ds["smip"].values
    eps = ds.attrs["volume_fraction"]
    assert eps == np.mean(labels == PHASE_CODES[phase])
    assert np.all(np.diff(r) > 0) and np.all(np.diff(cpsd) <= 0) and np.all(np.diff(smip) <= 0)
    assert np.all(smip <= cpsd)
    assert cpsd[0] == eps and r[0] == SPEC.voxel_size  # every phase voxel has dt >= 1 voxel
    half = eps / 2
    r_max = r[np.flatnonzero(cpsd >= half)].max()
    ok = np.flatnonzero((smip >= half) & (r <= r_max))
    r_min = r[ok].max() if ok.size else 0.0
    assert ds.attrs["r_max"] == r_max and ds.attrs["r_min"] == r_min
    assert ds.attrs["constrictivity"] == pytest.approx((r_min / r_max) ** 2, rel=1e-15, abs=0)


def test_curves_errors_name_the_problem(described):
    store, _ = described
    with pytest.raises(InputError, match="structure 17 is not an index 0..16"):
        read_curves(store, 17, "SE")
    with pytest.raises(InputError, match="phase 'pore'"):
        read_curves(store, 0, "pore")
    with pytest.raises(InputError, match="phase 'xx'"):
        read_curves(store, 0, "xx")
    # phase names in any case, as everywhere else (domain.phase_label)
    np.testing.assert_array_equal(read_curves(store, 0, "se")["cpsd"].values,
                                  read_curves(store, 0, "SE")["cpsd"].values)
    assert read_curves(store, 0, "am").attrs["phase"] == "AM"
    with pytest.raises(InputError, match="structure 1 phase SE: not described yet"):
        read_curves(store, 1, "SE")


def test_report_draws_the_stored_curves(described):
    from vmt_dask.report import figures as F
    from vmt_dask.report.report import _point_curves
    from vmt_dask.study import open_results

    store, _ = described
    picked = _point_curves(store, open_results(store))  # the point structure nearest t = 1/2: structure 0
    assert {ph: [label for label, _ in v] for ph, v in picked.items()} == {"SE": ["BM01-BM10 t=0.50"],
                                                                          "AM": ["BM01-BM10 t=0.50"]}
    np.testing.assert_array_equal(picked["SE"][0][1]["cpsd"].values, read_curves(store, 0, "SE")["cpsd"].values)
    fig = F.curves_figure(picked)
    assert len(fig.axes) == 2 and all(len(ax.lines) >= 4 for ax in fig.axes)  # CPSD, SMIP, eps/2, markers


def test_damaged_curves_record_is_named_not_read(described, tmp_path):
    import shutil

    from vmt_dask.study.layout import record_path

    store, _ = described
    copy = str(tmp_path / "s.zarr")
    shutil.copytree(store, copy)
    rel = record_path("describe-structure", f"{structure_volume(0)}-SE")
    path = tmp_path / "s.zarr" / rel
    path.write_text(path.read_text().replace('"cpsd"', '"cpsx"', 1))  # the seal no longer matches
    with pytest.raises(InputError, match="structure 0 phase SE: its record is damaged"):
        read_curves(copy, 0, "SE")
