"""vmt_dask.storage: location, sealed records, streamed volumes, reads that never write."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from vmt_dask import storage as S
from vmt_dask.errors import InputError
from vmt_dask.model import CALIBRATED, realize
from vmt_dask.storage.atomic import recover_dir, temp_name
from vmt_dask.storage.integrity import DamagedError, seal, unseal

TH = CALIBRATED["BM03"]


@pytest.fixture(scope="module")
def labels():
    return realize(TH, (18, 20, 22), seed=3, voxel_size=0.8)


def _write(store, key, arr, **kw):
    return S.write_volume(store, key, arr, theta=TH, seed=3, voxel_size=0.8, chunks=(8, 8, 8), **kw)


# ---------------------------------------------------------------- location
def test_resolve_decides_local_once(tmp_path):
    assert S.resolve(tmp_path).local and S.resolve(str(tmp_path)).local
    loc = S.resolve(f"file://{tmp_path}/s")
    assert loc.local and loc.root == f"{tmp_path}/s"
    assert not S.resolve("memory://a/b").local
    assert S.local_path(tmp_path / "x") == tmp_path / "x"
    with pytest.raises(InputError, match="empty"):
        S.resolve("")
    with pytest.raises(InputError, match="nosuchproto"):
        S.resolve("nosuchproto://x")
    with pytest.raises(TypeError):
        S.resolve(3)
    with pytest.raises(InputError, match="not on the local"):
        S.local_path("memory://a")


def test_redact_credentials():
    assert "secret" not in S.redact("s3://user:secret@host/bucket/x")
    assert S.redact("/a@b/c") == "/a@b/c"
    assert "secret" not in S.resolve("memory://u:secret@bucket/x").display()


# ---------------------------------------------------------------- records
def test_seal_roundtrip_and_checksum_last():
    rec = {"b": [1, 2.5, None], "a": float("nan"), "s": "x"}
    data = seal(rec)
    assert data.rstrip().splitlines()[-2].lstrip().startswith(b'"_checksum"')  # last member
    out = unseal(data)
    assert out.keys() == rec.keys() and np.isnan(out["a"]) and out["b"] == [1, 2.5, None]
    assert unseal(seal({})) == {}
    with pytest.raises(ValueError):
        seal({"_checksum": 1})


@pytest.mark.parametrize("bad", [b"", b"{}", b'{"a": 1}', b'{"a": 1, "_checksum": "sha256:00"}', b"[1]"])
def test_unseal_rejects(bad):
    with pytest.raises(DamagedError):
        unseal(bad)


@pytest.mark.parametrize("store", ["local", "memory"])
def test_records_roundtrip_and_listing(tmp_path, store, request):
    s = tmp_path / "s" if store == "local" else f"memory://rec-{request.node.name}"
    S.write_record(s, "records/a/x.json", {"v": 1})
    S.write_record(s, "records/a/y.json", {"v": 2})
    assert S.read_record(s, "records/a/x.json") == {"v": 1}
    assert S.read_record(s, "records/a/missing.json") is None
    assert S.list_records(s) == {"records/a/x.json", "records/a/y.json"}
    intact, damaged = S.read_records(s)
    assert intact == {"records/a/x.json": {"v": 1}, "records/a/y.json": {"v": 2}} and damaged == {}
    if store == "local":
        assert not [p for p in (tmp_path / "s" / "records" / "a").iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------- volumes
@pytest.mark.parametrize("store", ["local", "memory"])
def test_dask_volume_streams_to_any_store(tmp_path, store, request, labels):
    import dask
    import dask.array as da

    s = tmp_path / "s.zarr" if store == "local" else f"memory://vol-{request.node.name}"
    d = da.from_array(labels, chunks=(5, 7, 9))  # misaligned: rechunked to the storage chunks
    with dask.config.set(scheduler="synchronous"):
        attrs = _write(s, "v", d)
    arr, a2 = S.read_volume(s, "v")
    assert np.array_equal(arr, labels) and a2["phase_fractions"] == attrs["phase_fractions"]
    chk = S.check_volume(s, "v", deep=True)
    assert chk.ok and chk.attrs["seed"] == 3
    assert list(S.list_volumes(s)) == ["v"]


def test_dask_write_memory_is_bounded():
    """A 192^3 dask volume streamed to a memory:// store in 64^3 blocks never holds a copy of it.

    Bound: the volume is 7.1 MB; the old remote path copied it whole (>= 7.1 MB at once).
    Streaming holds a few 262 KB blocks plus about 10 KB of graph and store objects per
    block (27 blocks, measured); we require the traced peak to stay under a quarter of the
    volume.  The volume is constant (it compresses to almost
    nothing), so the memory filesystem's own content does not count; a first small write
    loads every lazily imported module, which tracemalloc would count too.
    """
    import tracemalloc

    import dask
    import dask.array as da

    with dask.config.set(scheduler="synchronous"):
        for n in (64, 192):
            d = da.ones((n, n, n), dtype=np.uint8, chunks=64) * 2
            tracemalloc.start()
            S.write_volume("memory://bounded", f"v{n}", d, theta=TH, seed=0, voxel_size=1.0, chunks=(64, 64, 64))
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
    assert peak < n ** 3 / 4, peak
    arr, attrs = S.read_volume("memory://bounded", "v192")
    assert attrs["phase_fractions"]["AM"] == 1.0 and arr.min() == 2


def test_voxel_size_triple_is_kept(tmp_path, labels):
    a = S.write_volume(tmp_path / "s", "v", labels, theta=TH, seed=1, voxel_size=(0.4, 0.4, 0.8))
    assert a["voxel_size"] == [0.4, 0.4, 0.8]
    assert S.read_volume(tmp_path / "s", "v")[1]["voxel_size"] == [0.4, 0.4, 0.8]


def test_incomplete_volume_is_absent(tmp_path, labels):
    s = tmp_path / "s.zarr"
    _write(s, "v", labels)
    os.unlink(s / "volumes" / "v" / "vmt-manifest.json")
    assert not S.volume_exists(s, "v") and S.check_volume(s, "v").state == "incomplete"
    with pytest.raises(KeyError):
        S.open_volume(s, "v")
    assert S.list_volumes(s) == {}
    _write(s, "v", labels)  # no overwrite needed: an incomplete volume is repaired
    assert S.volume_exists(s, "v")


# ---------------------------------------------------------------- reads never write
_NO_WRITES = """
import builtins, os, shutil, sys
def _deny(name):
    def f(*a, **k):
        raise AssertionError(f"reader called {name}{a}")
    return f
