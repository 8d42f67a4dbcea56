"""vmt_dask.io: every format reads back the same (x, y, z) volume, lazily, with its metadata."""
from __future__ import annotations

import numpy as np
import pytest

from vmt_dask.errors import InputError
from vmt_dask.io import natural_key, open_input, parse_crop, read_labels
from vmt_dask.volumes import load_labels

FORMATS = ["tiff_0_255", "tiff_imagej_0_85_170", "tiff_pagewise", "slices_png", "slices_tif",
           "raw_u16_big", "hdf5", "zarr_v2", "zarr_v3_zyx", "zarr_group", "npy", "npz"]


@pytest.mark.parametrize("name", FORMATS)
def test_every_format_reads_the_same_volume(inputs, name):
    case = inputs[name]
    vol = open_input(case["path"], **case.get("opts", {}))
    assert vol.shape == (12, 14, 16), name
    got = read_labels(vol)
    assert got.dtype == np.uint8 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, case["values"])
    expected_vs = case.get("voxel_size")
    if expected_vs is None:
        assert vol.voxel_size is None, (name, vol.voxel_size, vol.voxel_size_origin)
    else:
        assert vol.voxel_size == pytest.approx(expected_vs), vol.voxel_size_origin


@pytest.mark.parametrize("name", ["npy", "zarr_v2", "hdf5", "tiff_pagewise", "raw_u16_big"])
def test_crop_reads_only_the_box(inputs, labels, name):
    case = inputs[name]
    vol = open_input(case["path"], **case.get("opts", {}))
    got = read_labels(vol, crop="2:9,:5,10:")
    np.testing.assert_array_equal(got, labels[2:9, :5, 10:])


def test_lazy_until_read(inputs):
    import dask.array as da

    for name in ("npy", "zarr_v3_zyx", "hdf5", "tiff_pagewise", "slices_png"):
        vol = open_input(inputs[name]["path"], **inputs[name].get("opts", {}))
        assert isinstance(vol.data, da.Array), name
    # .npy is memory-mapped: the lazy array wraps a np.memmap
    vol = open_input(inputs["npy"]["path"])
    assert isinstance(vol._keep, np.memmap)


def test_anisotropic_metadata_follows_the_axes(tmp_path, labels):
    import h5py
    import tifffile
    import zarr

    zyx = np.ascontiguousarray(labels.transpose(2, 1, 0))
    p = tmp_path / "fib.tif"
    tifffile.imwrite(p, zyx, imagej=True, resolution=(1 / 0.01, 1 / 0.02),
                     metadata={"spacing": 0.05, "unit": "micron", "axes": "ZYX"})
    vol = open_input(p)
    assert vol.voxel_size == pytest.approx((0.01, 0.02, 0.05)) and "ImageJ" in vol.voxel_size_origin
    # nanometres in an HDF5 file, stored (z, y, x) with dimension labels
    p = tmp_path / "fib.h5"
    with h5py.File(p, "w") as f:
        ds = f.create_dataset("v", data=zyx)
        ds.dims[0].label, ds.dims[1].label, ds.dims[2].label = "z", "y", "x"
        ds.attrs["spacing"] = [50.0, 20.0, 10.0]
        ds.attrs["unit"] = "nm"
    vol = open_input(f"{p}:/v")
    assert vol.voxel_size == pytest.approx((0.01, 0.02, 0.05))
    np.testing.assert_array_equal(read_labels(vol), labels)
    # OME-Zarr style: multiscales axes with units and a scale transform
    p = tmp_path / "ome.zarr"
    g = zarr.open_group(str(p), mode="w")
    a = g.create_array("0", shape=zyx.shape, dtype="u1")
    a[...] = zyx
    g.attrs["multiscales"] = [{
        "axes": [{"name": "z", "unit": "micrometer"}, {"name": "y", "unit": "micrometer"},
                 {"name": "x", "unit": "micrometer"}],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [0.05, 0.02, 0.01]}]}]}]
    vol = open_input(p)
    assert vol.voxel_size == pytest.approx((0.01, 0.02, 0.05))
    np.testing.assert_array_equal(read_labels(vol), labels)


