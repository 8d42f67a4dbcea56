"""`vmt study` refusals that need a store or a file: one line naming the cause, exit 2, nothing
touched (fresh-eyes findings of session 8: the resume of a store made by another spec, output
paths into a missing directory, unknown spec keys)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vmt_dask.cli import main as cli_main
from vmt_dask.errors import InputError
from vmt_dask.study import load_spec
from vmt_dask.study.coordinator import check_store, init_store, read_spec_text, spec_differences


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*"))}


@pytest.fixture()
def old_store(tmp_path):
    """A store made by the smoke preset with generator simd (what a preset said before it switched)."""
    spec = load_spec("smoke", generator="simd")
    store = tmp_path / "old.zarr"
    init_store(spec, str(store), "create")
    return spec, store


def test_other_generator_names_the_field_and_the_way_back(old_store, tmp_path, capsys):
    old, store = old_store
    new = old.replace(generator="simd2")
    with pytest.raises(InputError) as exc:
        check_store(new, str(store))
    text = str(exc.value)
    assert "generator: 'simd' in the store, 'simd2' in this spec" in text
    assert "vmt study spec" in text and text.rstrip().endswith("(deletes its results)")
    assert text.index("vmt study spec") < text.index("--new")  # the way back first, --new last
    assert "seed" not in text  # only the fields that differ

    # the CLI: one line, exit 2, the store untouched; then the store's own spec resumes it
    before = _snapshot(store)
    spec_file = tmp_path / "new.yaml"
    spec_file.write_text(new.to_yaml())
    assert cli_main(["study", "run", str(spec_file), "--store", str(store), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "generator: 'simd' in the store" in err[0], err
    assert _snapshot(store) == before

    out = tmp_path / "old.yaml"
    assert cli_main(["study", "spec", str(store), "-o", str(out)]) == 0
    assert out.read_text() == read_spec_text(str(store))
    assert check_store(load_spec(str(out)), str(store)) == "resume"
    assert _snapshot(store) == before


def test_several_fields_are_named_and_counted(old_store):
    old, store = old_store
    new = old.replace(seed=old.seed + 1, realizations=old.realizations + 1, shape=[s + 2 for s in old.shape],
                      delta=old.delta * 2)
    meta = {"spec": old.to_yaml(), "identity": old.identity()}
    text = spec_differences(meta, new, limit=3)
    # four fields differ: three named (in to_dict order), one counted
    assert text.count(" in the store, ") == 3 and text.endswith("and 1 more field(s)"), text
    assert text.startswith("delta: ")
    # name and retries are not part of the identity: never named
    assert spec_differences(meta, old.replace(name="other", retries=0)).startswith("the same fields")


def test_an_unreadable_stored_spec_still_gives_one_line(old_store):
    old, _ = old_store
    for bad in ("shape: [1, 2", "- a list\n- not a mapping", None):
        text = spec_differences({"spec": bad, "identity": "x"}, old)
        assert "unreadable" in text and old.identity() in text, (bad, text)
    # a stored spec this version no longer validates (an unknown generator) is compared raw
    raw = old.to_dict() | {"generator": "gone-generator"}
    text = spec_differences({"spec": yaml.safe_dump(raw)}, old)
    assert text == f"generator: 'gone-generator' in the store, {old.generator!r} in this spec"


def test_spec_of_a_missing_store_is_one_line(tmp_path, capsys):
    assert cli_main(["study", "spec", str(tmp_path / "nope.zarr")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such store" in err[0]


@pytest.mark.parametrize("argv_tail, option", [
    (["results", "{store}", "--csv", "{missing}/out.csv"], "--csv"),
    (["spec", "{store}", "-o", "{missing}/old.yaml"], "--output"),
    (["@regress", "{store}", "--csv", "{missing}/fit.csv"], "--csv"),
    (["@regress", "{store}", "--markdown", "{missing}/fit.md"], "--markdown"),
])
def test_output_into_a_missing_directory_names_it(old_store, tmp_path, capsys, argv_tail, option):
    _, store = old_store
    missing = tmp_path / "no" / "such"
    argv = [a.format(store=store, missing=missing) for a in argv_tail]
    argv = [argv[0][1:], *argv[1:]] if argv[0].startswith("@") else ["study", *argv]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert option in err[0] and f"directory {str(missing)!r} does not exist" in err[0], err
    assert not (tmp_path / "no").exists()


def test_a_misspelt_field_is_named_not_the_missing_one(tmp_path, capsys):
    from vmt_dask.study.spec import preset_dict

    d = preset_dict("smoke")
    d["realisations"] = d.pop("realizations")  # the real field is now also missing
    spec_file = tmp_path / "bad.yaml"
    spec_file.write_text(yaml.safe_dump(d))
    store = tmp_path / "s.zarr"
    assert cli_main(["study", "run", str(spec_file), "--store", str(store), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "'realisations': unknown field (did you mean 'realizations'?" in err[0], err
    assert "missing" not in err[0]
    assert not store.exists()
    # an unknown field with no near name gets no guess
    d = preset_dict("smoke") | {"frobnicate": 1}
    with pytest.raises(InputError, match=r"'frobnicate': unknown field \(known: "):
        load_spec(d)
