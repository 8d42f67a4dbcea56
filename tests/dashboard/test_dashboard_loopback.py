"""Embedded clusters listen on the loopback interface only, unless told otherwise."""
from __future__ import annotations

from vmt_dask.dashboard import LOOPBACK, local_cluster, local_kwargs


def _bound_hosts(server) -> set[str]:
    return {sock.getsockname()[0] for sock in server._sockets.values()}


def test_local_cluster_binds_scheduler_and_dashboard_to_loopback():
    with local_cluster(n_workers=0) as cluster:  # worker processes would connect over tcp
        assert cluster.scheduler_address.startswith(f"tcp://{LOOPBACK}:")
        assert _bound_hosts(cluster.scheduler.http_server) == {LOOPBACK}
    with local_cluster(n_workers=0, processes=False) as cluster:  # inproc scheduler
        assert _bound_hosts(cluster.scheduler.http_server) == {LOOPBACK}


def test_explicit_addresses_win():
    kw = local_kwargs(host="0.0.0.0", dashboard_address=":8787")
    assert kw["host"] == "0.0.0.0" and kw["dashboard_address"] == ":8787"
    assert "vmt_dask.dashboard" in kw["scheduler_kwargs"]["preload"]
