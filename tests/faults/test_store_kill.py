"""Kill points during store writes, disk full, and atomic outputs.

A child process writes and SIGKILLs itself at an injected point; the parent checks that the
previous state is still readable (or, exactly between the two renames of an overwrite,
absent and restored by the next writer), that nothing half-written is visible, and that
:func:`clean_store` removes the leftovers.
"""
import errno
import os
import subprocess
import sys
import textwrap

import fsspec
import numpy as np
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from vmt_dask import storage as S
from vmt_dask.model import CALIBRATED, realize

TH = CALIBRATED["BM10"]


@pytest.fixture(scope="module")
def labels():
    return realize(TH, (16, 16, 24), seed=9, voxel_size=0.5)


def _write(s, key, arr, **kw):
    return S.write_volume(s, key, arr, theta=TH, seed=9, voxel_size=0.5, chunks=(8, 8, 8), **kw)


_CHILD = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    import vmt_dask.storage.atomic as A
    import vmt_dask.storage.records as R
    import vmt_dask.storage.volumes as V
    from vmt_dask import storage as S
    from vmt_dask.model import CALIBRATED

    store, point, npy = sys.argv[1], sys.argv[2], sys.argv[3]
    die = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    if point == "mid-chunks":
        real, n = V._write_region, [0]
        def region(*a):
            n[0] += 1
            if n[0] == 3:
                die()
            return real(*a)
        V._write_region = region
    elif point == "before-manifest":
        V.write_file_atomic = die
    elif point == "before-rename":
        V.replace_dir = die
    elif point == "after-exchange":
        import shutil
        shutil.rmtree = die                  # swapped in, old volume not yet removed
    elif point == "between-renames":
        A._exchange = lambda a, b: False     # the portable two-rename path
        real_replace = os.replace
        def replace(src, dst):
            if os.path.basename(str(src)).startswith(".tmp-") and os.path.basename(str(dst)) == "v":
                die()
            return real_replace(src, dst)
        os.replace = replace
    elif point == "record-before-rename":
        real_replace = os.replace
        def replace(src, dst):
            if str(dst).endswith("x.json"):
                die()
            return real_replace(src, dst)
        os.replace = replace
        R.write_record(store, "records/r/x.json", {"version": 2})
    elif point == "atomic-file":
        with A.atomic_path(os.path.join(store, "out.csv")) as tmp:
            with open(tmp, "w") as fh:
                fh.write("new,partial")
                fh.flush()
                die()
    elif point == "atomic-dir":
        import zarr
        with A.atomic_path(os.path.join(store, "regression")) as tmp:
            g = zarr.open_group(str(tmp), mode="w")
            g.create_array("m1", shape=(3,), dtype="f8")[:] = [9, 9, 9]
            die()
    if point.startswith(("mid", "before", "between", "after")):
        import dask
        import dask.array as da
        arr = da.from_array(np.load(npy), chunks=(8, 8, 8))
        with dask.config.set(scheduler="synchronous"):
            S.write_volume(store, "v", arr, theta=CALIBRATED["BM10"], seed=1, voxel_size=0.5,
                           chunks=(8, 8, 8), overwrite=True)
    print("not killed")
