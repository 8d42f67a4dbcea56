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


def test_m_factors_added_later_to_the_same_realization(tmp_path, capsys):
    # first run without M-factors, second adds them: the volume is regenerated from its seed
    # (the record's volume fractions are checked to the voxel) and only the two solves run
    from vmt_dask.conductivity import m_factor
    from vmt_dask.model import CALIBRATED, realize

    args = _args(tmp_path, sizes="16")
    assert fidelity.run(args) == 0
    rec = json.loads((tmp_path / "f.json").read_text())["structures"][0]
    assert "m_factor_SE" not in rec["values"] and rec["generator"] != "default" and rec["commit"]
    args.skip_conduct = False
    assert fidelity.run(args) == 0
    out = capsys.readouterr().out
    assert "0 structure(s) to compute, 1 already in" in out and "(1 of them to complete with M-factors)" in out
    rec2 = json.loads((tmp_path / "f.json").read_text())["structures"][0]
    labels = realize(CALIBRATED["BM01"], (16, 16, 16), seed=1, voxel_size=0.2, generator=rec["generator"])
    for code, ph in ((1, "SE"), (2, "AM")):
        assert rec2["values"][f"m_factor_{ph}"] == pytest.approx(m_factor(labels == code, axis=2).m_factor,
                                                                 rel=1e-12)
        assert rec2["values"][f"constrictivity_{ph}"] == rec["values"][f"constrictivity_{ph}"]


def test_voxel_size_is_part_of_a_structure_s_identity(tmp_path, capsys):
    assert fidelity.run(_args(tmp_path, sizes="16")) == 0
    assert fidelity.run(_args(tmp_path, sizes="16", voxel_size="0.4")) == 0
    out = capsys.readouterr().out
    assert "1 structure(s) to compute, 1 already" in out
    recs = json.loads((tmp_path / "f.json").read_text())["structures"]
    assert sorted(r["voxel_size"] for r in recs) == [0.2, 0.4]
    # 16^3 x 0.4 um is compared with the 0.2 um reference grid
    assert "Grids against 16^3 x 0.2 um" in out and "16^3 x 0.4 um" in out


def test_grid_rows_bias_and_rmse():
    # reference (401, 0.2): mean 0.50; candidate (64, 0.2): 0.40, 0.60, 0.50 -> mean 0.50,
    # sd 0.10 (ddof 1), bias 0, rmse 0.10; candidate (64, 0.4): 0.7, 0.7 -> bias +0.2, rmse 0.2
    def rec(n, h, seed, v):
        return {"preset": "BM01", "size": n, "voxel_size": h, "seed": seed,
                "values": {"volume_fraction_SE": v}}

    recs = [rec(401, 0.2, 1, 0.49), rec(401, 0.2, 2, 0.51),
            rec(64, 0.2, 1, 0.4), rec(64, 0.2, 2, 0.6), rec(64, 0.2, 3, 0.5),
            rec(64, 0.4, 1, 0.7), rec(64, 0.4, 2, 0.7)]
    rows = {r["grid"]: r for r in fidelity.grid_rows(recs, 401)}
    assert set(rows) == {"64^3 x 0.2 um", "64^3 x 0.4 um"}
    assert rows["64^3 x 0.2 um"]["bias"] == "+0.000" and rows["64^3 x 0.2 um"]["rmse"] == "0.100"
    assert rows["64^3 x 0.4 um"]["bias"] == "+0.200" and rows["64^3 x 0.4 um"]["rmse"] == "0.200"
    assert rows["64^3 x 0.4 um"]["window um"] == "25.6"


def test_bad_neighbourhood_and_voxel_size(tmp_path):
    with pytest.raises(SystemExit, match="neighbourhoods"):
        fidelity.run(_args(tmp_path, neighbourhoods="6"))
    with pytest.raises(SystemExit, match="voxel-size"):
        fidelity.run(_args(tmp_path, voxel_size="nan"))


