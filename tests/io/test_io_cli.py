"""Issue 13 through the command line: a new user's files go through vmt describe and vmt conduct.

The reference volume (conftest.reference_labels) has exact answers that make a wrong axis, a
wrong label or a wrong phase visible: SE is a slab y < 7 (plus one stray voxel) whose M-factor
along z is its volume fraction's straight-channel part, AM a bar x < 5, y >= 7 along z.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from vmt_dask.cli import main
from vmt_dask.conductivity import m_factor
from vmt_dask.descriptors import describe


def _run(capsys, *argv):
    rc = main([*map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line_error(rc, err):
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# For each format of the "Done when" list: the options a user gives (README) and the phase.
USER_CASES = {
    "tiff_0_255": (["--phase", "255"], 255),
    "tiff_imagej_0_85_170": (["--labels", "pore=0,SE=85,AM=170", "--phase", "AM"], 170),
    "tiff_pagewise": (["--phase", "SE"], 1),
    "slices_png": (["--phase", "AM"], 2),
    "slices_tif": (["--phase", "SE"], 1),
    "raw_u16_big": (["--phase", "SE"], 1),
    "hdf5": (["--phase", "SE"], 1),
    "zarr_v2": (["--phase", "AM"], 2),
    "zarr_v3_zyx": (["--phase", "SE"], 1),
    "npz": (["--phase", "SE"], 1),
}


@pytest.mark.parametrize("name", list(USER_CASES))
def test_user_files_through_describe_and_conduct(inputs, capsys, name):
    case = inputs[name]
    opts, value = USER_CASES[name]
    values = np.asarray(case["values"]).astype(np.uint8)
    vs = case.get("voxel_size", (0.2, 0.2, 0.2))[0]
    rc, out, err = _run(capsys, "describe", case["path"], *case.get("cli", []), *opts, "--json")
    assert rc == 0, err
    data = json.loads(out)
    (got,) = data["phases"].values()
    exp = describe(values, phase=value, voxel_size=vs)
    for k in ("volume_fraction", "specific_surface_area", "tortuosity_mean", "r_max"):
        assert got[k] == pytest.approx(exp[k], rel=1e-12), k
    assert data["voxel_size_xyz_um"] == pytest.approx([vs] * 3)
    rc, out, err = _run(capsys, "conduct", case["path"], *case.get("cli", []), *opts, "--json",
                        "--rtol", "1e-8")
    assert rc == 0, err
    (got,) = json.loads(out)["phases"].values()
    assert got["m_factor"] == pytest.approx(m_factor(values == value, rtol=1e-8).m_factor, rel=1e-6)


def test_two_phase_0_255_named(inputs, capsys):
    path = inputs["tiff_0_255"]["path"]
    rc, out, err = _run(capsys, "describe", path, "--labels", "pore=0,solid=255", "--phase",
                        "solid", "--json")
    assert rc == 0, err
    by_name = json.loads(out)["phases"]["solid"]
    rc, out, _ = _run(capsys, "describe", path, "--phase", "255", "--json")
    assert json.loads(out)["phases"]["255"] == by_name
    # a YAML label map file names the same phases
    from pathlib import Path

    m = Path(path).with_name("labels.yaml")
    m.write_text("pore: 0\nsolid: 255\n")
    rc, out, _ = _run(capsys, "describe", path, "--labels", m, "--phase", "all", "--json")
    assert rc == 0 and json.loads(out)["phases"]["solid"] == by_name
    assert set(json.loads(out)["phases"]) == {"pore", "solid"}


def test_absent_phase_is_an_error_in_every_command(inputs, capsys):
    """0/85/170 without a map: SE (label 1) is absent; conduct exited 0 with M = 0 before."""
    path = inputs["tiff_imagej_0_85_170"]["path"]
    for cmd in ("describe", "conduct", "rev"):
        rc, _, err = _run(capsys, cmd, path, "--phase", "SE")
        line = _one_line_error(rc, err)
        assert "phase SE (label 1) is absent" in line and "labels present: 0 (pore), 85, 170" in line
        assert "--labels" in line
    rc, out, err = _run(capsys, "conduct", path, "--phase", "SE", "--allow-absent", "--json")
    assert rc == 0 and json.loads(out)["phases"]["SE"]["m_factor"] == 0.0 and "absent" in err
    rc, _, err = _run(capsys, "conduct", path, "--phase", "300")
    assert "phase 300 (label 300) is absent" in _one_line_error(rc, err)
    rc, _, err = _run(capsys, "conduct", path, "--phase", "99999999999")
    assert "0..4294967295" in _one_line_error(rc, err)


def test_label_map_errors(inputs, capsys, tmp_path):
    path = inputs["npy"]["path"]
    bad_yaml = tmp_path / "m.yaml"
    bad_yaml.write_text("a: [1\n")
    for labels_arg, fragment in [("pore=0,SE=0", "more than one phase"), ("pore", "NAME=VALUE"),
                                 ("pore=0,SE=5000000000", "0..4294967295"), ("9x=1", "phase name"),
                                 (str(bad_yaml), "not a valid label map"),
                                 (str(tmp_path / "none.json"), "no such file")]:
        rc, _, err = _run(capsys, "describe", path, "--labels", labels_arg, "--phase", "0")
        assert fragment in _one_line_error(rc, err), labels_arg
    rc, _, err = _run(capsys, "describe", path, "--labels", "pore=0,solid=1", "--phase", "AM")
    assert "not a phase of the label map (pore=0, solid=1)" in _one_line_error(rc, err)


def test_axis_all_describe_and_conduct(inputs, labels, capsys):
    path = inputs["npy"]["path"]
    rc, out, err = _run(capsys, "describe", path, "--phase", "SE", "--axis", "all", "--json")
    assert rc == 0, err
    got = json.loads(out)["phases"]["SE"]
    for axis, name in enumerate("xyz"):
        # the shared-work path gives exactly what describe() gives axis by axis
        exp = describe(labels, phase="SE", axis=axis)
        for k, v in exp.items():
            assert (got[name][k] is None and np.isnan(v)) or got[name][k] == pytest.approx(v, rel=1e-12), (name, k)
    rc, out, err = _run(capsys, "conduct", path, "--phase", "AM", "--axis", "all", "--json",
                        "--rtol", "1e-9")
    assert rc == 0, err
    got = json.loads(out)["phases"]["AM"]
    # AM: the bar x < 5, y >= 7 runs along z only: 5 * 7 columns of the 12 * 14 cross-section,
    # one of them cut by an SE voxel at (0, 13, 3), whose current detours through its
    # neighbours: 34 / 168 < M < 35 / 168 (34 intact straight channels, at most 35)
    assert 34 / 168 < got["z"]["m_factor"] < 35 / 168
    assert got["x"]["m_factor"] == 0.0 and got["y"]["m_factor"] == 0.0
    rc, out, _ = _run(capsys, "conduct", path, "--phase", "AM", "--axis", "all")
    assert "AM x" in out and "AM z" in out


def test_crop_on_describe_and_conduct(inputs, labels, capsys):
    path = inputs["zarr_v2"]["path"]
    rc, out, err = _run(capsys, "describe", path, "--phase", "SE", "--crop", "0:10,2:12,4:", "--json")
    assert rc == 0, err
    data = json.loads(out)
    assert data["shape"] == [10, 10, 12] and data["crop"] == [[0, 10], [2, 12], [4, 16]]
    exp = describe(labels[0:10, 2:12, 4:], phase="SE")
    assert data["phases"]["SE"]["volume_fraction"] == pytest.approx(exp["volume_fraction"])
    rc, out, err = _run(capsys, "conduct", path, "--phase", "SE", "--crop", "0:10,0:7,:", "--json",
                        "--rtol", "1e-9")
    assert rc == 0 and json.loads(out)["phases"]["SE"]["m_factor"] == pytest.approx(1.0, rel=1e-6)
    rc, _, err = _run(capsys, "describe", path, "--phase", "SE", "--crop", "0:20,:,:")
    assert "outside the volume's 0:12" in _one_line_error(rc, err)


def test_voxel_size_rules(inputs, capsys):
    path = inputs["hdf5"]["path"]                      # records 0.4 um
    rc, out, _ = _run(capsys, "describe", path, "--phase", "SE")
    assert rc == 0 and "voxel size 0.4 um (HDF5 attribute 'voxel_size_um')" in out
    rc, out, _ = _run(capsys, "describe", path, "--phase", "SE", "--voxel-size", "0.25")
    assert "voxel size 0.25 um (--voxel-size, overriding HDF5 attribute 'voxel_size_um')" in out
    for bad in ("0", "-1", "a", "1,2", "nan", "inf", "1e999"):
        rc, _, err = _run(capsys, "describe", path, "--phase", "SE", "--voxel-size", bad)
        assert "--voxel-size" in _one_line_error(rc, err)


def test_anisotropic_voxels_reach_the_kernels(inputs, labels, capsys):
    """dx, dy, dz from --voxel-size (or metadata) go to the kernels as a 3-tuple."""
    from vmt_dask.descriptors import geodesic_tortuosity, specific_surface_area

    path = inputs["npy"]["path"]
    vs = (0.2, 0.2, 0.4)
    rc, out, err = _run(capsys, "describe", path, "--phase", "AM", "--voxel-size", "0.2,0.2,0.4",
                        "--json")
    assert rc == 0, err
    data = json.loads(out)
    got = data["phases"]["AM"]
    mask = labels == 2
    assert data["voxel_size_xyz_um"] == [0.2, 0.2, 0.4]
    assert got["specific_surface_area"] == pytest.approx(specific_surface_area(mask, voxel_size=vs))
    assert got["tortuosity_mean"] == pytest.approx(geodesic_tortuosity(mask, axis=2, voxel_size=vs).mean)
    # constrictivity: computed if the kernel takes anisotropic voxels, else undefined with a note
    if got["constrictivity"] is None:
        assert "constrictivity undefined" in err
    rc, out, err = _run(capsys, "conduct", path, "--phase", "SE", "--voxel-size", "0.2,0.2,0.4",
                        "--json", "--axis", "all", "--rtol", "1e-9")
    assert rc == 0, err
    got = json.loads(out)["phases"]["SE"]
    # SE = the slab y < 7 (half the cross-section) plus two stray voxels: straight channels along
    # x and z give M = 7/14 exactly whatever the voxel's aspect ratio (series and parallel
    # conductances scale alike); along y it does not reach y = 13
    assert got["z"]["m_factor"] == pytest.approx(0.5, rel=1e-6)
    assert got["x"]["m_factor"] == pytest.approx(0.5, rel=1e-6)
    assert got["y"]["m_factor"] == 0.0
    assert got["z"]["m_factor"] == pytest.approx(
        m_factor(labels == 1, voxel_size=vs, rtol=1e-9).m_factor, rel=1e-6)


def test_unknown_and_bad_inputs_one_line(tmp_path, inputs, capsys):
    (tmp_path / "x.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    cases = [
        (["describe", tmp_path / "x.txt", "--phase", "SE"], "accepted inputs: TIFF stack"),
        (["conduct", tmp_path / "empty", "--phase", "SE"], "accepted inputs"),
        (["describe", tmp_path / "missing.tif", "--phase", "SE"], "no such file"),
        (["conduct", "", "--phase", "SE"], "empty"),
        (["describe", inputs["npy"]["path"], "--phase", "SE", "--axis", "w"], "--axis 'w'"),
        (["describe", inputs["raw_u16_big"]["path"], "--phase", "SE", "--raw-shape", "12,14"],
         "--raw-shape"),
        (["describe", inputs["raw_u16_big"]["path"], "--phase", "SE", "--raw-shape", "12,14,16",
          "--raw-dtype", "complex64"], "--raw-dtype"),
        (["describe", inputs["raw_u16_big"]["path"], "--phase", "SE", "--raw-shape", "12,14,16",
          "--raw-offset", "-4"], "--raw-offset"),
        (["info", tmp_path / "x.txt"], "accepted inputs"),
    ]
    for argv, fragment in cases:
        rc, _, err = _run(capsys, *argv)
        assert fragment in _one_line_error(rc, err), (argv, err)


def test_rev_table_json_and_plot(inputs, labels, capsys, tmp_path):
    path = inputs["npy"]["path"]
    png = tmp_path / "rev.png"
    rc, out, err = _run(capsys, "rev", path, "--phase", "SE", "--sizes", "4,8,12", "--json",
                        "--plot", png, "--rtol", "1e-8")
    assert rc == 0, err
    data = json.loads(out)
    rows = data["phases"]["SE"]
    assert [r["edge"] for r in rows] == [4, 8, 12]
    # the 12-cube is the centred 12 x 12 x 12 box: compare with the kernels on it directly
    box = labels[0:12, 1:13, 2:14]
    assert rows[-1]["shape"] == [12, 12, 12]
    assert rows[-1]["volume_fraction"] == pytest.approx(describe(box, phase="SE")["volume_fraction"])
    assert rows[-1]["m_factor"] == pytest.approx(m_factor(box == 1, rtol=1e-8).m_factor, rel=1e-6)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a cube narrower than SMALL_WINDOW x r_max is flagged, a wider one is not
    from vmt_dask.cli.rev import SMALL_WINDOW
    for r in rows:
        if r.get("constrictivity") is not None:
            narrow = r["edge_um"] < SMALL_WINDOW * r["r_max"]
            assert bool(r.get("constrictivity_small_window")) == narrow, r
    assert rows[0].get("constrictivity_small_window")
    assert any("cube 4: constrictivity" in n and "not representative" in n for n in data["notes"])
    rc, out, _ = _run(capsys, "rev", path, "--phase", "SE", "--steps", "3", "--no-conduct")
    assert rc == 0 and "phase SE" in out and "m_factor" not in out
    rc, _, err = _run(capsys, "rev", path, "--phase", "SE", "--plot", tmp_path / "a.pdf")
    assert ".png" in _one_line_error(rc, err)


def test_info_on_any_input(inputs, capsys):
    rc, out, _ = _run(capsys, "info", inputs["zarr_v3_zyx"]["path"])
    assert rc == 0 and "zarr, shape (x, y, z) (12, 14, 16)" in out and "0.3 x 0.3 x 0.3 um" in out
    rc, out, _ = _run(capsys, "info", inputs["tiff_pagewise"]["path"], "--json")
    assert rc == 0 and json.loads(out)["shape"] == [12, 14, 16]


def test_wide_label_images(tmp_path, labels, capsys):
    """16-bit label images (0/1000/2000, binary 0/65535) are read as codes, named by value."""
    import tifffile

    zyx = labels.transpose(2, 1, 0).astype(np.uint16)
    p = tmp_path / "wide.tif"
    tifffile.imwrite(p, zyx * 1000)
    rc, out, err = _run(capsys, "describe", p, "--labels", "pore=0,SE=1000,AM=2000", "--phase",
                        "AM", "--json")
    assert rc == 0, err
    data = json.loads(out)
    assert data["labels"] == {"AM": 2000}
    exp = describe(labels, phase=2)
    assert data["phases"]["AM"]["specific_surface_area"] == pytest.approx(exp["specific_surface_area"])
    rc, out, err = _run(capsys, "conduct", p, "--phase", "1000", "--json", "--rtol", "1e-9")
    assert rc == 0, err
    assert json.loads(out)["phases"]["1000"]["m_factor"] == pytest.approx(
        m_factor(labels == 1, rtol=1e-9).m_factor, rel=1e-6)
    rc, _, err = _run(capsys, "describe", p, "--phase", "7")
    assert "labels present: 0 (pore), 1000, 2000" in _one_line_error(rc, err)
    rc, out, err = _run(capsys, "conduct", p, "--phase", "7", "--allow-absent", "--json")
    assert rc == 0 and json.loads(out)["phases"]["7"]["m_factor"] == 0.0
    binary = tmp_path / "binary16.tif"
    tifffile.imwrite(binary, (zyx > 0).astype(np.uint16) * 65535)
    rc, out, err = _run(capsys, "describe", binary, "--phase", "65535", "--json")
    assert rc == 0, err
    assert json.loads(out)["phases"]["65535"]["volume_fraction"] == pytest.approx(np.mean(labels > 0))
    grey = tmp_path / "grey.tif"
    tifffile.imwrite(grey, np.arange(zyx.size, dtype=np.uint16).reshape(zyx.shape))
    rc, _, err = _run(capsys, "describe", grey, "--phase", "1")
    assert "distinct labels" in _one_line_error(rc, err)


def test_info_reads_raw_and_hdf5_paths_like_describe(tmp_path, capsys):
    import h5py
    vol = np.random.default_rng(3).integers(0, 3, (20, 16, 12)).astype(np.uint16)
    raw = tmp_path / "v.raw"
    vol.T.tofile(raw)  # x varies fastest in the file
    rc, out, err = _run(capsys, "info", raw, "--raw-shape", "20,16,12", "--raw-dtype", "uint16", "--json")
    assert rc == 0, err
    assert json.loads(out)["shape"] == [20, 16, 12] and json.loads(out)["dtype"] == "uint16"
    h5 = tmp_path / "v.h5"
    with h5py.File(h5, "w") as f:
        f.create_dataset("/seg/labels", data=vol.astype(np.uint8))
    rc, out, err = _run(capsys, "info", f"{h5}:/seg/labels", "--json")
    assert rc == 0, err
    assert json.loads(out)["shape"] == [20, 16, 12]
    _one_line_error(*_run(capsys, "info", f"{tmp_path}/missing.h5:/seg/labels")[::2])


def test_negative_values_get_the_one_line_error_not_argparse_usage(capsys):
    # argparse alone would read "-1,0.2,0.2" as an option and print its usage block
    line = _one_line_error(*_run(capsys, "describe", "x.npy", "--phase", "SE", "--voxel-size", "-1,0.2,0.2")[::2])
    assert "--voxel-size" in line and "-1,0.2,0.2" in line


def test_phase_all_refuses_a_grey_value_image(tmp_path, capsys):
    """A random 0..255 image without a label map: 256 'phases' were reported before (fresh-eyes run)."""
    from vmt_dask.cli._args import MAX_UNNAMED_PHASES

    grey = np.random.default_rng(1).integers(0, 256, size=(12, 12, 12), dtype=np.uint8)
    path = tmp_path / "grey.npy"
    np.save(path, grey)
    n = len(np.unique(grey))
    assert n > MAX_UNNAMED_PHASES
    line = _one_line_error(*_run(capsys, "describe", path, "--phase", "all")[::2])
    assert f"{n} distinct labels" in line and "grey-value" in line and "--labels" in line
    # a few unnamed labels (a segmented image without a map) are still every label present
    few = (grey % 3).astype(np.uint8) * 10
    np.save(tmp_path / "few.npy", few)
    rc, out, err = _run(capsys, "describe", tmp_path / "few.npy", "--phase", "all", "--json")
    assert rc == 0, err
    assert set(json.loads(out)["phases"]) == {"pore", "10", "20"}


def test_phase_all_notes_labels_the_map_leaves_out(tmp_path, capsys):
    """0/10/20 with --labels pore=0,SE=10: label 20 was dropped without a word before."""
    vol = np.zeros((12, 12, 12), dtype=np.uint8)
    vol[:, :, 4:8] = 10
    vol[:, :, 8:] = 20
    np.save(tmp_path / "three.npy", vol)
    rc, out, err = _run(capsys, "describe", tmp_path / "three.npy", "--labels", "pore=0,SE=10",
                        "--phase", "all", "--json")
    assert rc == 0, err
    assert set(json.loads(out)["phases"]) == {"pore", "SE"}
    assert "labels 20 are not named by the label map (--labels)" in err
    rc, out, err = _run(capsys, "describe", tmp_path / "three.npy", "--labels", "pore=0,SE=10,AM=20",
                        "--phase", "all", "--json")
    assert rc == 0 and "not named" not in err


def test_rev_note_when_the_phase_fills_the_cube(tmp_path, capsys):
    """A cube the phase fills has r_max = inf: the note said "10 x r_max = inf um" (fresh-eyes)."""
    vol = np.ones((12, 12, 12), dtype=np.uint8)
    vol[:2] = 0
    np.save(tmp_path / "full.npy", vol)
    rc, out, err = _run(capsys, "rev", tmp_path / "full.npy", "--phase", "SE", "--sizes", "4,12",
                        "--json", "--no-conduct")
    assert rc == 0, err
    notes = json.loads(out)["notes"]
    assert any("cube 4: the phase fills" in n and "r_max unbounded" in n for n in notes), notes
    assert not any("inf um" in n for n in notes) and "(4x4x4 voxels)" in err
