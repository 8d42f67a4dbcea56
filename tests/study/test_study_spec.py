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
    assert paper.replace(shape=list(demo.shape), name="demo", chunks=demo.chunks).identity() == demo.identity()


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
