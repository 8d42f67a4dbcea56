"""The smoke study end to end on LocalClusters with worker processes.

One undisturbed run (2 workers; the session's, tests/conftest.py) is the reference; a
1-worker run, a run whose client process is killed and then resumed, and a run that loses a
worker to SIGKILL must all give identical results.  The resumed runs and the run that loses a
worker share one embedded cluster.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vmt_dask.cli import main as cli_main
from vmt_dask.errors import InputError
from vmt_dask.study import FUNCTIONS, load_spec, open_results, run_study, study_status
from vmt_dask.study.design import (evaluation_seeds, interpolation_points, perturbed_thetas,
                                   step_theta, structure_seed)
from vmt_dask.study.layout import RECORDS, eval_volume, structure_volume

pytestmark = pytest.mark.timeout(300)
SPEC = load_spec("smoke")


def _records(store) -> int:
    base = Path(store) / RECORDS
    return sum(1 for p in base.rglob("*.json")) if base.exists() else 0


@pytest.fixture(scope="module")
def baseline(smoke_study):
    """The undisturbed reference: the session's smoke study (tests/conftest.py, 2 workers)."""
    run = smoke_study.run
    # small volumes are batched: fewer Dask tasks than volumes (+ the gradient)
    assert run.dask_tasks < 1 + SPEC.n_evaluations * SPEC.realizations + SPEC.n_structures
    # the kernel warm-up ran: every family once, split over the two workers
    assert sorted(p for w in run.warm for p in w["seconds"]) == ["conduct", "describe", "realize"]
    assert len(run.warm) == 2
    return smoke_study.store, smoke_study.results


@pytest.fixture(scope="module")
def client():
    """One embedded 2-worker cluster (the study's own configuration, :func:`make_cluster`) for the
    runs that resume or lose a worker: one start instead of one per run."""
    from distributed import Client

    from vmt_dask.study.coordinator import make_cluster

    with make_cluster(2) as cluster, Client(cluster) as c:
        c.wait_for_workers(2)
        yield c


def test_database_size_and_provenance(baseline):
    from vmt_dask.store import list_volumes

    store, ds = baseline
    n = SPEC.n_structures
    assert n == 17 and ds.sizes["structure"] == n and ds.attrs["complete"] == 1
    assert ds.sizes["gradient_point"] == 1 and ds.sizes["gradient_function"] == 8
    point = interpolation_points(SPEC)[0]
    assert set(ds["pair"].values) == {"BM01-BM10"} and np.all(ds["t"].values == 0.5)
    assert list(ds["function"].values[:3]) == ["", FUNCTIONS[0], FUNCTIONS[0]]
    assert list(ds["h"].values[1:3]) == [-0.1, 0.1]
    assert [int(s) for s in ds["seed"].values] == [structure_seed(SPEC, 0, k) for k in range(n)]
    np.testing.assert_array_equal(ds["theta"].values[0], point.theta)
    grad = ds["gradient"].values[0]
    for i in range(1, n):
        fn, h = str(ds["function"].values[i]), float(ds["h"].values[i])
        expect = step_theta(point.theta, grad[FUNCTIONS.index(fn)], h, alpha_floor=SPEC.alpha_floor)
        np.testing.assert_allclose(ds["theta"].values[i], expect, rtol=0, atol=0)
        assert min(ds["theta"].values[i][:4]) >= SPEC.alpha_floor
    for ph in ("AM", "SE"):
        eps, m = ds[f"volume_fraction_{ph}"].values, ds[f"m_factor_{ph}"].values
        assert np.all((eps > 0) & (eps < 1))
        assert np.all(np.isfinite(m)) and np.all(m >= 0) and np.all(m <= eps + 1e-9)
        assert np.all(np.isfinite(ds[f"specific_surface_area_{ph}"].values))
    assert ds.attrs["spec_identity"] == SPEC.identity() and "delta" in ds.attrs["spec"]
    # every volume is in the store with its provenance; nothing else is
    vols = list_volumes(store)
    n_eval = SPEC.n_evaluations * SPEC.realizations
    assert len(vols) == n + n_eval
    attrs = vols[structure_volume(5)]
    assert int(attrs["seed"]) == structure_seed(SPEC, 0, 5)
    np.testing.assert_allclose(attrs["theta"], ds["theta"].values[5])
    e_attrs = vols[eval_volume(0, 3, 1)]
    assert int(e_attrs["seed"]) == evaluation_seeds(SPEC, 0)[1]  # common random numbers
    np.testing.assert_allclose(e_attrs["theta"], perturbed_thetas(point.theta, SPEC.delta)[3])


