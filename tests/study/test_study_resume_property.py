"""Property: a study interrupted after any number of completed tasks resumes to identical results.

The interruption is the coordinator's own: its progress callback raises after ``k`` task
completions (k drawn by Hypothesis), the run stops there, tasks already running on the
workers may still finish and write their records, and a second ``run_study`` completes the
study.  The results must equal an undisturbed run's bit for bit.  A tiny spec (35 tasks on
16^3 voxels, in-process workers) keeps each example to a few seconds; the examples are
derandomized so CI is reproducible.
"""
from __future__ import annotations

import time

import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmt_dask.study import load_spec, open_results, run_study, study_status

pytestmark = pytest.mark.timeout(600)

TINY = load_spec("smoke").replace(name="tiny", shape=[16, 16, 16], chunks=8, realizations=1,
                                  steps={"volume_fraction_AM": [0.1], "constrictivity_SE": [0.025]})


class Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def baseline(client, tmp_path_factory):
    store = str(tmp_path_factory.mktemp("resume") / "base.zarr")
    assert run_study(TINY, store, client=client).ok
    return open_results(store)


def _settle(client, timeout=60.0):
    """Wait until the workers run nothing (tasks of the interrupted run finish or are cancelled)."""
    deadline = time.time() + timeout
    while time.time() < deadline and any(client.processing().values()):
        time.sleep(0.05)


@settings(max_examples=4, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(k=st.integers(min_value=0, max_value=TINY.n_tasks - 1))
def test_interrupted_study_resumes_to_identical_results(client, baseline, tmp_path_factory, k):
    store = str(tmp_path_factory.mktemp("resume") / f"k{k}.zarr")
    seen = []

    def stop_after_k(run, latest):
        if "key" in latest:
            seen.append(latest["key"])
        if len(seen) >= k and latest.get("event") != "submitted":
            raise Interrupt

    if k == 0:
        with pytest.raises(Interrupt):
            run_study(TINY, store, client=client, progress=lambda run, latest: (_ for _ in ()).throw(Interrupt))
    else:
        with pytest.raises(Interrupt):
            run_study(TINY, store, client=client, progress=stop_after_k)
    _settle(client)
    assert study_status(store)["state"] in ("interrupted", "finished")
    resumed = run_study(TINY, store, client=client)
    assert resumed.ok, resumed.errors
    assert sum(resumed.submitted.values()) <= TINY.n_tasks - min(k, TINY.n_tasks)
    xr.testing.assert_identical(open_results(store), baseline)
