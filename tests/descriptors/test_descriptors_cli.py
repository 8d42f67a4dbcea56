"""``vmt describe`` on .npy, TIFF and store inputs (other formats: tests/io/test_io_cli.py)."""
import json
import math

import numpy as np
import pytest

from vmt_dask.cli import main
from vmt_dask.descriptors import describe


def _run(capsys, *argv):
    rc = main(["describe", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def _labels():
    from vmt_dask.model import CALIBRATED, realize

    return realize(CALIBRATED["BM01"], (24, 24, 24), seed=3)


@pytest.fixture
def fake_loader(tmp_path):
    """Volumes written as .npy files (optionally inside a vmt store when a voxel size is given)."""

    class Files(dict):
        def __setitem__(self, name, value):
            lab, vs = value
            if vs is None:
                path = tmp_path / f"{name}.npy"
                np.save(path, lab)
            else:
                from vmt_dask.model import CALIBRATED
                from vmt_dask.store import write_volume

                path = tmp_path / f"{name}.zarr"
                write_volume(path, "v", lab, theta=CALIBRATED["BM01"], seed=1, voxel_size=vs)
            super().__setitem__(name, str(path))

    files = Files()
    return files


def _path(files, name):
    return files[name]


def test_json_all_phases_matches_describe(fake_loader, capsys):
    lab = _labels()
    fake_loader["vol"] = (lab, 0.4)
    rc, out, _ = _run(capsys, fake_loader["vol"], "--phase", "all", "--json")
    assert rc == 0
    data = json.loads(out)
    assert data["voxel_size_um"] == 0.4 and data["axis"] == "z"
    for p in ("SE", "AM", "pore"):
        exp = describe(lab, phase=p, voxel_size=0.4)
        got = data["phases"][p]
        for k, v in exp.items():
            assert (got[k] is None and math.isnan(v)) or got[k] == pytest.approx(v, rel=1e-12)


def test_table_voxel_size_override_and_axis(fake_loader, capsys):
    lab = _labels()
    fake_loader["vol"] = (lab, None)
    rc, out, _ = _run(capsys, fake_loader["vol"], "--phase", "AM", "--axis", "x", "--voxel-size", "0.5")
    assert rc == 0
    exp = describe(lab, phase="AM", voxel_size=0.5, axis=0)
    assert "specific_surface_area" in out and "1/um" in out and "transport along x" in out
    assert "voxel size 0.5 um (--voxel-size)" in out
    assert f"{exp['r_max']:.6g}" in out


def test_default_voxel_size_is_0_2(fake_loader, capsys):
    lab = _labels()
    fake_loader["vol"] = (lab, None)
    rc, out, _ = _run(capsys, fake_loader["vol"], "--phase", "1", "--json")
    data = json.loads(out)
    assert rc == 0 and data["voxel_size_um"] == 0.2 and data["voxel_size_origin"].startswith("default")


def test_errors_and_non_percolating(fake_loader, capsys):
    lab = np.zeros((6, 6, 10), np.uint8)
    lab[1:4, 1:4, :5] = 1
    fake_loader["vol"] = (lab, None)
    vol = fake_loader["vol"]
    rc, out, err = _run(capsys, vol, "--phase", "SE")
    assert rc == 0 and "undefined" in out and "does not connect" in err
    rc, _, err = _run(capsys, vol, "--phase", "AM")
    assert rc == 2 and "phase AM (label 2) is absent" in err and "labels present: 0 (pore), 1 (SE)" in err
    assert len(err.strip().splitlines()) == 1
    rc, _, err = _run(capsys, vol, "--phase", "all", "--json")
    assert rc == 2 and "AM" in err and "absent" in err
    rc, out, err = _run(capsys, vol, "--phase", "all", "--json", "--allow-absent")
    phases = json.loads(out)["phases"]
    assert rc == 0 and phases["AM"]["volume_fraction"] == 0.0 and phases["AM"]["tortuosity_mean"] is None
    assert "absent" in err
    rc, _, err = _run(capsys, vol, "--phase", "XX")
    assert rc == 2 and "--phase 'XX'" in err
    fake_loader["flat"] = (np.zeros((5, 5), np.uint8), None)
    rc, _, err = _run(capsys, fake_loader["flat"], "--phase", "pore")
    assert rc == 2 and "3D" in err
    rc, _, err = _run(capsys, vol, "--phase", "SE", "--voxel-size", "-1")
    assert rc == 2 and "voxel-size" in err


def test_npy_input(tmp_path, capsys):
    lab = _labels()
    path = tmp_path / "vol.npy"
    np.save(path, lab)
    rc, out, _ = _run(capsys, path, "--phase", "SE", "--json")
    assert rc == 0
    got = json.loads(out)["phases"]["SE"]
    assert got["volume_fraction"] == pytest.approx(describe(lab, phase="SE")["volume_fraction"])
    assert got["constrictivity"] == pytest.approx(describe(lab, phase="SE")["constrictivity"])


def test_tiff_input(tmp_path, capsys):
    import tifffile

    lab = _labels()
    path = tmp_path / "vol.tif"
    # TIFF convention (vmt_dask.volumes): pages are z slices, each indexed (y, x)
    tifffile.imwrite(path, np.ascontiguousarray(lab.transpose(2, 1, 0)))
    rc, out, _ = _run(capsys, path, "--phase", "AM", "--json")
    assert rc == 0
    got = json.loads(out)["phases"]["AM"]
    exp = describe(lab, phase="AM")
    for k, v in exp.items():
        assert (got[k] is None and math.isnan(v)) or got[k] == pytest.approx(v, rel=1e-12)


def test_store_input(tmp_path, capsys):
    from vmt_dask import store as store_mod
    from vmt_dask.model import CALIBRATED

    lab = _labels()
    store = tmp_path / "study.zarr"
    store_mod.write_volume(str(store), "v0", lab, theta=CALIBRATED["BM01"], seed=3, voxel_size=0.4)
    rc, out, _ = _run(capsys, store, "--key", "v0", "--phase", "AM", "--json")
    assert rc == 0
    data = json.loads(out)
    assert data["voxel_size_um"] == pytest.approx(0.4)
    exp = describe(lab, phase="AM", voxel_size=0.4)
    assert data["phases"]["AM"]["r_max"] == pytest.approx(exp["r_max"])


def test_curves_json_and_csv(fake_loader, capsys, tmp_path):
    import csv

    from vmt_dask.descriptors import constrictivity

    lab = _labels()
    fake_loader["vol"] = (lab, None)
    out_json = tmp_path / "curves.json"
    rc, _, err = _run(capsys, fake_loader["vol"], "--phase", "SE,AM", "--curves", out_json, "--json")
    assert rc == 0 and "curves written" in err
    data = json.loads(out_json.read_text())
    for name, value in (("SE", 1), ("AM", 2)):
        exp = constrictivity(lab == value, voxel_size=0.2, curves=True)
        got = data["phases"][name]["z"]
        assert got["radius_um"] == exp.radii.tolist() and got["cpsd"] == exp.cpsd.tolist()
        assert got["smip"] == exp.smip.tolist() and got["r_max_um"] == exp.r_max
    out_csv = tmp_path / "curves.csv"
    rc, _, _ = _run(capsys, fake_loader["vol"], "--phase", "AM", "--axis", "x", "--curves", out_csv)
    assert rc == 0
    rows = list(csv.DictReader(out_csv.open()))
    exp = constrictivity(lab == 2, voxel_size=0.2, axis=0, curves=True)
    assert [float(r["smip"]) for r in rows] == exp.smip.tolist()
    assert {r["phase"] for r in rows} == {"AM"} and {r["axis"] for r in rows} == {"x"}


def test_curves_bad_inputs_exit_2(fake_loader, capsys, tmp_path):
    lab = _labels()
    fake_loader["vol"] = (lab, None)
    rc, _, err = _run(capsys, fake_loader["vol"], "--phase", "AM", "--curves", tmp_path / "c.txt")
    assert rc == 2 and ".json or .csv" in err and len(err.strip().splitlines()) == 1
    rc, _, err = _run(capsys, fake_loader["vol"], "--phase", "AM", "--voxel-size", "0.2,0.2,0.3",
                      "--curves", tmp_path / "c.json")
    assert rc == 2 and "cubic voxels" in err
    assert not (tmp_path / "c.json").exists()
