"""Issue 18 (Resources, Messages) for generate / describe / conduct / info: memory estimated up
front and refused with the figure (``--force`` tries anyway); disk full, read-only or missing
paths, overflowing numbers and ``--out ""`` give one line and exit 2, never a traceback."""
from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest

from vmt_dask import resources
from vmt_dask.cli import main


def _run(capsys, *argv):
    rc = main([*map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line(rc, err, code=2):
    assert rc == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def small_npy(tmp_path):
    lab = np.zeros((8, 9, 10), np.uint8)
    lab[:, :4, :] = 1
    lab[:3, 4:, :] = 2
    p = tmp_path / "small.npy"
    np.save(p, lab)
    return p


def test_estimates_are_linear_in_voxels_and_name_the_kernel():
    a = resources.estimate_bytes("conduct", (100, 100, 100))
    b = resources.estimate_bytes("conduct", (200, 100, 100))
    per = resources.BYTES_PER_VOXEL["conduct"] + resources.INPUT_BYTES_PER_VOXEL
    assert b - a == pytest.approx(per * 10**6, abs=1)
    # the 700^3 conduct: > 10 GB by the measured 27 B/voxel slope alone
    assert resources.estimate_bytes("conduct", (700,) * 3) > 27 * 700**3
    with pytest.raises(ValueError, match="kernel 'fft'"):
        resources.estimate_bytes("fft", 10)
    assert resources.parse_bytes("2GiB") == 2 * 2**30 and resources.parse_bytes("500MB") == 5 * 10**8
    with pytest.raises(ValueError, match="VMT_MEMORY_LIMIT"):
        resources.parse_bytes("lots")


def test_memory_limit_env_caps_available(monkeypatch):
    monkeypatch.setenv(resources.MEMORY_LIMIT_ENV, "123MB")
    assert resources.available_bytes() <= 123 * 10**6
    monkeypatch.setenv(resources.MEMORY_LIMIT_ENV, "-1")
    with pytest.raises(ValueError, match="VMT_MEMORY_LIMIT"):
        resources.available_bytes()


def test_generate_huge_size_refused_before_allocating(tmp_path, capsys):
    """`vmt generate --size 100000` grew memory without writing; now refused up front."""
    import resource

    store = tmp_path / "huge.zarr"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rc, _, err = _run(capsys, "generate", "--preset", "BM01", "--size", "100000", "--seed", "1",
                      "--out", store)
    line = _one_line(rc, err)
    assert "needs about" in line and "TiB of memory" in line and "--force" in line
    assert not store.exists()
    # nothing of the volume was allocated: the peak grew by far less than one 512^3 tile
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 512**3 // 1024
    rc, _, err = _run(capsys, "generate", "--preset", "BM01", "--size", "10000000", "--seed", "1",
                      "--out", store)
    assert "more than any command handles" in _one_line(rc, err)


def test_generate_memory_limit_and_force(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(resources.MEMORY_LIMIT_ENV, "1MB")
    store = tmp_path / "s.zarr"
    argv = ["generate", "--preset", "BM01", "--size", "12", "--seed", "1", "--out", store,
            "--voxel-size", "0.8"]
    rc, _, err = _run(capsys, *argv)
    line = _one_line(rc, err)
    assert "of memory, but 977 KiB is available" in line and not store.exists()
    rc, _, err = _run(capsys, *argv, "--force")
    assert rc == 0, err


def test_describe_and_conduct_refuse_then_force(small_npy, capsys, monkeypatch):
    monkeypatch.setenv(resources.MEMORY_LIMIT_ENV, "1MB")
    for cmd in ("describe", "conduct", "rev"):
        rc, _, err = _run(capsys, cmd, small_npy, "--phase", "SE")
        line = _one_line(rc, err)
        assert f"vmt {cmd} on a 8x9x10 volume needs about" in line and "--crop" in line
    rc, out, err = _run(capsys, "conduct", small_npy, "--phase", "SE", "--force", "--json")
    assert rc == 0 and json.loads(out)["phases"]["SE"]["m_factor"] == pytest.approx(4 / 9, rel=1e-5)


def test_conduct_700_cubed_refused_before_reading(tmp_path, capsys, monkeypatch):
    """The issue's 700^3 conduct died with MemoryError after 22 s: now refused in no time.

    A sparse raw file stands in for the volume (no disk used; refused before any read).
    """
    p = tmp_path / "big.raw"
    with open(p, "wb") as f:
        f.truncate(700**3)
    need = resources.estimate_bytes("conduct", (700,) * 3)
    monkeypatch.setenv(resources.MEMORY_LIMIT_ENV, str(need - 1))
    rc, _, err = _run(capsys, "conduct", p, "--raw-shape", "700,700,700", "--phase", "SE")
    line = _one_line(rc, err)
    assert "vmt conduct on a 700x700x700 volume needs about" in line
    assert resources.format_bytes(need) in line
    # a crop that fits is accepted (and read lazily from the memory map)
    rc, out, err = _run(capsys, "conduct", p, "--raw-shape", "700,700,700", "--phase", "0",
                        "--crop", "0:8,0:8,0:8", "--json")
    assert rc == 0 and json.loads(out)["phases"]["pore"]["m_factor"] == pytest.approx(1.0, rel=1e-5)


def test_out_empty_and_unwritable(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = ["generate", "--preset", "BM01", "--size", "8", "--seed", "1"]
    rc, _, err = _run(capsys, *base, "--out", "")
    assert "--out '' is empty" in _one_line(rc, err)
    assert list(tmp_path.iterdir()) == []          # nothing written into the current directory
    rc, _, err = _run(capsys, *base, "--out", "/proc/vmt-test.zarr")   # read-only file system
    assert "not writable" in _one_line(rc, err)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc, _, err = _run(capsys, *base, "--out", blocker / "s.zarr")
    assert "not writable" in _one_line(rc, err)


def test_disk_full_is_one_line(tmp_path, capsys, monkeypatch):
    """ENOSPC while writing (a fake full disk): one line naming the reason and the path."""
    import vmt_dask.store as store_mod

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "s.zarr"))

    monkeypatch.setattr(store_mod, "write_volume", full)
    rc, _, err = _run(capsys, "generate", "--preset", "BM01", "--size", "8", "--seed", "1",
                      "--out", tmp_path / "s.zarr")
    # the progress line ("generating ...") comes first; the error is one line after it
    assert rc == 2 and "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith("vmt generate: error:")
    assert "no space left on the device" in line and "s.zarr" in line


def test_read_only_input_and_missing_paths(tmp_path, capsys, monkeypatch, small_npy):
    import vmt_dask.conductivity as cond

    def boom(*a, **k):
        raise MemoryError

    monkeypatch.setattr(cond, "m_factor", boom)
    rc, _, err = _run(capsys, "conduct", small_npy, "--phase", "SE")
    assert "out of memory" in _one_line(rc, err)
    for cmd in ("describe", "conduct", "info"):
        extra = [] if cmd == "info" else ["--phase", "SE"]
        rc, _, err = _run(capsys, cmd, tmp_path / "missing.zarr", *extra)
        assert "no such" in _one_line(rc, err)


@pytest.mark.parametrize("argv, fragment", [
    (["generate", "--preset", "BM01", "--size", "8", "--seed", "99999999999999999999999"], "--seed"),
    (["generate", "--preset", "BM01", "--size", "99999999999999999999", "--seed", "1"], "--size"),
    (["generate", "--preset", "BM01", "--size", "8", "--seed", "1", "--voxel-size", "1e999"],
     "--voxel-size"),
    (["generate", "--preset", "BM01", "--size", "8", "--seed", "1", "--chi2-dof", "1e400"],
     "--chi2-dof"),
    (["generate", "--theta", "1e999,0.1,0.1,0.1,1,1,1", "--size", "8", "--seed", "1"], "theta"),
    (["conduct", "{npy}", "--phase", "SE", "--rtol", "1e-999"], "--rtol"),
    (["describe", "{npy}", "--phase", "99999999999999999999"], "0..4294967295"),
    (["describe", "{npy}", "--phase", "SE", "--crop", "0:99999999999999999999,:,:"], "--crop"),
    (["describe", "{npy}", "--phase", "SE", "--voxel-size", "1e308,1e308,1e999"], "--voxel-size"),
    (["describe", "{raw}", "--phase", "SE", "--raw-shape", "99999999999,99999999999,9"],
     "--raw-shape"),
    (["rev", "{npy}", "--phase", "SE", "--steps", "1e9"], "--steps"),
])
def test_overflowing_numbers_one_line(tmp_path, capsys, small_npy, argv, fragment):
    raw = tmp_path / "v.raw"
    raw.write_bytes(b"\0" * 720)
    argv = [a.format(npy=small_npy, raw=raw) for a in argv]
    if argv[0] == "generate":
        argv += ["--out", str(tmp_path / "s.zarr")]
    rc, _, err = _run(capsys, *argv)
    assert fragment in _one_line(rc, err)


def test_info_on_store_without_provenance(tmp_path, capsys, monkeypatch):
    """A volume group made by another tool (no vmt attributes, no manifest) and an intact
    volume whose attributes lack theta/seed: listed, no traceback."""
    import zarr

    from vmt_dask.model import CALIBRATED
    from vmt_dask.storage import volumes as vols
    from vmt_dask.store import write_volume

    s = tmp_path / "s.zarr"
    write_volume(s, "good", np.zeros((4, 4, 4), np.uint8), theta=CALIBRATED["BM01"], seed=1,
                 voxel_size=0.5)
    g = zarr.open_group(str(s), mode="a")
    a = g.create_array("volumes/foreign", shape=(4, 4, 4), dtype="u1")
    a[...] = 1
    rc, out, err = _run(capsys, "info", s)
    assert rc == 0, err
    assert "good: shape 4x4x4" in out and "foreign: incomplete" in out
    rc, out, _ = _run(capsys, "info", s, "--json")
    data = json.loads(out)
    assert data["foreign"]["state"] == "incomplete" and data["good"]["seed"] == 1
    # an intact volume whose attributes were written without provenance
    real = vols.complete_volumes

    def stripped(store, **kw):
        out = real(store, **kw)
        out["good"].attrs = {"shape": [4, 4, 4]}
        return out

    monkeypatch.setattr(vols, "complete_volumes", stripped)
    rc, out, err = _run(capsys, "info", s)
    assert rc == 0, err
    assert "voxel size not recorded" in out and "no provenance attributes" in out
    # a plain Zarr array (no vmt layout at all) is described as an input
    z = zarr.create_array(str(tmp_path / "plain.zarr"), shape=(4, 5, 6), dtype="u1")
    rc, out, _ = _run(capsys, "info", tmp_path / "plain.zarr")
    assert rc == 0 and "(4, 5, 6)" in out and "not recorded" in out
    del z


def test_refusal_reads_nothing(tmp_path):
    """Refusing a 700^3 memory-mapped .npy must not read it: the child's peak resident memory
    stays below the file's 343 MB (dask's from_array on a raw memmap read it all: 785 MB)."""
    import subprocess
    import sys

    p = tmp_path / "big.npy"
    arr = np.lib.format.open_memmap(p, mode="w+", dtype=np.uint8, shape=(700, 700, 700))
    del arr
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent (pytest)
    code = ("from vmt_dask.cli import main\n"
            f"rc = main(['conduct', {str(p)!r}, '--phase', 'SE'])\n"
            "hwm = next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
            "print(rc, hwm)\n")
    env = {**os.environ, resources.MEMORY_LIMIT_ENV: "4GiB"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=300)
    rc, peak_kib = (int(v) for v in r.stdout.split())
    assert rc == 2 and "needs about" in r.stderr
    assert peak_kib * 1024 < 700**3, peak_kib