for name in ("replace", "rename", "unlink", "remove", "rmdir", "link", "mkdir", "makedirs"):
    setattr(os, name, _deny("os." + name))
shutil.rmtree = _deny("shutil.rmtree")
_open = builtins.open
def guarded_open(file, mode="r", *a, **k):
    if any(c in mode for c in "wax+"):
        raise AssertionError(f"reader opened {file} with {mode}")
    return _open(file, mode, *a, **k)
builtins.open = guarded_open
"""


def test_reads_never_write(tmp_path, labels):
    """Every read API on a store with leftovers of a killed overwrite performs no write."""
    s = tmp_path / "s.zarr"
    _write(s, "a", labels)
    _write(s, "a-b", labels)
    # a writer killed between its two renames of "a-b": the old copy is aside, "a-b" absent
    base = s / "volumes"
    os.replace(base / "a-b", base / temp_name("a-b", "old"))
    S.write_record(s, "records/r/x.json", {"x": 1})
    code = _NO_WRITES + textwrap.dedent(f"""
        from vmt_dask import storage as S
        s = {str(s)!r}
        assert sorted(S.list_volumes(s)) == ["a"]
        assert S.volume_exists(s, "a") and not S.volume_exists(s, "a-b")
        S.read_volume(s, "a")
        try:
            S.open_volume(s, "a-b")
        except KeyError:
            pass
        else:
            raise AssertionError("a-b visible")
        S.check_volume(s, "a", deep=True)
        assert S.read_record(s, "records/r/x.json") == {{"x": 1}}
        rep = S.verify_store(s)
        assert rep.volumes_ok == ["a"] and rep.leftovers, rep.lines()
        S.read_lease(s)
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]
    # the store is exactly as left: the reader restored nothing
    assert not (base / "a-b").exists()


