"""``vmt regress`` and ``vmt report`` on a Zarr store holding a results Dataset."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import xarray as xr

from vmt_dask.cli import main
from vmt_dask.regression.synthetic import synthetic_results


@pytest.fixture()
def store(tmp_path):
    path = tmp_path / "study.zarr"
    ds = synthetic_results(2, seed=1).copy(deep=True)
    m = ds["m_factor_SE"].values
    m[5] = 0.0  # one non-percolating SE phase
    ds["m_factor_SE"] = ("structure", m)
    ds.to_zarr(path, group="results", mode="w", consolidated=False)
    return path


def test_regress_prints_stores_and_reports_exclusions(store, capsys):
    assert main(["regress", str(store), "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "M4" in out and "SE MAPE" in out
    assert "structure 5" in out and "does not percolate" in out
    reg = xr.open_zarr(store, group="regression", consolidated=False).load()
    assert reg.sizes["phase"] == 2 and reg.sizes["model"] == 4
    assert reg.attrs["seed"] == 2
    assert int(reg["n_excluded"].sel(phase="SE", model="M1")) == 1
    assert "does not percolate" in str(reg["exclusion_reason"].sel(phase="SE", model="M1", structure=5).values)
    assert np.isnan(reg["predicted"].sel(phase="SE", model="M3", structure=5))
    # the results group is untouched
    assert "m_factor_SE" in xr.open_zarr(store, group="results", consolidated=False)
    csv = store.parent / "study-regression.csv"
    md = store.parent / "study-regression.md"
    assert csv.read_text().startswith("phase,model,formula,c1")
    assert "| model |" in md.read_text()


def test_regress_json(store, capsys):
    assert main(["regress", str(store), "--json", "--no-save"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["table"]) == 8
    assert data["fits"]["SE M1"]["excluded"][0]["position"] == 5
    assert data["written"] == {}
    assert not os.path.exists(store.parent / "study-regression.csv")


def test_regress_bad_store(tmp_path, capsys):
    assert main(["regress", str(tmp_path / "nope.zarr")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["regress", str(tmp_path / "empty")]) == 2
    assert "holds no study results" in capsys.readouterr().err


def test_report_cli(store, tmp_path, capsys):
    out = tmp_path / "rep"
    # Slices of the calibrated structures are tested in tests/report (the
    # model's padded fields make even tiny realizations cost seconds).
    assert main(["report", str(store), "--out", str(out), "--no-slices"]) == 0
    text = capsys.readouterr().out
    assert f"report: {out / 'report.html'}" in text
    assert "structure 5" in text  # exclusions are printed
    assert len(list((out / "figures").glob("*.png"))) == 4
    assert (out / "regression.csv").stat().st_size > 0
