"""The study page over HTTP, on each way distributed lets us mount it."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from vmt_dask.events import STAGES, TOPIC, study_message


def _example(client, dash):
    return next((s for s in dash.api(client)["studies"] if s["study"] == "example"), None)


def test_json_endpoint_reports_progress_failures_and_latest(cluster_client, dash):
    dash.publish_example(cluster_client)
    study = dash.wait_for(lambda: (s := _example(cluster_client, dash)) and s["messages"] == dash.N_EXAMPLE_MESSAGES and s)
    body = dash.api(cluster_client)
    assert body["topic"] == TOPIC and body["stages"] == list(STAGES)
    assert study["state"] == "running" and study["store"] == "/data/example.zarr"
    assert list(study["stages"]) == list(STAGES)
    assert study["stages"]["gradient"] == {"done": 5, "total": 8, "failed": 1, "fraction": 0.625,
                                           "rate_per_min": 30.0}  # 5 done in the 10 s between events
    assert study["stages"]["conduct"]["done"] == 2
    assert study["failed"] == 1 and study["errors"] == ["gradient-p03-ab12: KilledWorker('x')"]
    assert study["values"] == {"volume_fraction_AM": 0.4987, "m_factor_AM": 0.2683,
                               "m_factor_SE": 0.1371}
    assert study["latest"] == {"stage": "conduct", "key": "conduct-p00-s02-AM-ab12"}
    assert study["updated"] - study["started"] == pytest.approx(12.5)


def test_html_page_fragment_and_redirect(cluster_client, dash):
    dash.publish_example(cluster_client)
    dash.wait_for(lambda: _example(cluster_client, dash))
    base = dash.dashboard_base(cluster_client)
    status, ctype, page = dash.http_get(base + "vmt/studies")
    assert status == 200 and ctype.startswith("text/html")
    for stage in STAGES:
        assert f'data-stage="{stage}"' in page
    assert "Study example" in page and "0.2683" in page and "KilledWorker" in page
    assert 'fetch("studies/fragment"' in page
    _, _, fragment = dash.http_get(base + "vmt/studies/fragment")
    assert fragment.startswith('<div class="vmt-studies">') and "<html" not in fragment
    assert 'data-stage="conduct"' in fragment
    for path in ("vmt", "vmt/"):  # urllib follows the redirect
        with urllib.request.urlopen(base + path, timeout=10) as resp:
            assert resp.geturl() == base + "vmt/studies"


def test_tracker_keeps_history_beyond_the_event_log(cluster_client, dash):
    """The plugin folds events as they arrive, so it survives log truncation."""
    from vmt_dask.dashboard.server import PLUGIN_NAME

    def check(dask_scheduler):
        return type(dask_scheduler.plugins[PLUGIN_NAME]).__name__

    assert cluster_client.run_on_scheduler(check) == "StudyTracker"
    cluster_client.log_event(TOPIC, study_message("hist", "m", "running", {}, {"m_factor_SE": 1.0}))
    dash.wait_for(lambda: any(s["study"] == "hist" for s in dash.api(cluster_client)["studies"]))

    def truncate(dask_scheduler):
        dask_scheduler._broker.truncate(TOPIC)
        return len(dask_scheduler.get_events(TOPIC))

    assert cluster_client.run_on_scheduler(truncate) == 0
    cluster_client.log_event(TOPIC, study_message("hist", "m", "finished", {}, {"m_factor_AM": 2.0}))
    hist = dash.wait_for(lambda: next((s for s in dash.api(cluster_client)["studies"]
                                  if s["study"] == "hist" and s["state"] == "finished"), None))
    assert hist["values"] == {"m_factor_SE": 1.0, "m_factor_AM": 2.0} and hist["messages"] == 2


def test_ensure_study_page_on_a_plain_cluster(dash):
    """A cluster started without the preload gets the page from the plugin (idempotently)."""
    from distributed import Client, LocalCluster

    from vmt_dask.dashboard import ensure_study_page

    with LocalCluster(n_workers=0, processes=False, dashboard_address="127.0.0.1:0") as cluster, \
            Client(cluster) as client:
        base = dash.dashboard_base(client)
        with pytest.raises(urllib.error.HTTPError) as err:
            dash.http_get(base + "vmt/api/studies")
        assert err.value.code == 404
        # events logged before the page existed are shown too
        dash.publish_example(client)
        dash.wait_for(lambda: len(client.get_events(TOPIC)) == dash.N_EXAMPLE_MESSAGES)
        url = ensure_study_page(client)
        assert url.endswith("/vmt/studies")
        assert ensure_study_page(client) == url  # idempotent
        study = dash.wait_for(lambda: _example(client, dash))
        assert study["messages"] == dash.N_EXAMPLE_MESSAGES and study["stages"]["gradient"]["failed"] == 1


def test_http_routes_config(dash):
    """``distributed.scheduler.http.routes`` + ``vmt_dask.dashboard``: page read off the event log."""
    import dask
    from distributed import Client, LocalCluster

    routes = dask.config.get("distributed.scheduler.http.routes") + ["vmt_dask.dashboard"]
    with dask.config.set({"distributed.scheduler.http.routes": routes}), \
            LocalCluster(n_workers=0, processes=False, dashboard_address="127.0.0.1:0") as cluster, \
            Client(cluster) as client:
        dash.publish_example(client)
        study = dash.wait_for(lambda: (s := _example(client, dash)) and s["messages"] == dash.N_EXAMPLE_MESSAGES and s)
        assert study["stages"]["structure"] == {"done": 3, "total": 17, "failed": 0,
                                                "fraction": pytest.approx(3 / 17),
                                                "rate_per_min": 18.0}
        # registering the plugin as well does not mount the routes twice
        from vmt_dask.dashboard import ensure_study_page

        ensure_study_page(client)
        assert _example(client, dash)["messages"] == dash.N_EXAMPLE_MESSAGES


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dask_scheduler_cli_preload_with_prefix(tmp_path, dash):
    """What the Helm chart runs: ``dask scheduler --preload vmt_dask.dashboard``."""
    from distributed import Client

    port, http_port = _free_port(), _free_port()
    cmd = [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
           "--port", str(port), "--dashboard-address", f"127.0.0.1:{http_port}",
           "--dashboard-prefix", "dask", "--preload", "vmt_dask.dashboard"]
    log = open(tmp_path / "scheduler.log", "w+")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        with Client(f"tcp://127.0.0.1:{port}", timeout=30) as client:
            base = f"http://127.0.0.1:{http_port}/dask/"
            dash.publish_example(client)

            def ready():
                try:
                    return json.loads(dash.http_get(base + "vmt/api/studies")[2])["studies"]
                except (urllib.error.URLError, ConnectionError):
                    return None

            (study,) = dash.wait_for(ready, timeout=20)
            assert study["study"] == "example"
            _, _, page = dash.http_get(base + "vmt/studies")
            assert all(f'data-stage="{s}"' in page for s in STAGES)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
        log.seek(0)
        text = log.read()
        log.close()
    assert "Run preload setup: vmt_dask.dashboard" in text, text