def test_section32_rows_count_calibrated_realizations_per_convention():
    # two realizations; constrictivity_AM: default (opened set) 0.93 and 1.00 -> both inside the
    # bulk [0.85, 1]; centres-6 0.64 and 0.90 -> 1 of 2 inside
    recs = [{"preset": "BM01", "size": 401, "seed": 1, "values": {"constrictivity_AM": 0.93},
             "variants": {"constrictivity_AM": {"centres-6": 0.64}}},
            {"preset": "BM03", "size": 401, "seed": 1, "values": {"constrictivity_AM": 1.0},
             "variants": {"constrictivity_AM": {"centres-6": 0.90}}}]
    rows = {r["convention"]: r for r in fidelity.section32_rows(recs, 401)
            if r["quantity"] == "constrictivity_AM"}
    assert rows["default"]["inside"] == "2/2" and rows["centres-6"]["inside"] == "1/2"
    assert rows["default"]["paper"] == "[0.85, 1.0]"


def test_database_conventions_recompute_stored_structures(tmp_path):
    # two stored structures: a straight SE column along z (beta = 1 under both conventions: no
    # constriction, tau = 1 exactly) and a BM01 realization (opened-set beta >= centre beta)
    import numpy as np

    from vmt_dask.model import CALIBRATED, realize
    from vmt_dask.storage.volumes import write_volume

    store = str(tmp_path / "db.zarr")
    col = np.full((16, 16, 16), 2, np.uint8)
    col[5:11, 5:11, :] = 1
    write_volume(store, "structure-s0000", col, theta=CALIBRATED["BM01"], seed=1, voxel_size=0.2)
    bm = realize(CALIBRATED["BM01"], (20, 20, 20), seed=3, voxel_size=0.2, generator="lattice")
    write_volume(store, "structure-s0001", bm, theta=CALIBRATED["BM01"], seed=3, voxel_size=0.2)
    write_volume(store, "eval-p00-e0-r0", bm, theta=CALIBRATED["BM01"], seed=3, voxel_size=0.2)  # not a structure
    rows = {(r["quantity"], r["convention"]): r for r in fidelity.database_convention_rows(store, log=lambda m: None)}
    assert rows[("constrictivity_SE", "centres-6")]["n"] == 2
    assert set(c for q, c in rows if q == "tortuosity_mean_SE") == {"neighbourhood-26", "neighbourhood-98"}
    # the column's tau is exactly 1; the 5 % quantile of {1, tau(BM01)} interpolates linearly
    from vmt_dask.descriptors import geodesic_tortuosity

    tau_bm = geodesic_tortuosity(bm == 1, axis=2, voxel_size=0.2).mean
    assert rows[("tortuosity_mean_SE", "neighbourhood-26")]["q05"] == f"{np.quantile([1.0, tau_bm], 0.05):.3f}"
    assert rows[("constrictivity_AM", "opening-26")]["paper"] == "[0.85, 1.0]"
    # inside % of the AM bulk [0.85, 1]: the opened set never has fewer structures inside
    assert int(rows[("constrictivity_AM", "opening-26")]["inside %"]) >= \
        int(rows[("constrictivity_AM", "centres-6")]["inside %"])
    args = _args(tmp_path, sizes="16")
    args.database_conventions = True
    with pytest.raises(SystemExit, match="needs --database"):
        fidelity.run(args)


def test_only_the_missing_m_factor_is_added(tmp_path, capsys):
    # a record holding one M-factor (e.g. taken from another benchmark on the same realization)
    # gets the other one; the stored one is kept as it is (a sentinel value proves it is not
    # recomputed)
    from vmt_dask.conductivity import m_factor
    from vmt_dask.model import CALIBRATED, realize

    args = _args(tmp_path, sizes="16")
    assert fidelity.run(args) == 0
    path = tmp_path / "f.json"
    data = json.loads(path.read_text())
    data["structures"][0]["values"]["m_factor_SE"] = 0.123456
    path.write_text(json.dumps(data))
    args.skip_conduct = False
    assert fidelity.run(args) == 0
    assert "(1 of them to complete with M-factors)" in capsys.readouterr().out
    rec = json.loads(path.read_text())["structures"][0]
    assert rec["values"]["m_factor_SE"] == 0.123456 and "m_factor_SE" not in rec["seconds"]
    labels = realize(CALIBRATED["BM01"], (16, 16, 16), seed=1, voxel_size=0.2, generator=rec["generator"])
    assert rec["values"]["m_factor_AM"] == pytest.approx(m_factor(labels == 2, axis=2).m_factor, rel=1e-12)


