"""Bad arguments are refused before the heavy imports (fresh-eyes finding, session 8: `vmt generate`
imported dask, numba and zarr, 1.5-9 s, before saying that --size was bad).  Each case runs the
CLI in a fresh interpreter and lists the heavy packages loaded by the time the error is printed."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("dask", "distributed", "numba", "zarr", "xarray", "pandas", "scipy")
PROBE = ("import json, sys\n"
         "from vmt_dask.cli import main\n"
         "rc = main(sys.argv[1:])\n"
         f"print(json.dumps([rc, [m for m in {HEAVY!r} if m in sys.modules]]))\n")


@pytest.mark.parametrize("argv, needle", [
    (["generate", "--preset", "BM01", "--size", "abc", "--seed", "1", "--out", "x.zarr"], "--size 'abc'"),
    (["generate", "--preset", "BM99", "--size", "16", "--seed", "1", "--out", "x.zarr"], "--preset 'BM99'"),
    (["generate", "--theta", "1,1,1,1,-1,1,1", "--size", "16", "--seed", "1", "--out", "x.zarr"],
     "theta.a must be > 0"),
    (["study", "run", "--preset", "smoke", "--store", "s.zarr", "--workers", "0"], "--workers must be >= 1"),
    (["regress", "missing.zarr"], "store 'missing.zarr' does not exist"),
    (["report", "missing.zarr", "--out", "r"], "store 'missing.zarr' does not exist"),
])
def test_bad_arguments_fail_before_heavy_imports(argv, needle, tmp_path):
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    rc, heavy = json.loads(done.stdout.strip().splitlines()[-1])
    err = done.stderr.strip().splitlines()
    assert rc == 2 and len(err) == 1 and needle in err[0], (rc, err)
    assert heavy == [], f"{argv[0]} loaded {heavy} before refusing its arguments"
    assert not any(tmp_path.iterdir())  # nothing created
