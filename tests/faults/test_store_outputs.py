"""Atomic outputs of ``vmt regress``: a killed rewrite of the regression group keeps the old one.

Before: the group was written in place with ``mode="w"`` (old table deleted first), so a kill
left a group that opened as a valid Dataset with 5 of 17 variables.
"""
import subprocess
import sys
import textwrap

import numpy as np
import xarray as xr

from vmt_dask import storage as S

N_VARS = 17


def _dataset(value: float) -> xr.Dataset:
    return xr.Dataset({f"var{i:02d}": ("model", np.full(4, value + i)) for i in range(N_VARS)},
                      coords={"model": [1, 2, 3, 4]})


_CHILD = textwrap.dedent("""
    import os, signal, sys
    import numpy as np, xarray as xr, zarr
    from vmt_dask.storage import atomic_group
    store = sys.argv[1]
    real, n = zarr.storage.LocalStore.set, [0]
    async def set_then_die(self, key, value):
        await real(self, key, value)
        n[0] += 1
        if n[0] == 12:                      # a few variables into the new group
            os.kill(os.getpid(), signal.SIGKILL)
    zarr.storage.LocalStore.set = set_then_die
    ds = xr.Dataset({f"var{i:02d}": ("model", np.full(4, 100.0 + i)) for i in range(17)},
                    coords={"model": [1, 2, 3, 4]})
    with atomic_group(store, "regression") as target:
        ds.to_zarr(target, mode="w", consolidated=False)
    print("not killed")
""")


def test_killed_regression_rewrite_keeps_old_group(tmp_path):
    import zarr

    store = tmp_path / "study.zarr"
    zarr.open_group(str(store), mode="w")                      # the study store's root group
    with S.atomic_group(store, "regression") as target:
        _dataset(1.0).to_zarr(target, mode="w", consolidated=False)
    out = subprocess.run([sys.executable, "-c", _CHILD, str(store)], capture_output=True, text=True, timeout=300)
    assert out.returncode == -9, out.stderr[-2000:]
    ds = xr.open_zarr(str(store), group="regression", consolidated=False)
    assert len(ds.data_vars) == N_VARS and float(ds["var03"][0]) == 4.0
    # the next successful write replaces it and removes the killed run's temporary on cleaning
    with S.atomic_group(store, "regression") as target:
        _dataset(2.0).to_zarr(target, mode="w", consolidated=False)
    ds = xr.open_zarr(str(store), group="regression", consolidated=False)
    assert len(ds.data_vars) == N_VARS and float(ds["var03"][0]) == 5.0
    with S.acquire_lease(store, owner="t", heartbeat=False) as lease:
        S.clean_store(store, lease, older_than=float("inf"))
    assert [p.name for p in store.iterdir() if p.name.startswith(".")] == []


def test_write_output_local_and_remote(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("old")
    S.write_output(p, b"new")
    assert p.read_text() == "new" and [q.name for q in tmp_path.iterdir()] == ["t.csv"]
    S.write_output("memory://outputs/t.md", b"# x")
    import fsspec

    assert fsspec.filesystem("memory").cat_file("/outputs/t.md") == b"# x"