def test_axes_override_for_array_formats(tmp_path, labels):
    np.save(tmp_path / "zyx.npy", labels.transpose(2, 1, 0))
    np.testing.assert_array_equal(read_labels(open_input(tmp_path / "zyx.npy", axes="zyx")), labels)
    labels.tofile(tmp_path / "c.raw")  # C order of an (x, y, z) array: z fastest
    vol = open_input(tmp_path / "c.raw", raw_shape=labels.shape, axes="xyz")
    np.testing.assert_array_equal(read_labels(vol), labels)
    with pytest.raises(InputError, match="--axes 'xxy'"):
        open_input(tmp_path / "zyx.npy", axes="xxy")


def test_vmt_store_and_load_labels_wrapper(tmp_path, labels):
    from vmt_dask.model import CALIBRATED
    from vmt_dask.store import write_volume

    s = tmp_path / "s.zarr"
    write_volume(s, "only", labels, theta=CALIBRATED["BM01"], seed=1, voxel_size=0.8)
    vol = open_input(s)
    assert vol.format == "vmt" and vol.labels == {"pore": 0, "SE": 1, "AM": 2}
    assert vol.voxel_size == (0.8, 0.8, 0.8)
    arr, vs = load_labels(s)
    np.testing.assert_array_equal(arr, labels)
    assert vs == 0.8
    write_volume(s, "two", labels, theta=CALIBRATED["BM01"], seed=2, voxel_size=0.8)
    with pytest.raises(InputError, match="give --key, the store holds 2 volumes"):
        open_input(s)
    np.testing.assert_array_equal(read_labels(open_input(f"{s}", key="two")), labels)


def test_natural_sort():
    names = ["s10.png", "s2.png", "s1.png", "S3.png"]
    assert sorted(names, key=natural_key) == ["s1.png", "s2.png", "S3.png", "s10.png"]


def test_float_and_wide_integer_labels(tmp_path, labels):
    np.save(tmp_path / "f.npy", labels.astype(np.float32))
    np.testing.assert_array_equal(read_labels(open_input(tmp_path / "f.npy")), labels)
    np.save(tmp_path / "grey.npy", labels.astype(np.float32) + 0.5)
    with pytest.raises(InputError, match="non-integral"):
        read_labels(open_input(tmp_path / "grey.npy"))
    np.save(tmp_path / "wide.npy", labels.astype(np.int32) * 300)
    with pytest.raises(InputError, match=r"0\.\.255"):
        read_labels(open_input(tmp_path / "wide.npy"))


@pytest.mark.parametrize("make, fragment", [
    ("rgb_page", "colour (RGB)"),
    ("single_page", "single 2-D image"),
    ("single_png", "single 2-D PNG"),
    ("rgb_png_folder", "colour"),
    ("mixed_slices", "all slices must match"),
    ("unknown", "accepted inputs: TIFF stack"),
    ("empty_dir", "accepted inputs"),
    ("missing", "no such file or directory"),
    ("raw_without_shape", "--raw-shape"),
    ("raw_wrong_size", "needs"),
    ("npz_two", "pick one with --key"),
    ("h5_two", "name one as"),
    ("h5_missing_ds", "no dataset"),
    ("zarr_group_two", "pick one with --key"),
    ("flat_npy", "3D"),
    ("multichannel", "multi-channel"),
    ("time_series", "no time axis"),
    ("damaged_tiff", "not a readable TIFF"),
])
def test_bad_inputs_one_line(tmp_path, labels, make, fragment):
    import h5py
    import tifffile
    import zarr
    from PIL import Image

    p = tmp_path / "in"
    opts = {}
    if make == "rgb_page":
        p = tmp_path / "rgb.tif"
        tifffile.imwrite(p, np.zeros((12, 16, 3), np.uint8))       # silently 3x16x12 before
    elif make == "single_page":
        p = tmp_path / "page.tif"
        tifffile.imwrite(p, np.zeros((12, 16), np.uint8))
    elif make == "single_png":
        p = tmp_path / "one.png"
        Image.fromarray(np.zeros((12, 16), np.uint8)).save(p)
    elif make == "rgb_png_folder":
        p.mkdir()
        for i in range(3):
            Image.fromarray(np.zeros((12, 16, 3), np.uint8)).save(p / f"{i}.png")
    elif make == "mixed_slices":
        p.mkdir()
        tifffile.imwrite(p / "a1.tif", np.zeros((12, 16), np.uint8))
        tifffile.imwrite(p / "a2.tif", np.zeros((12, 15), np.uint8))
    elif make == "unknown":
        p = tmp_path / "notes.txt"
        p.write_text("hello")
    elif make == "empty_dir":
        p.mkdir()
    elif make == "missing":
        p = tmp_path / "nope.tif"
    elif make == "raw_without_shape":
        p = tmp_path / "v.raw"
        labels.tofile(p)
    elif make == "raw_wrong_size":
        p = tmp_path / "v.raw"
        labels.tofile(p)
        opts = {"raw_shape": (12, 14, 15)}
    elif make == "npz_two":
        p = tmp_path / "two.npz"
        np.savez(p, a=labels, b=labels)
    elif make in ("h5_two", "h5_missing_ds"):
        p = tmp_path / "two.h5"
        with h5py.File(p, "w") as f:
            f["a"] = labels
            f["b"] = labels
        if make == "h5_missing_ds":
            p = f"{p}:/c"
    elif make == "zarr_group_two":
        p = tmp_path / "g.zarr"
        g = zarr.open_group(str(p), mode="w")
        for k in "ab":
            g.create_array(k, shape=labels.shape, dtype="u1")
    elif make == "flat_npy":
        p = tmp_path / "flat.npy"
        np.save(p, labels[0])
    elif make == "multichannel":
        p = tmp_path / "mc.tif"
        tifffile.imwrite(p, np.zeros((4, 2, 12, 16), np.uint8), imagej=True,
                         metadata={"axes": "ZCYX"})
    elif make == "time_series":
        p = tmp_path / "t.tif"
        tifffile.imwrite(p, np.zeros((3, 4, 12, 16), np.uint8), imagej=True,
                         metadata={"axes": "TZYX"})
    elif make == "damaged_tiff":
        p = tmp_path / "bad.tif"
        p.write_bytes(b"II*\x00" + b"\xff" * 20)
    with pytest.raises(InputError) as info:
        vol = open_input(p, **opts)
        read_labels(vol)
    msg = str(info.value)
    assert fragment in msg and "\n" not in msg, msg


