import os

import numpy as np
import pytest

from vmt_dask import store as st
from vmt_dask.errors import InputError
from vmt_dask.chunked import realize_dask
from vmt_dask.model import CALIBRATED, realize
from vmt_dask.storage import verify_store
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


@pytest.mark.parametrize("kind", ["numpy", "dask"])
def test_crash_between_renames_restores_old(tmp_path, labels, monkeypatch, kind):
    """The portable replacement (two renames: old aside, new into place) fails at its second
    rename: the old volume is put back.  (The failure is injected at that rename by its
    arguments; counting os.replace calls would hit zarr's own per-file renames instead.)"""
    import dask.array as da

    from vmt_dask.storage import atomic as A

    s = tmp_path / "s.zarr"
    st.write_volume(s, "v", labels, theta=TH, seed=3, voxel_size=0.8)
    real = os.replace
    calls = []

    def second_fails(a, b):
        if os.path.basename(str(a)).startswith(".tmp-") and os.path.basename(str(b)) == "v":
            calls.append((a, b))
            raise RuntimeError("died between renames")
        return real(a, b)

    monkeypatch.setattr(A, "_exchange", lambda a, b: False)
    monkeypatch.setattr(st.os, "replace", second_fails)
    new = labels * 0 if kind == "numpy" else da.from_array(labels * 0, chunks=8)
    with pytest.raises(RuntimeError):
        st.write_volume(s, "v", new, theta=TH, seed=3, voxel_size=0.8, overwrite=True)
    monkeypatch.undo()
    assert len(calls) == 1
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


@pytest.mark.parametrize("shape, chunks", [((18, 20, 22), (8, 8, 8)), ((24, 24, 24), (24, 24, 24)),
                                           ((30, 31, 9), (16, 16, 16))])
def test_direct_local_write_is_zarrs_format(tmp_path, shape, chunks, monkeypatch):
    """In-memory volumes on local stores are written without zarr (storage.volumes._write_local_direct):
    the same files as zarr's own writer (the dask path), chunk bytes identical (same codec,
    edge chunks padded with the fill value), and zarr reads the volume back equal."""
    import dask.array as da
    import zarr

    from vmt_dask.storage import volumes as V

    assert V._array_document(shape, chunks) is not None  # the direct path is taken with this zarr
    calls = []
    real = V._write_local_direct
    monkeypatch.setattr(V, "_write_local_direct", lambda *a, **k: calls.append(1) or real(*a, **k))
    lab = np.random.default_rng(5).integers(0, 3, shape, dtype=np.uint8)
    s = tmp_path / "s.zarr"
    st.write_volume(s, "direct", lab, theta=TH, seed=3, voxel_size=0.8, chunks=chunks)
    st.write_volume(s, "zarr", da.from_array(lab, chunks=chunks), theta=TH, seed=3, voxel_size=0.8, chunks=chunks)
    assert calls == [1]

    def files(key):
        root = s / "volumes" / key
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    a, b = files("direct"), files("zarr")
    assert sorted(a) == sorted(b)
    assert {k: v for k, v in a.items() if k.startswith("c/")} == {k: v for k, v in b.items() if k.startswith("c/")}
    ra, attrs_a = st.read_volume(s, "direct")
    rb, attrs_b = st.read_volume(s, "zarr")
    assert np.array_equal(ra, lab) and np.array_equal(rb, lab)
    assert {k for k in attrs_a if attrs_a[k] != attrs_b[k]} <= {"created"}
    plain = zarr.open_array(str(s / "volumes" / "direct"), mode="r")  # zarr alone, no manifest
    assert np.array_equal(plain[...], lab) and plain.metadata.to_dict() == zarr.open_array(
        str(s / "volumes" / "zarr"), mode="r").metadata.to_dict() | {"attributes": plain.attrs.asdict()}
    assert verify_store(s).ok


def test_direct_write_failure_leaves_nothing(tmp_path, labels, monkeypatch):
    """An error inside the direct write (e.g. ENOSPC on a chunk) removes the temporary and keeps
    the previous volume."""
    import errno

    from vmt_dask.storage import volumes as V

    s = tmp_path / "s.zarr"
    st.write_volume(s, "v", labels, theta=TH, seed=3, voxel_size=0.8, chunks=(8, 8, 8))

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "no space left", "chunk")

    monkeypatch.setattr(V, "_write_local_direct", full)
    with pytest.raises(OSError):
        st.write_volume(s, "v", labels * 0, theta=TH, seed=3, voxel_size=0.8, chunks=(8, 8, 8), overwrite=True)
    monkeypatch.undo()
    assert np.array_equal(st.read_volume(s, "v")[0], labels)
    assert verify_store(s).leftovers == [] and verify_store(s).ok


def test_progress_without_a_terminal_is_plain_lines(tmp_path, labels, capsys):
    """`write_volume(progress=True)` into a log or pipe (not a TTY): plain lines, no carriage
    returns; intermediate lines with the share done and an ETA at most every dt seconds."""
    import io

    import dask
    import dask.array as da

    from vmt_dask.storage.volumes import _LineProgress

    d = da.from_array(labels, chunks=(6, 6, 6))
    st.write_volume(tmp_path / "s.zarr", "p", d, theta=TH, seed=3, voxel_size=0.8, chunks=(6, 6, 6), progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err and "writing volume: done in" in err
    out = io.StringIO()
    with _LineProgress(out, dt=0.0, label="x"):  # every task may print: the format of the lines
        dask.compute(d.map_blocks(lambda b: b + 1), scheduler="synchronous")
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2 and lines[-1].startswith("x: done in")
    assert all(line.startswith("x: ") and " % (" in line and "ETA" in line for line in lines[:-1])
