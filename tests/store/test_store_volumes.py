import os

import numpy as np
import pytest

from vmt_dask import store as st
from vmt_dask.errors import InputError
from vmt_dask.chunked import realize_dask
from vmt_dask.model import CALIBRATED, realize
from vmt_dask.volumes import load_labels

TH = CALIBRATED["BM03"]


@pytest.fixture
def labels():
    return realize(TH, (18, 20, 22), seed=3, voxel_size=0.8)


def test_roundtrip_numpy_and_dask(tmp_path, labels):
    s = tmp_path / "s.zarr"
    st.write_volume(s, "a", labels, theta=TH, seed=3, voxel_size=0.8)
    d = realize_dask(TH, (18, 20, 22), seed=3, voxel_size=0.8, chunks=(7, 9, 11))
    st.write_volume(s, "b", d, theta=TH, seed=3, voxel_size=0.8, chunks=(8, 8, 8))
    for key in ("a", "b"):
        arr, attrs = st.read_volume(s, key)
        assert np.array_equal(arr, labels)
        assert attrs["theta"] == TH.to_array().tolist() and attrs["seed"] == 3
        assert attrs["shape"] == [18, 20, 22] and attrs["voxel_size"] == 0.8 and attrs["chi2_dof"] == 2
        assert attrs["software"].startswith("vmt-dask")
        fr = attrs["phase_fractions"]
        assert fr["SE"] == pytest.approx(np.mean(labels == 1))
        assert sum(fr.values()) == pytest.approx(1.0)
    assert list(st.list_volumes(s)) == ["a", "b"]
    assert st.open_volume(s, "a").compressors  # compressed chunks


def test_fsspec_memory_url(labels):
    url = "memory://vmt-test-store.zarr"
    st.write_volume(url, "x", labels, theta=TH, seed=3, voxel_size=0.8)
    assert np.array_equal(st.read_volume(url, "x")[0], labels)
    assert st.volume_exists(url, "x")


def test_existing_key_refused_and_untouched(tmp_path, labels):
    s = tmp_path / "s.zarr"
    st.write_volume(s, "a", labels, theta=TH, seed=3, voxel_size=0.8)
    with pytest.raises(InputError, match="already exists"):
        st.write_volume(s, "a", labels * 0, theta=TH, seed=3, voxel_size=0.8)
    assert np.array_equal(st.read_volume(s, "a")[0], labels)


def test_crash_mid_write_leaves_no_visible_volume(tmp_path, labels, monkeypatch):
    s = tmp_path / "s.zarr"
    st.write_volume(s, "keep", labels, theta=TH, seed=3, voxel_size=0.8)

    def boom(*a, **k):
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(st.os, "replace", boom)
    with pytest.raises(RuntimeError):
        st.write_volume(s, "new", labels, theta=TH, seed=3, voxel_size=0.8)
    with pytest.raises(RuntimeError):
        st.write_volume(s, "keep", labels * 0, theta=TH, seed=3, voxel_size=0.8, overwrite=True)
    monkeypatch.undo()
    assert list(st.list_volumes(s)) == ["keep"]
    assert np.array_equal(st.read_volume(s, "keep")[0], labels)
    with pytest.raises(KeyError):
        st.open_volume(s, "new")


def test_crash_between_renames_restores_old(tmp_path, labels, monkeypatch):
    s = tmp_path / "s.zarr"
    st.write_volume(s, "v", labels, theta=TH, seed=3, voxel_size=0.8)
    real = os.replace
    calls = []

    def second_fails(a, b):
        calls.append((a, b))
        if len(calls) == 2:
            raise RuntimeError("died between renames")
        return real(a, b)

    monkeypatch.setattr(st.os, "replace", second_fails)
    with pytest.raises(RuntimeError):
        st.write_volume(s, "v", labels * 0, theta=TH, seed=3, voxel_size=0.8, overwrite=True)
    monkeypatch.undo()
    assert np.array_equal(st.read_volume(s, "v")[0], labels)


@pytest.mark.parametrize("key", ["", "a/b", ".hidden", "x y"])
def test_bad_keys(tmp_path, labels, key):
    with pytest.raises(InputError, match="key"):
        st.write_volume(tmp_path / "s.zarr", key, labels, theta=TH, seed=3, voxel_size=0.8)


def test_load_labels_all_kinds(tmp_path, labels):
    import tifffile

    np.save(tmp_path / "v.npy", labels)
    tifffile.imwrite(tmp_path / "v.tif", labels.transpose(2, 1, 0))  # pages = z slices
    st.write_volume(tmp_path / "s.zarr", "only", labels, theta=TH, seed=3, voxel_size=0.8)
    for path in ("v.npy", "v.tif", "s.zarr"):
        arr, vs = load_labels(tmp_path / path)
        assert np.array_equal(arr, labels), path
    assert load_labels(tmp_path / "s.zarr")[1] == 0.8
    np.save(tmp_path / "flat.npy", labels[0])
    with pytest.raises(InputError, match="3D"):
        load_labels(tmp_path / "flat.npy")
    with pytest.raises(InputError, match="no such"):
        load_labels(tmp_path / "missing.npy")
    with pytest.raises(InputError, match="no complete volume"):
        load_labels(tmp_path / "s.zarr", key="other")