def test_parse_crop():
    assert parse_crop("1:3,:,2:", (4, 5, 6)) == (slice(1, 3), slice(0, 5), slice(2, 6))
    assert parse_crop(",,", (4, 5, 6)) == (slice(0, 4), slice(0, 5), slice(0, 6))
    for bad in ("1:3", "3:1,:,:", "0:9,:,:", "a:b,:,:", "1:2:3,:,:"):
        with pytest.raises(InputError, match="--crop"):
            parse_crop(bad, (4, 5, 6))


def test_zarr_v2_group_and_remote_url(tmp_path, labels):
    """A foreign Zarr v2 group, and a Zarr array behind an fsspec URL (memory://)."""
    import zarr

    g = zarr.open_group(str(tmp_path / "g2.zarr"), mode="w", zarr_format=2)
    a = g.create_array("scan", shape=labels.shape, dtype="u1", chunks=(5, 5, 5))
    a[...] = labels
    g.create_array("flat", shape=(3, 3), dtype="u1")          # 2-D arrays are not candidates
    vol = open_input(tmp_path / "g2.zarr")
    assert vol.format == "zarr" and vol.source.endswith("[scan]")
    np.testing.assert_array_equal(read_labels(vol), labels)
    url = "memory://vmt-io-test/remote.zarr"
    store = zarr.storage.FsspecStore.from_url(url)
    r = zarr.create_array(store, shape=labels.shape, dtype="u1", chunks=(6, 7, 8))
    r[...] = labels
    np.testing.assert_array_equal(read_labels(open_input(url)), labels)
    np.testing.assert_array_equal(read_labels(open_input(url), crop="1:3,:,:"), labels[1:3])


def test_multi_series_tiff_needs_a_series_index(tmp_path, labels):
    """A TIFF holding a 3-D stack and a 2-D thumbnail (two series of different shapes)."""
    import tifffile

    p = tmp_path / "multi.tif"
    with tifffile.TiffWriter(p) as w:
        w.write(np.ascontiguousarray(labels.transpose(2, 1, 0)))
        w.write(np.zeros((4, 5), np.uint8))
    with pytest.raises(InputError, match="holds 2 image series of different shapes.*--key INDEX"):
        open_input(p)
    np.testing.assert_array_equal(read_labels(open_input(p, key="0")), labels)
    with pytest.raises(InputError, match="single 2-D image"):
        open_input(p, key="1")
    with pytest.raises(InputError, match="not a series index 0..1"):
        open_input(p, key="7")