def test_database_alpha_rows_per_voxel_alpha_and_surface_bounds(monkeypatch, tmp_path):
    # three structures at 0.4 um voxels: theta alphas are per 0.2 um, so per voxel they double,
    # and z is compressed by a = 0.8 (alpha_z = alpha / a): alpha_xt 0.1 -> 0.1 * 2 / 0.8 = 0.25.
    # Structure 2 has S_AM 3.0 > 2.61 and S_SE 2.4 > 2.33 (the paper's largest values).
    import types

    import numpy as np
    import xarray as xr

    import vmt_dask.study as study
    import vmt_dask.study.coordinator as coordinator

    theta = np.array([[0.1, 0.05, 0.02, 0.05, 0.8, 1.9, -0.3],
                      [0.02, 0.6, 0.3, 0.05, 0.8, 1.9, -0.3],
                      [0.5, 0.05, 0.02, 0.05, 0.8, 1.9, -0.3]])
    ds = xr.Dataset({"theta": (("structure", "parameter"), theta),
                     "specific_surface_area_AM": ("structure", [1.0, 1.2, 3.0]),
                     "specific_surface_area_SE": ("structure", [0.4, 0.5, 2.4])},
                    coords={"function": ("structure", ["", "specific_surface_area_AM",
                                                       "specific_surface_area_AM"]),
                            "h": ("structure", [0.0, -0.1, 0.1])})
    monkeypatch.setattr(study, "open_results", lambda store: ds)
    monkeypatch.setattr(coordinator, "read_spec", lambda store: types.SimpleNamespace(voxel_size=0.4))
    by_alpha, by_step = fidelity.database_alpha_rows(str(tmp_path))
    bins = {r["alpha_X/voxel"]: r for r in by_alpha}
    # alpha_X per voxel: 0.25, 0.75 (alpha_x 0.3), 1.25 -> bins [0.25, 0.5), [0.5, 1), [1, 2)
    assert bins["[0.25, 0.5)"]["alpha_X/vox max"] == "0.250"
    assert bins["[0.5, 1)"]["alpha_Y/vox max"] == "1.500"   # alpha_yt 0.6 * 2 / 0.8
    assert bins["[1, 2)"]["S_AM>2.61"] == 1 and bins["[1, 2)"]["S_SE>2.33"] == 1
    assert bins["all"]["n"] == 3 and bins["all"]["S_AM>2.61"] == 1
    steps = {(r["function"], r["h"]): r for r in by_step}
    assert steps[("specific_surface_area_AM", "+0.1")]["S_SE max"] == "2.400"
    assert steps[("(interpolation point)", "+0")]["n"] == 1


def test_json_has_no_bare_nan_and_reads_back_as_missing(tmp_path):
    """A non-percolating phase has tortuosity NaN: the file must stay strict JSON (RFC 8259
    has no NaN token) and the tables must still read the value as missing."""
    import math

    import numpy as np

    path = str(tmp_path / "f.json")
    rec = {"preset": "BM01", "size": np.int64(16), "seed": 1, "voxel_size": 0.2,
           "generator": "lattice", "values": {"tortuosity_mean_SE": math.nan,
                                              "volume_fraction_SE": np.float64(0.4)},
           "variants": {"constrictivity_SE": {"x": float("inf")}}, "seconds": {}}
    fidelity._save(path, [rec], {"load": (1.0, 2.0, np.float32(0.5))})
    text = open(path).read()
    assert "NaN" not in text and "Infinity" not in text
    strict = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON token {c}"))
    got = strict["structures"][0]
    assert got["size"] == 16 and isinstance(got["size"], int)
    assert got["values"]["tortuosity_mean_SE"] is None
    assert got["variants"]["constrictivity_SE"]["x"] is None
    back = fidelity._load(path)
    mean, _, n = fidelity._stats([r["values"].get("tortuosity_mean_SE") for r in back])
    assert n == 0 and math.isnan(mean)
    assert fidelity._stats([r["values"]["volume_fraction_SE"] for r in back])[2] == 1