def test_prefix_collision_old_leftovers_parsed_exactly(tmp_path, labels):
    """The leftover of key 'a-b' is never taken for key 'a' (the old glob '.old-a-*' did)."""
    s = tmp_path / "s.zarr"
    _write(s, "a-b", labels)
    base = s / "volumes"
    old = base / temp_name("a-b", "old")
    os.replace(base / "a-b", old)           # killed between renames of an overwrite of "a-b"
    assert not recover_dir(base / "a")      # recovering "a" leaves "a-b"'s leftover alone
    assert not (base / "a").exists() and old.exists()
    _write(s, "a", labels * 0)              # writing "a" does not pick it up either
    assert np.array_equal(S.read_volume(s, "a")[0], labels * 0)
    assert old.exists() and not S.volume_exists(s, "a-b")
    assert recover_dir(base / "a-b")        # the right writer restores it
    assert np.array_equal(S.read_volume(s, "a-b")[0], labels)
    assert sorted(S.list_volumes(s)) == ["a", "a-b"]


_RACE_WRITER = """
import sys, numpy as np
from vmt_dask import storage as S
from vmt_dask.model import CALIBRATED
s, n = sys.argv[1], int(sys.argv[2])
a = np.load(sys.argv[3])
for i in range(n):
    S.write_volume(s, "v", a if i % 2 else (2 - a), theta=CALIBRATED["BM03"], seed=i, voxel_size=0.8,
                   chunks=(8, 8, 8), overwrite=True)
print("writer done")
"""


def test_reader_writer_race(tmp_path, labels):
    """A reader polling a volume while a writer overwrites it 12 times: the writer never fails
    (readers no longer rename anything) and every read is one of the two versions in full or
    absent/damaged (KeyError), never a mix and never zeros."""
    s = tmp_path / "s.zarr"
    np.save(tmp_path / "a.npy", labels)
    _write(s, "v", labels)
    versions = (labels, 2 - labels)
    proc = subprocess.Popen([sys.executable, "-c", _RACE_WRITER, str(s), "12", str(tmp_path / "a.npy")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reads = absent = 0
    while proc.poll() is None:
        try:
            arr, _ = S.read_volume(s, "v")
        except KeyError:
            absent += 1
            continue
        assert any(np.array_equal(arr, v) for v in versions)
        reads += 1
        S.list_volumes(s)
    out, err = proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    assert reads > 0
    rep = S.verify_store(s)
    assert rep.ok and rep.leftovers == [], rep.lines()


def test_non_durable_writes_skip_fsync_and_stay_verified(tmp_path, labels, monkeypatch):
    """durable=False (a study's recomputable records and volumes) writes without any fsync; what
    is written is the same sealed record / manifest-checked volume, and damage is still found."""
    store = str(tmp_path / "s.zarr")
    S.write_record(store, "records/a.json", {"x": 1})  # creates the store before fsync is forbidden

    def no_fsync(fd):
        raise AssertionError("fsync called")

    monkeypatch.setattr(os, "fsync", no_fsync)
    S.write_record(store, "records/b.json", {"x": 2}, durable=False)
    S.write_volume(store, "v", labels, theta=CALIBRATED["BM01"], seed=1, voxel_size=0.2, durable=False)
    monkeypatch.undo()
    assert S.read_record(store, "records/b.json") == {"x": 2}
    np.testing.assert_array_equal(S.read_volume(store, "v")[0], labels)
    path = tmp_path / "s.zarr" / "records" / "b.json"
    path.write_bytes(path.read_bytes()[:-5])  # a torn record (what a power cut may leave)
    assert S.read_record(store, "records/b.json") is None
