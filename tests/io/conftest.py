"""Small fixtures in every input format, all holding the same (x, y, z) label volume."""
from __future__ import annotations

import numpy as np
import pytest


def reference_labels() -> np.ndarray:
    """A 12 x 14 x 16 three-phase volume with no symmetry that would hide an axis swap.

    SE: a slab y < 7 through the whole volume (percolates along x and z), AM: x < 5, y >= 7
    (percolates along z only), plus a few marker voxels at distinct (x, y, z) positions so a
    transposed or flipped read cannot compare equal.
    """
    lab = np.zeros((12, 14, 16), np.uint8)
    lab[:, :7, :] = 1
    lab[:5, 7:, :] = 2
    lab[11, 13, 15] = 1
    lab[10, 12, 0] = 2
    lab[0, 13, 3] = 1
    return lab


@pytest.fixture
def labels() -> np.ndarray:
    return reference_labels()


def write_all(tmp_path, lab: np.ndarray) -> dict[str, dict]:
    """Write ``lab`` in every format; returns {name: {"path": str, "opts": dict, "map": labels}}."""
    import h5py
    import tifffile
    import zarr
    from PIL import Image

    out: dict[str, dict] = {}
    zyx = np.ascontiguousarray(lab.transpose(2, 1, 0))      # image order: pages z, rows y
    # 0/255 two-phase TIFF (solid = SE or AM)
    p = tmp_path / "binary.tif"
    tifffile.imwrite(p, ((zyx > 0) * 255).astype(np.uint8))
    out["tiff_0_255"] = {"path": str(p), "values": (lab > 0) * 255}
    # 0/85/170 three-phase ImageJ hyperstack with spacing
    p = tmp_path / "three.tif"
    tifffile.imwrite(p, (zyx * 85).astype(np.uint8), imagej=True, resolution=(2.0, 2.0),
                     metadata={"spacing": 0.5, "unit": "um", "axes": "ZYX"})
    out["tiff_imagej_0_85_170"] = {"path": str(p), "values": lab.astype(int) * 85,
                                   "voxel_size": (0.5, 0.5, 0.5)}
    # page-wise written stack: one write() per slice
    p = tmp_path / "pagewise.tif"
    with tifffile.TiffWriter(p) as w:
        for z in range(lab.shape[2]):
            w.write(np.ascontiguousarray(lab[:, :, z].T))
    out["tiff_pagewise"] = {"path": str(p), "values": lab}
    # folders of slices, names that sort wrongly as text (slice10 before slice2)
    for kind in ("png", "tif"):
        d = tmp_path / f"slices_{kind}"
        d.mkdir()
        for z in range(lab.shape[2]):
            img = np.ascontiguousarray(lab[:, :, z].T)
            if kind == "png":
                Image.fromarray(img).save(d / f"slice{z}.png")
            else:
                tifffile.imwrite(d / f"slice{z}.tif", img)
        out[f"slices_{kind}"] = {"path": str(d), "values": lab}
    # raw: uint16 big-endian, x fastest (C order (z, y, x))
    p = tmp_path / "volume.raw"
    zyx.astype(">u2").tofile(p)
    out["raw_u16_big"] = {"path": str(p), "values": lab,
                          "opts": {"raw_shape": lab.shape, "raw_dtype": "uint16",
                                   "byte_order": "big"},
                          "cli": ["--raw-shape", "12,14,16", "--raw-dtype", "uint16",
                                  "--byte-order", "big"]}
    # HDF5 dataset in a group, with a voxel size attribute
    p = tmp_path / "volume.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("other/flat", data=np.zeros((3, 3)))
        ds = f.create_dataset("seg/labels", data=lab, chunks=(6, 7, 8))
        ds.attrs["voxel_size_um"] = 0.4
    out["hdf5"] = {"path": f"{p}:/seg/labels", "values": lab, "voxel_size": (0.4, 0.4, 0.4)}
    # foreign Zarr v2 array (x, y, z order, no metadata)
    p = tmp_path / "v2.zarr"
    z2 = zarr.open_array(str(p), mode="w", shape=lab.shape, dtype="u1", zarr_format=2, chunks=(5, 7, 8))
    z2[...] = lab
    out["zarr_v2"] = {"path": str(p), "values": lab}
    # foreign Zarr v3 array stored (z, y, x) with dimension names and a voxel size per axis
    p = tmp_path / "v3.zarr"
    z3 = zarr.create_array(str(p), shape=zyx.shape, dtype="u1", chunks=(8, 7, 6),
                           dimension_names=["z", "y", "x"])
    z3[...] = zyx
    z3.attrs["spacing"] = [0.3, 0.3, 0.3]
    out["zarr_v3_zyx"] = {"path": str(p), "values": lab, "voxel_size": (0.3, 0.3, 0.3)}
    # Zarr v3 group holding one 3-D array
    p = tmp_path / "group.zarr"
    g = zarr.open_group(str(p), mode="w")
    a = g.create_array("data/seg", shape=lab.shape, dtype="u1", chunks=(6, 7, 8))
    a[...] = lab
    out["zarr_group"] = {"path": str(p), "values": lab}
    # npy and npz
    np.save(tmp_path / "volume.npy", lab)
    out["npy"] = {"path": str(tmp_path / "volume.npy"), "values": lab}
    np.savez_compressed(tmp_path / "volume.npz", labels=lab)
    out["npz"] = {"path": str(tmp_path / "volume.npz"), "values": lab}
    return out


@pytest.fixture
def inputs(tmp_path, labels):
    return write_all(tmp_path, labels)