""")


def _run_child(store, point, npy):
    out = subprocess.run([sys.executable, "-c", _CHILD, str(store), point, str(npy)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == -9, (out.returncode, out.stdout, out.stderr[-2000:])


@pytest.mark.parametrize("point", ["mid-chunks", "before-manifest", "before-rename", "after-exchange",
                                   "between-renames"])
def test_killed_overwrite_keeps_previous_volume(tmp_path, labels, point):
    s = tmp_path / "s.zarr"
    _write(s, "v", labels)
    _write(s, "v-2", labels)                      # a neighbour with a longer key
    np.save(tmp_path / "new.npy", 2 - labels)
    _run_child(s, point, tmp_path / "new.npy")
    rep = S.verify_store(s)
    assert rep.leftovers and rep.ok, rep.lines()  # hidden leftovers only, nothing damaged visible
    if point == "between-renames":
        # the old volume is aside (".old-v-<token>"), "v" reads as absent until a writer recovers
        assert not S.volume_exists(s, "v") and S.volume_exists(s, "v-2")
    expected = 2 - labels if point == "after-exchange" else labels   # swapped in: the new one is complete
    if point != "between-renames":
        assert np.array_equal(S.read_volume(s, "v")[0], expected)
    with S.acquire_lease(s, owner="next run", heartbeat=False) as lease:
        done = S.clean_store(s, lease, older_than=float("inf"))
    assert done
    rep = S.verify_store(s)
    assert rep.ok and rep.leftovers == [] and rep.volumes_ok == ["v", "v-2"], rep.lines()
    assert np.array_equal(S.read_volume(s, "v")[0], expected)
    assert np.array_equal(S.read_volume(s, "v-2")[0], labels)


def test_killed_record_write_keeps_previous_record(tmp_path):
    s = tmp_path / "s"
    S.write_record(s, "records/r/x.json", {"version": 1})
    _run_child(s, "record-before-rename", tmp_path / "unused.npy")
    assert S.read_record(s, "records/r/x.json") == {"version": 1}
    (left,) = S.verify_store(s).leftovers
    assert left.startswith("records/r/.tmp-") and left.endswith("-x.json")


def test_atomic_file_output_survives_a_kill(tmp_path):
    (tmp_path / "out.csv").write_text("old,complete\n")
    _run_child(tmp_path, "atomic-file", tmp_path / "unused.npy")
    assert (tmp_path / "out.csv").read_text() == "old,complete\n"
    with S.atomic_path(tmp_path / "out.csv") as tmp:
        tmp.write_text("new,complete\n")
    assert (tmp_path / "out.csv").read_text() == "new,complete\n"


def test_atomic_group_output_survives_a_kill(tmp_path):
    import zarr

    g = zarr.open_group(str(tmp_path / "regression"), mode="w")
    g.create_array("m1", shape=(3,), dtype="f8")[:] = [1, 2, 3]
    _run_child(tmp_path, "atomic-dir", tmp_path / "unused.npy")
    assert list(zarr.open_group(str(tmp_path / "regression"), mode="r")["m1"][:]) == [1, 2, 3]
    with S.atomic_path(tmp_path / "regression") as tmp:
        zarr.open_group(str(tmp), mode="w").create_array("m1", shape=(2,), dtype="f8")[:] = [5, 6]
    assert list(zarr.open_group(str(tmp_path / "regression"), mode="r")["m1"][:]) == [5, 6]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".old-")) == []


def test_atomic_output_error_keeps_old_and_removes_temporary(tmp_path):
    (tmp_path / "report.html").write_text("old")
    with pytest.raises(RuntimeError):
        with S.atomic_path(tmp_path / "report.html") as tmp:
            tmp.write_text("half")
            raise RuntimeError("renderer failed")
    assert (tmp_path / "report.html").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


# ------------------------------------------------------------------------ disk full
class QuotaMemoryFS(MemoryFileSystem):
    """An in-memory filesystem that refuses writes past ``QUOTA`` bytes with ENOSPC."""

    protocol = ("quotamem",)
    root_marker = "/"
    store: dict = {}
    pseudo_dirs = [""]
    QUOTA = 0

    def _used(self):
        return sum(len(f.getbuffer()) for f in self.store.values())

    def pipe_file(self, path, value, mode="overwrite", **kwargs):
        path = self._strip_protocol(path)
        old = len(self.store[path].getbuffer()) if path in self.store else 0
        if self._used() - old + len(value) > self.QUOTA:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return super().pipe_file(path, value, mode=mode, **kwargs)


fsspec.register_implementation("quotamem", QuotaMemoryFS, clobber=True)


def test_disk_full_on_object_store(labels):
    QuotaMemoryFS.store.clear()
    QuotaMemoryFS.pseudo_dirs[:] = [""]
    QuotaMemoryFS.QUOTA = 10 ** 9
    s = "quotamem://full"
    _write(s, "keep", labels)
    S.write_record(s, "records/r/x.json", {"version": 1})
    used = QuotaMemoryFS(skip_instance_cache=True)._used()
    QuotaMemoryFS.QUOTA = used + 3000               # room for a few chunks, not a volume
    with pytest.raises(OSError) as ei:
        _write(s, "new", labels)
    assert ei.value.errno == errno.ENOSPC
    with pytest.raises(OSError):
        S.write_record(s, "records/r/x.json", {"version": 2, "pad": "x" * 5000})
    assert S.read_record(s, "records/r/x.json") == {"version": 1}
    assert np.array_equal(S.read_volume(s, "keep")[0], labels)
    rep = S.verify_store(s)
    assert rep.volumes_ok == ["keep"] and rep.volumes_incomplete == ["new"], rep.lines()
    with pytest.raises(KeyError):
        S.read_volume(s, "new")
    QuotaMemoryFS.QUOTA = 10 ** 9                   # space freed: the rerun completes it
    _write(s, "new", labels)
    assert S.verify_store(s).ok


@pytest.fixture
def tiny_tmpfs(tmp_path):
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_disk_full_on_local_tmpfs(tiny_tmpfs):
    """ENOSPC on a real 256 KiB filesystem: an OSError, the old volume and records intact,
    and no temporary left behind (the space is given back)."""
    s = tiny_tmpfs / "s.zarr"
    small = realize(TH, (8, 8, 8), seed=1, voxel_size=0.5)
    _write(s, "keep", small)
    S.write_record(s, "records/r/x.json", {"version": 1})
    free_before = os.statvfs(tiny_tmpfs).f_bavail
    rng = np.random.default_rng(0)
    big = rng.integers(0, 3, size=(96, 96, 96), dtype=np.uint8)  # ~220 KB compressed: does not fit
    with pytest.raises(OSError) as ei:
        _write(s, "keep", big, overwrite=True)
    assert ei.value.errno == errno.ENOSPC
    assert np.array_equal(S.read_volume(s, "keep")[0], small)
    assert S.read_record(s, "records/r/x.json") == {"version": 1}
    assert S.verify_store(s).leftovers == []
    assert os.statvfs(tiny_tmpfs).f_bavail == free_before
