import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vmt_dask.cli import main
from vmt_dask.store import read_volume


def tree_digest(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        h.update(str(p.relative_to(path)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def test_generate_and_info(tmp_path, capsys):
    s = tmp_path / "s.zarr"
    assert main(["generate", "--preset", "BM03", "--size", "16,18,20", "--seed", "4",
                 "--out", str(s), "--voxel-size", "0.8"]) == 0
    arr, attrs = read_volume(s, "BM03-16x18x20-s4")
    assert arr.shape == (16, 18, 20) and attrs["seed"] == 4
    capsys.readouterr()
    assert main(["info", str(s), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["BM03-16x18x20-s4"]
    assert main(["info", str(s)]) == 0
    assert "SE" in capsys.readouterr().out


@pytest.mark.parametrize("args, fragment", [
    (["--theta", "1,2,3"], "theta needs 7 values"),
    (["--theta", "0.1,0.1,0,0.1,1,1,1"], "alpha_x must be > 0"),
    (["--theta", "0.1,0.1,0.1,0.1,1,1,abc"], "abc"),
    (["--preset", "BM99"], "BM99"),
    (["--preset", "BM01", "--size", "0"], "--size '0'"),
    (["--preset", "BM01", "--size", "4,4"], "--size '4,4'"),
    (["--preset", "BM01", "--seed", "-3"], "--seed -3"),
    (["--preset", "BM01", "--voxel-size", "-1"], "--voxel-size -1"),
    (["--preset", "BM01", "--name", "a/b"], "a/b"),
    (["--preset", "BM01", "--name", "existing"], "already exists"),
])
def test_bad_input_exit_2_and_store_untouched(tmp_path, capsys, args, fragment):
    s = tmp_path / "s.zarr"
    assert main(["generate", "--preset", "BM03", "--size", "8", "--seed", "1", "--out", str(s),
                 "--name", "existing", "--voxel-size", "0.8"]) == 0
    before = tree_digest(s)
    base = {"--size": "8", "--seed": "1", "--out": str(s)}
    argv = ["generate"] + args
    for k, v in base.items():
        if k not in args:
            argv += [k, v]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1
    assert tree_digest(s) == before


def test_unwritable_store(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["generate", "--preset", "BM01", "--size", "8", "--seed", "1",
                 "--out", str(blocker / "s.zarr")]) == 2
    assert "not writable" in capsys.readouterr().err


def test_overwrite(tmp_path):
    s = tmp_path / "s.zarr"
    common = ["generate", "--size", "10", "--seed", "1", "--out", str(s), "--name", "v", "--voxel-size", "0.8"]
    assert main(common + ["--preset", "BM01"]) == 0
    a = read_volume(s, "v")[0]
    assert main(common + ["--preset", "BM10"]) == 2
    assert main(common + ["--preset", "BM10", "--overwrite"]) == 0
    b, attrs = read_volume(s, "v")
    assert attrs["theta"][4] == 1.0 and not np.array_equal(a, b)


def test_console_script_runs(tmp_path):
    exe = Path(sys.executable).with_name("vmt")
    r = subprocess.run([str(exe), "info", str(tmp_path / "none.zarr")], capture_output=True, text=True)
    assert r.returncode == 2 and "no such store" in r.stderr


def test_long_run_refused_before_work(tmp_path, capsys):
    """--size 5000 passes the memory check (tiled) but would run for hours: exit 2, one line
    naming the value and the flag, nothing created."""
    s = tmp_path / "s.zarr"
    assert main(["generate", "--preset", "BM01", "--size", "5000", "--seed", "1", "--out", str(s)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--size 5000" in err and "--allow-long" in err and " h " in err
    assert not s.exists()


def test_max_minutes_and_allow_long(tmp_path, capsys):
    s = tmp_path / "s.zarr"
    common = ["generate", "--preset", "BM03", "--size", "12", "--seed", "1", "--out", str(s),
              "--voxel-size", "0.8", "--max-minutes", "1e-9"]
    assert main(common) == 2
    assert "--max-minutes 1e-09" in capsys.readouterr().err
    assert not s.exists()
    assert main(common + ["--allow-long"]) == 0
    assert "time estimate" in capsys.readouterr().err
    assert main(["generate", "--preset", "BM03", "--size", "8", "--seed", "1", "--out", str(s),
                 "--max-minutes", "-1"]) == 2
    assert "--max-minutes -1" in capsys.readouterr().err
