"""The fidelity benchmark's plumbing on tiny grids (numbers at 401^3 are in docs/fidelity.md)."""
import json

import pytest

from vmt_dask.bench import fidelity


def _args(tmp_path, **kw):
    import argparse

    p = argparse.ArgumentParser()
    fidelity.add_arguments(p)
    argv = ["--presets", "BM01", "--sizes", "16,20", "--seeds", "1", "--skip-conduct",
            "--variants", "centres-6,opening-26", "--json", str(tmp_path / "f.json"),
            "--plot", str(tmp_path / "f.png")]
    for k, v in kw.items():
        argv += [f"--{k.replace('_', '-')}", v]
    return p.parse_args(argv)


def test_fidelity_runs_resumes_and_reports(tmp_path, capsys):
    assert fidelity.run(_args(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "Paper Table 2 vs ours at N=20" in out and "Finite size" in out
    data = json.loads((tmp_path / "f.json").read_text())
    recs = data["structures"]
    assert sorted(r["size"] for r in recs) == [16, 20]
    r = recs[0]
    assert set(r["variants"]["constrictivity_SE"]) == {"centres-6", "opening-26"}
    assert set(r["variants"]["tortuosity_mean_AM"]) == {"neighbourhood-26", "neighbourhood-98"}
    # the opened-set SMIP dominates the centre SMIP, so its beta is never smaller
    for rec in recs:
        for ph in ("AM", "SE"):
            v = rec["variants"][f"constrictivity_{ph}"]
            assert v["opening-26"] >= v["centres-6"] - 1e-12
            # the default column is the library default (opened set, 26-neighbourhood)
            assert rec["values"][f"constrictivity_{ph}"] == pytest.approx(v["opening-26"])
    assert (tmp_path / "f.png").stat().st_size > 1000
    # resumed: nothing left to compute
    assert fidelity.run(_args(tmp_path)) == 0
    assert "0 structure(s) to compute, 2 already" in capsys.readouterr().out


def test_fidelity_bad_options(tmp_path):
    with pytest.raises(SystemExit, match="unknown variant"):
        fidelity.run(_args(tmp_path, variants="nope"))
    with pytest.raises(SystemExit, match="preset"):
        fidelity.run(_args(tmp_path, presets="BM99"))
    with pytest.raises(SystemExit, match="sizes"):
        fidelity.run(_args(tmp_path, sizes="0"))


def test_database_rows_against_section_3_2(monkeypatch, tmp_path):
    # A synthetic results set: 10 structures, constrictivity_AM 0.0..0.9 -> share inside
    # [0.85, 1] = 1/10; m_factor_SE 0.05..0.14 -> inside [0.06, 0.20] = 9/10.
    import numpy as np
    import xarray as xr

    import vmt_dask.study as study

    ds = xr.Dataset({"constrictivity_AM": ("structure", np.arange(10) / 10),
                     "m_factor_SE": ("structure", 0.05 + np.arange(10) / 100)})
    monkeypatch.setattr(study, "open_results", lambda store: ds)
    rows = {r["quantity"]: r for r in fidelity.database_rows(str(tmp_path))}
    assert rows["constrictivity_AM"]["inside %"] == "10" and rows["constrictivity_AM"]["in bulk %"] == "10"
    assert rows["m_factor_SE"]["inside %"] == "90"
    assert rows["constrictivity_AM"]["median"] == "0.450" and rows["m_factor_SE"]["n"] == 10
