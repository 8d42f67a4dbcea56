"""One spec schema: the pydantic model, the generated JSON Schema, the Helm chart's copy; safe loading."""
from __future__ import annotations

import json
import time
from pathlib import Path

import jsonschema
import pytest

from vmt_dask.errors import InputError
from vmt_dask.study import load_spec
from vmt_dask.study.presets import PRESETS
from vmt_dask.study.spec import preset_dict
from vmt_dask.study.spec import (LIMITS, MAX_DEPTH, MAX_SPEC_BYTES, helm_spec_schema, parse_spec_text,
                                 spec_json_schema)

CHART_SCHEMA = Path(__file__).resolve().parents[2] / "helm" / "vmt-dask" / "values.schema.json"


def _validator(schema):
    return jsonschema.Draft7Validator(schema)  # the chart's dialect ("$schema": draft-07)


def test_chart_embeds_the_generated_schema():
    chart = json.loads(CHART_SCHEMA.read_text())
    assert chart["properties"]["study"]["properties"]["spec"] == helm_spec_schema(), (
        "regenerate with: python -m vmt_dask.study.spec --helm-schema")


def test_generated_schema_accepts_presets_and_the_chart_default():
    v = _validator(helm_spec_schema())
    jsonschema.Draft7Validator.check_schema(helm_spec_schema())
    v.validate({})  # values.yaml default: run study.preset
    for name in PRESETS:
        v.validate(preset_dict(name))
        v.validate(load_spec(name).to_dict())  # what the API writes back
    grid = preset_dict("smoke")
    grid["grid"] = {"shape": grid.pop("shape"), "voxel_size": grid.pop("voxel_size")}
    v.validate(grid)
    load_spec(grid)


@pytest.mark.parametrize("change", [
    {"delta": -1}, {"delta": "abc"}, {"realizations": 0}, {"realizations": 2.5},
    {"realizations": LIMITS["realizations"] + 1}, {"t": [0.5, 1.0]}, {"t": []},
    {"shape": [24, 24]}, {"shape": [5000, 5000, 5000]}, {"axis": "w"}, {"axis": 3},
    {"seed": -1}, {"steps": {"volume_fraction_XX": [0.1]}}, {"steps": {"volume_fraction_AM": []}},
    {"endpoints": {"BM01": [1, 2, 3]}}, {"colour": "red"}, {"pairs": [["BM01"]]},
])
def test_schema_and_model_both_refuse(change):
    data = preset_dict("smoke")
    data.update(change)
    assert not _validator(spec_json_schema()).is_valid(data)
    with pytest.raises(InputError):
        load_spec(data)


def test_errors_are_one_line_naming_field_and_value():
    data = preset_dict("smoke")
    for change, field, value in [({"realizations": 10 ** 6}, "realizations", "1000000"),
                                 ({"shape": [5000, 5000, 5000]}, "shape[0]", "5000"),
                                 ({"delta": "1e999"}, "delta", "1e999"),
                                 ({"seed": 10 ** 40}, "seed", "1" + "0" * 40),
                                 ({"realizations": True}, "realizations", "True"),
                                 ({"t": ["1/0"]}, "t[0]", "1/0")]:
        with pytest.raises(InputError) as err:
            load_spec({**data, **change})
        msg = str(err.value)
        assert "\n" not in msg and repr(field) in msg and value in msg, msg


def test_totals_are_bounded():
    data = preset_dict("smoke")
    data["t"] = [i / 1001 for i in range(1, 1001)]
    data["realizations"] = 1000
    with pytest.raises(InputError, match="tasks, more than the limit"):
        load_spec(data)


def test_identity_is_cached_and_stable():
    # the first wave's hash: existing stores resume with the first wave's spec (no generator
    # field = lattice); the shipped preset names generator fast since this session
    spec = load_spec("paper", generator="lattice")
    assert spec.identity() == "c5f3a10688b93d13"
    assert spec.identity() is spec.identity()
    assert load_spec("smoke").identity() == "f883f28f1eed4491"


# --- safe loading ---------------------------------------------------------------------------
def _yaml(tmp_path, text: str | bytes, name="s.yaml"):
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def test_duplicate_keys_refused(tmp_path):
    text = load_spec("smoke").to_yaml() + "delta: 0.07\n"
    with pytest.raises(InputError, match="duplicate key 'delta'.*line"):
        load_spec(_yaml(tmp_path, text))
    nested = "steps:\n  volume_fraction_AM: [0.1]\n  volume_fraction_AM: [0.2]\n"
    with pytest.raises(InputError, match="duplicate key"):
        parse_spec_text(nested)


def test_alias_bomb_refused_quickly(tmp_path):
    bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 10):
        bomb.append(f"{chr(97 + i)}: &{chr(97 + i)} [" + ",".join([f"*{chr(96 + i)}"] * 9) + "]")
    text = "\n".join(bomb) + "\n"
    assert len(text) < 1300
    t0 = time.perf_counter()
    with pytest.raises(InputError, match="anchors|aliases"):
        load_spec(_yaml(tmp_path, text))
    assert time.perf_counter() - t0 < 5  # generous: refused at the first anchor, not expanded
    with pytest.raises(InputError, match="aliases"):
        parse_spec_text("x: *undefined\n")


def test_binary_large_deep_and_unreadable_files(tmp_path):
    with pytest.raises(InputError, match="binary content"):
        load_spec(_yaml(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
    with pytest.raises(InputError, match="not UTF-8"):
        load_spec(_yaml(tmp_path, b"name: \xff\xfe\n"))
    with pytest.raises(InputError, match="larger than"):
        load_spec(_yaml(tmp_path, "#" * (MAX_SPEC_BYTES + 1)))
    with pytest.raises(InputError, match="nesting deeper"):
        load_spec(_yaml(tmp_path, "x: " + "[" * (MAX_DEPTH + 2) + "]" * (MAX_DEPTH + 2) + "\n"))
    with pytest.raises(InputError, match="invalid YAML.*digits"):
        load_spec(_yaml(tmp_path, "seed: " + "9" * 5000 + "\n"))  # longer than Python converts
    with pytest.raises(InputError, match="invalid TOML"):
        load_spec(_yaml(tmp_path, "seed = " + "9" * 5000 + "\n", "s.toml"))
    with pytest.raises(InputError, match="is a directory"):
        load_spec(tmp_path)
    with pytest.raises(InputError, match="python/object"):
        load_spec(_yaml(tmp_path, "name: !!python/object/apply:os.system ['true']\n"))
    with pytest.raises(InputError, match="must be a mapping"):
        load_spec(_yaml(tmp_path, "- 1\n- 2\n"))
