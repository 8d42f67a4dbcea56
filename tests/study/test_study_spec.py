"""Study spec: presets, validation errors naming the field, identity."""
from __future__ import annotations

import pytest

from vmt_dask.errors import InputError
from vmt_dask.study import FUNCTIONS, load_spec
from vmt_dask.study.spec import preset_dict


def test_paper_preset_is_the_paper_design():
    spec = load_spec("paper")
    assert spec.n_points == 15
    assert spec.t == pytest.approx([1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6])
    assert spec.pairs == (("BM01", "BM03"), ("BM01", "BM10"), ("BM03", "BM10"))
    assert spec.delta == 0.05 and spec.realizations == 5 and spec.alpha_floor == 0.05
    assert spec.functions == FUNCTIONS
    for fn in FUNCTIONS:
        expect = (-0.05, -0.025, 0.025, 0.05) if fn.startswith("constrictivity") else (-0.2, -0.1, 0.1, 0.2)
        assert spec.steps[fn] == expect
    assert spec.shape == (401, 401, 401) and spec.voxel_size == 0.2 and spec.axis == 2
    assert spec.structures_per_point == 33 and spec.n_structures == 495
    assert spec.endpoints["BM03"] == (0.03, 3.29, 0.26, 0.19, 0.94, 1.98, -0.30)


def test_demo_is_the_paper_design_on_a_smaller_grid():
    paper, demo = load_spec("paper"), load_spec("demo")
    assert demo.n_structures == 495
    assert demo.shape[0] < 401
    assert paper.replace(shape=list(demo.shape), voxel_size=demo.voxel_size, name="demo",
                         chunks=demo.chunks).identity() == demo.identity()


def test_spec_round_trips_and_toml(tmp_path):
    spec = load_spec("smoke")
    path = tmp_path / "s.yaml"
    path.write_text(spec.to_yaml())
    assert load_spec(path) == spec
    toml = tmp_path / "s.toml"
    toml.write_text('name = "x"\nendpoints = ["BM01", "BM10"]\npairs = [["BM01", "BM10"]]\nt = [0.5]\n'
                    'delta = 0.05\nrealizations = 2\nalpha_floor = 0.05\nshape = 16\nvoxel_size = 0.2\n'
                    'seed = 1\naxis = "z"\n[steps]\nvolume_fraction_AM = [0.1]\n')
    s2 = load_spec(toml)
    assert s2.shape == (16, 16, 16) and s2.axis == 2 and s2.n_structures == 2
    assert s2.endpoints["BM01"] == pytest.approx((0.07, 0.13, 0.02, 0.65, 0.92, 1.87, -0.26))


def test_identity_ignores_name_but_not_design():
    spec = load_spec("smoke")
    assert spec.replace(name="other").identity() == spec.identity()
    assert spec.replace(seed=spec.seed + 1).identity() != spec.identity()


@pytest.mark.parametrize("change, field", [
    ({"delta": 0}, "delta"),
    ({"delta": "abc"}, "delta"),
    ({"realizations": 0}, "realizations"),
    ({"realizations": 2.5}, "realizations"),
    ({"t": [0.5, 1.0]}, "t[1]"),
    ({"t": []}, "t"),
    ({"pairs": [["BM01", "BM01"]]}, "pairs[0]"),
    ({"pairs": [["BM01", "BM99"]]}, "pairs[0]"),
    ({"steps": {"volume_fraction_XX": [0.1]}}, "steps"),
    ({"steps": {"volume_fraction_AM": [0.0]}}, "steps.volume_fraction_AM[0]"),
    ({"steps": {"volume_fraction_AM": []}}, "steps.volume_fraction_AM"),
    ({"alpha_floor": -1}, "alpha_floor"),
    ({"shape": [24, 24]}, "shape"),
    ({"shape": [24, 24, 1]}, "shape[2]"),
    ({"voxel_size": 0}, "voxel_size"),
    ({"axis": "w"}, "axis"),
    ({"axis": 3}, "axis"),
    ({"seed": -1}, "seed"),
    ({"endpoints": {"BM01": [1, 2, 3]}}, "endpoints.BM01"),
    ({"endpoints": {"BM01": [0.07, 0.13, 0.02, 0.65, -0.92, 1.87, -0.26],
                    "BM10": [0.02, 0.70, 0.11, 0.20, 1.00, 2.45, 0.04]}}, "endpoints.BM01.a"),
    ({"colour": "red"}, "colour"),
])
def test_invalid_specs_name_the_field(change, field):
    data = preset_dict("smoke")
    data.update(change)
    with pytest.raises(InputError) as err:
        load_spec(data)
    assert repr(field) in str(err.value) or f"'{field}" in str(err.value)