def test_gradients_equal_a_direct_finite_difference(baseline):
    store, ds = baseline
    rec = Path(store) / RECORDS / "describe"
    R, E = SPEC.realizations, SPEC.n_evaluations
    f = np.empty((E, R, 8))
    for e in range(E):
        for r in range(R):
            for j, fn in enumerate(FUNCTIONS):
                name, ph = fn.rsplit("_", 1)
                d = json.loads((rec / f"{eval_volume(0, e, r)}-{ph}.json").read_text())
                f[e, r, j] = np.nan if d[name] is None else d[name]
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mean = np.nanmean(f, axis=1)
    direct = ((mean[1:] - mean[0]) / SPEC.delta).T  # (function, parameter)
    direct[:, 4] = 0.0
    np.testing.assert_allclose(ds["gradient"].values[0], direct, rtol=1e-12, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(ds["base_mean"].values[0], mean[0], rtol=1e-12, equal_nan=True)
    assert np.isfinite(ds["gradient"].values[0][[0, 1, 2, 3]]).all()  # eps and S always defined


def _store_content(root) -> dict[str, str]:
    """Everything a study store holds, for comparing two runs: records without the fields that
    measure the run (``seconds``, ``timings``, and the seal over them), volume files by their
    bytes; the volumes' creation stamp (and the manifest's digest of the document holding it)
    is the only run-dependent volume field."""
    import hashlib

    out = {}
    for p in sorted(Path(root).rglob("*")):
        rel = p.relative_to(root).as_posix()
        if not p.is_file() or p.name.startswith(".") or rel in ("vmt-run.json", "vmt-lease.json", "vmt-study.json"):
            continue
        if rel.startswith(RECORDS + "/"):
            rec = json.loads(p.read_text())
            for k in ("seconds", "timings", "_checksum"):
                rec.pop(k, None)
            out[rel] = json.dumps(rec, sort_keys=True)
        elif p.name == "zarr.json" and "volumes/" in rel:
            doc = json.loads(p.read_text())
            doc.get("attributes", {}).pop("created", None)
            out[rel] = json.dumps(doc, sort_keys=True)
        elif p.name == "vmt-manifest.json":
            man = json.loads(p.read_text())
            man.pop("_checksum", None)
            man["files"].pop("zarr.json")
            out[rel] = json.dumps(man, sort_keys=True)
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def test_one_worker_without_batching_gives_identical_store(baseline, tmp_path):
    """One worker, each volume's tasks as one Dask task (no batches of volumes), against the
    baseline (two workers, batched): the same results and the same store content (records
    except their timings, volumes byte for byte)."""
    base_store, ds = baseline
    store = str(tmp_path / "one.zarr")
    run = run_study(SPEC, store, workers=1, batch=False)
    assert run.ok
    xr.testing.assert_identical(open_results(store), ds)
    assert run.dask_tasks == 1 + SPEC.n_evaluations * SPEC.realizations + SPEC.n_structures  # one per volume
    a, b = _store_content(base_store), _store_content(store)
    assert sorted(a) == sorted(b)
    assert [k for k in a if a[k] != b[k]] == []


def test_resume_after_killed_client(baseline, client, tmp_path):
    _, ds = baseline
    store = str(tmp_path / "killed.zarr")
    proc = subprocess.Popen([sys.executable, "-m", "vmt_dask.cli", "study", "run", "--preset", "smoke",
                             "--store", store, "--workers", "1", "--quiet"],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while _records(store) < 6 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI, its scheduler and its worker processes
        proc.wait()
    st = study_status(store)
    assert not st["complete"] and st["state"] == "interrupted"
    done_before = sum(v["done"] for v in st["stages"].values())
    run = run_study(SPEC, store, client=client)
    assert run.ok
    total = sum(run.totals.values())
    assert sum(run.submitted.values()) <= total - done_before  # only what was missing
    xr.testing.assert_identical(open_results(store), ds)
    again = run_study(SPEC, store, client=client)
    assert again.ok and sum(again.submitted.values()) == 0


def test_worker_killed_mid_run(baseline, client, tmp_path):
    """SIGKILL to one worker process of the module's cluster mid-run (its nanny starts a new one)."""
    _, ds = baseline
    store = str(tmp_path / "lost-worker.zarr")
    killed = []
    pids = list(client.run(os.getpid).values())
    assert len(pids) == 2

    def killer():
        deadline = time.time() + 120
        while _records(store) < 8 and time.time() < deadline:
            time.sleep(0.01)
        os.kill(pids[0], signal.SIGKILL)
        killed.append(pids[0])

    th = threading.Thread(target=killer, daemon=True)
    th.start()
    run = run_study(SPEC, store, client=client)
    th.join()
    assert killed and run.ok, run.errors
    xr.testing.assert_identical(open_results(store), ds)


def test_other_spec_refused_and_store_untouched(baseline, tmp_path):
    store, _ = baseline
    before = sorted(p.name for p in Path(store).iterdir())
    mtime = (Path(store) / "vmt-study.json").stat().st_mtime_ns
    with pytest.raises(InputError, match="another study"):
        run_study(SPEC.replace(seed=123), store, workers=1)
    assert sorted(p.name for p in Path(store).iterdir()) == before
    assert (Path(store) / "vmt-study.json").stat().st_mtime_ns == mtime
    from vmt_dask.study.coordinator import check_store
    assert check_store(SPEC.replace(seed=123), store, new=True) == "replace"
    # a non-study directory is never taken over
    other = tmp_path / "other"
    other.mkdir()
    (other / "data.txt").write_text("keep me")
    with pytest.raises(InputError, match="holds no study"):
        run_study(SPEC, str(other), workers=1, new=True)
    assert (other / "data.txt").read_text() == "keep me"


def test_cli_invalid_spec_status_and_csv(baseline, tmp_path, capsys):
    store, ds = baseline
    bad = tmp_path / "bad.yaml"
    bad.write_text(load_spec("smoke").to_yaml().replace("delta: 0.05", "delta: -1"))
    target = tmp_path / "never.zarr"
    assert cli_main(["study", "run", str(bad), "--store", str(target)]) == 2
    assert "'delta'" in capsys.readouterr().err and not target.exists()
    assert cli_main(["study", "status", store]) == 0
    out = capsys.readouterr().out
    assert "finished" in out and "conduct" in out
    csv = tmp_path / "r.csv"
    assert cli_main(["study", "results", store, "--csv", str(csv)]) == 0
    import pandas as pd
    df = pd.read_csv(csv)
    assert len(df) == SPEC.n_structures
    assert {"m_factor_AM", "m_factor_SE", "theta_alpha_xt", "pair", "h", "seed"} <= set(df.columns)
    np.testing.assert_allclose(df["m_factor_SE"].values, ds["m_factor_SE"].values)
