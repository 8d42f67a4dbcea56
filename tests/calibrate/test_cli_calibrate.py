"""``vmt calibrate``: outputs, resume from records, Dask fan-out, bad input (exit 2, nothing written)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from vmt_dask.cli import main
from vmt_dask.domain import PARAMETER_NAMES
from vmt_dask.model import realize

THETA = (0.05, 0.4, 0.15, 0.3, 0.95, 2.1, -0.1)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    d = tmp_path_factory.mktemp("cal")
    path = d / "img.npy"
    # "lattice": the generator of the calibration's own realizations (calibrate/runner.py), so the
    # module compiles one generator, not two (a cold-cache compile of "fast" costs ~19 CPU s)
    np.save(path, realize(THETA, 20, seed=3, voxel_size=0.6, generator="lattice"))
    return path


def test_calibrate_writes_outputs_and_resumes(image, tmp_path, capsys):
    from vmt_dask.storage import read_record
    from vmt_dask.study.spec import load_spec

    store = tmp_path / "cal.zarr"
    args = ["calibrate", str(image), "--voxel-size", "0.6", "--out", str(store), "--local",
            "--realizations", "2", "--compare", "1"]
    assert main(args) == 0
    out = read_record(str(store), "calibration/result.json")
    assert out is not None and set(out["theta"]) >= {"alpha_xt", "a", "lambda_x"}
    assert out["cost"]["evaluations_computed"] >= 2
    assert {r["descriptor"] for r in out["comparison"]} >= {"m_factor", "volume_fraction"}
    for name in ("two-point.png", "index.html", "preset.yaml"):
        assert (store / "calibration" / name).stat().st_size > 0
    spec = load_spec(str(store / "calibration" / "preset.yaml"))   # vmt study run accepts it
    assert "calibrated" in spec.endpoints
    assert spec.endpoints["calibrated"] == pytest.approx([out["theta"][k] for k in PARAMETER_NAMES], abs=1e-6)
    capsys.readouterr()
    # a rerun reuses every realization record
    assert main(args) == 0
    assert "0 realizations computed" in capsys.readouterr().out


def test_fit_on_dask_writes_records_and_events(image, tmp_path):
    from distributed import Client

    from vmt_dask.calibrate import fit_theta
    from vmt_dask.events import TOPIC
    from vmt_dask.storage import list_records

    labels = np.load(image)
    store = str(tmp_path / "dask.zarr")
    with Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=":0") as client:
        res = fit_theta(labels, voxel_size=0.6, realizations=2, client=client, store=store)
        events = client.get_events(TOPIC)
    recs = list_records(store, prefix="records")
    assert len(recs) == res.cost["evaluations_computed"] >= 2
    assert any(e[1].get("study", "").startswith("calibrate") for e in events)
    # same answer without Dask, from the records
    res2 = fit_theta(labels, voxel_size=0.6, realizations=2, store=store)
    assert res2.theta == pytest.approx(res.theta)
    assert res2.cost["evaluations_computed"] == 0


@pytest.mark.parametrize("extra, needle", [
    (["--realizations", "1"], "--realizations"),
    (["--labels", "pore=0,SE=1"], "AM"),
    (["--seed", "-3"], "--seed"),
    (["--base-preset", "nope"], "--base-preset"),
])
def test_bad_input_exit_2_nothing_written(image, tmp_path, capsys, extra, needle):
    store = tmp_path / "never.zarr"
    assert main(["calibrate", str(image), "--out", str(store), "--local", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and "Traceback" not in err[0]
    assert not store.exists()


def test_missing_input_exit_2(tmp_path, capsys):
    assert main(["calibrate", str(tmp_path / "none.npy"), "--out", str(tmp_path / "s.zarr")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_json_output(image, tmp_path, capsys):
    store = tmp_path / "j.zarr"
    assert main(["calibrate", str(image), "--voxel-size", "0.6", "--out", str(store), "--local",
                 "--realizations", "2", "--compare", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["comparison"] == [] and len(out["statistics"]) > 10