def test_missing_field_and_bad_files(tmp_path):
    data = preset_dict("smoke")
    del data["delta"]
    with pytest.raises(InputError, match="'delta' is missing"):
        load_spec(data)
    with pytest.raises(InputError, match="no such file"):
        load_spec(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("delta: [unclosed\n")
    with pytest.raises(InputError, match="invalid YAML"):
        load_spec(bad)


def test_generator_recorded_without_changing_old_identities():
    """The generator is part of the spec: absent means "lattice" (the first release's), which
    keeps every stored spec's identity; another generator is another study."""
    from vmt_dask.model import GENERATORS

    spec = load_spec("smoke")
    assert spec.generator == "lattice"
    assert "generator" not in spec.to_dict()  # stored spec text unchanged for the default
    assert spec.replace(generator="lattice").identity() == spec.identity()
    other = next(g for g in GENERATORS if g != "lattice")
    changed = spec.replace(generator=other)
    assert changed.identity() != spec.identity()
    assert changed.to_dict()["generator"] == other
    assert load_spec(changed.to_dict()) == changed  # round trip
    with pytest.raises(InputError, match="'generator'.*'no-such'"):
        spec.replace(generator="no-such")


def test_generator_reaches_the_realize_task():
    """Every volume task names the generator explicitly (never the model's default)."""
    from vmt_dask.study.stages import StudyPlan

    spec = load_spec("smoke").replace(generator="point")
    tasks = StudyPlan(spec).start(set(), {})
    vol_tasks = [t for t in tasks if t.stage in ("realize", "structure")]
    assert vol_tasks and all(dict(t.kwargs)["generator"] == "point" for t in vol_tasks)


def test_realize_task_uses_the_recorded_generator(tmp_path):
    """A volume task generates with the generator it is given; a repair regenerates with the one
    in the volume's record."""
    import numpy as np

    from vmt_dask.model import realize
    from vmt_dask.storage import read_volume
    from vmt_dask.study.coordinator import init_store
    from vmt_dask.study.tasks import realize_task

    spec = load_spec("smoke").replace(generator="point", shape=16)
    store = str(tmp_path / "s.zarr")
    init_store(spec, store, "create")
    theta = list(spec.endpoints["BM01"])
    rec = realize_task(store, "v0", theta, 5, shape=[16, 16, 16], voxel_size=0.2, chi2_dof=2, chunks=None,
                       stage="realize", generator="point", identity=spec.identity())
    assert rec["generator"] == "point"
    got = np.asarray(read_volume(store, "v0")[0])
    want = realize(theta, (16, 16, 16), seed=5, voxel_size=0.2, chi2_dof=2, threads=1, generator="point")
    assert np.array_equal(got, want)
    lattice = realize(theta, (16, 16, 16), seed=5, voxel_size=0.2, chi2_dof=2, threads=1, generator="lattice")
    assert not np.array_equal(want, lattice)  # the test can tell the generators apart
    # the volume names its generator (the attribute `vmt generate` writes and `vmt info` shows)
    assert read_volume(store, "v0")[1]["generator"] == "point"
    # a volume of the same theta/seed made by another generator is not taken for this one's: the
    # task regenerates it although its record is intact
    from vmt_dask.storage import write_volume

    write_volume(store, "v0", lattice, theta=theta, seed=5, voxel_size=0.2, overwrite=True,
                 extra_attrs={"generator": "lattice"})
    realize_task(store, "v0", theta, 5, shape=[16, 16, 16], voxel_size=0.2, chi2_dof=2, chunks=None,
                 stage="realize", generator="point", identity=spec.identity())
    got, attrs = read_volume(store, "v0")
    assert np.array_equal(np.asarray(got), want) and attrs["generator"] == "point"
