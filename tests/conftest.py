"""Fixtures shared by several test folders.

``smoke_study``: the smoke preset's study (17 structures of 24^3) run once per test process
(pytest's session; under `make test`'s pytest-xdist, once per worker process that needs it) on
an embedded 2-worker cluster, the reference the study, deployment and report tests compare
with or read (each of them used to run it again).

``tiny_study``: a tiny study (one point, one realization per evaluation, two structures on
16^3: 35 records) run once per test process on an in-process cluster: the faults tests' baseline
and the object-store deployment test's reference.

Both are read-only: a test that changes a store copies it first.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest


@pytest.fixture(scope="session")
def smoke_study(tmp_path_factory):
    """``store`` (path), ``run`` (:class:`~vmt_dask.study.StudyRun`) and ``results``
    (:func:`~vmt_dask.study.open_results`) of the smoke study, run with ``workers=2``."""
    from vmt_dask.study import load_spec, open_results, run_study

    store = str(tmp_path_factory.mktemp("smoke-study") / "smoke.zarr")
    run = run_study(load_spec("smoke"), store, workers=2)
    assert run.ok, run.errors
    return SimpleNamespace(store=store, run=run, results=open_results(store))


def tiny_spec():
    """The tiny study's spec (the smoke preset cut down)."""
    from vmt_dask.study import load_spec

    return load_spec("smoke").replace(name="tiny", shape=[16, 16, 16], chunks=8, realizations=1,
                                      steps={"volume_fraction_AM": [0.1]})


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory):
    """``spec``, ``store``, ``run`` and ``results`` of the tiny study, run on an in-process
    2-worker cluster (threads)."""
    from distributed import Client, LocalCluster

    from vmt_dask.study import open_results, run_study

    spec = tiny_spec()
    store = str(tmp_path_factory.mktemp("tiny-study") / "tiny.zarr")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        run = run_study(spec, store, client=client)
    assert run.ok, run.errors
    return SimpleNamespace(spec=spec, store=store, run=run, results=open_results(store))
