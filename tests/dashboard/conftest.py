"""Shared set-up for the study page tests: one embedded LocalCluster serving the page."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest

from vmt_dask.events import TOPIC, study_message


def http_get(url: str, *, timeout: float = 10.0) -> tuple[int, str, str]:
    """(status, content type, body) of a GET."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode("utf-8")


def dashboard_base(client) -> str:
    """``http://127.0.0.1:<port>/`` of the client's scheduler dashboard.

    (``client.dashboard_link`` names the host of the scheduler address, which
    for an in-process cluster is not a routable interface.)
    """
    port = client.scheduler_info()["services"]["dashboard"]
    return f"http://127.0.0.1:{port}/"


def api(client) -> dict:
    return json.loads(http_get(dashboard_base(client) + "vmt/api/studies")[2])


def wait_for(predicate, *, timeout: float = 10.0, interval: float = 0.05):
    """Poll ``predicate()`` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def publish_example(client, study: str = "example") -> None:
    """A study in mid-flight: realize and describe done, gradients partial, a failure."""
    t0 = time.time() - 60.0
    stages0 = {s: {"done": 0, "total": 0, "failed": 0} for s in
               ("realize", "describe", "gradient", "structure", "conduct")}
    client.log_event(TOPIC, study_message(study, "/data/example.zarr", "running", stages0,
                                          time=t0))
    stages = {
        "realize": {"done": 34, "total": 34, "failed": 0},
        "describe": {"done": 1, "total": 1, "failed": 0},
        "gradient": {"done": 5, "total": 8, "failed": 1},
        "structure": {"done": 3, "total": 17, "failed": 0},
        "conduct": {"done": 2, "total": 17, "failed": 0},
    }
    # what the coordinator sends: a failed task (``latest["error"]``), then a finished one
    # with its values
    client.log_event(TOPIC, study_message(
        study, "/data/example.zarr", "running", stages,
        latest={"stage": "gradient", "key": "gradient-p03-ab12", "error": "KilledWorker('x')"},
        time=t0 + 10.0))
    client.log_event(TOPIC, study_message(
        study, "/data/example.zarr", "running", stages,
        latest={"stage": "conduct", "key": "conduct-p00-s02-AM-ab12",
                "values": {"volume_fraction_AM": 0.4987, "m_factor_AM": 0.2683},
                "m_factor_SE": 0.1371},
        time=t0 + 12.5))


N_EXAMPLE_MESSAGES = 3


def publish_science(client, study: str = "example", n: int = 66) -> None:
    """``n`` database structures of two interpolation points, as the coordinator reports them.

    Values are drawn inside the paper's Section 3.2 ranges (seeded), each structure's
    descriptors and M-factors in separate events, as the describe and conduct tasks finish.
    """
    import numpy as np

    rng = np.random.default_rng(5)
    functions = ("volume_fraction_AM", "specific_surface_area_SE", "tortuosity_mean_SE", "constrictivity_SE")
    t = time.time() - 30.0
    for i in range(n):
        point, local = divmod(i, 33)
        function = None if local == 0 else functions[local % 4]
        h = 0.0 if local == 0 else (-0.2, -0.1, 0.1, 0.2)[local // 4 % 4]
        meta = {"index": i, "point": point, "local": local, "function": function, "h": h}
        for ph, (eps, s_v) in {"AM": (0.52, 1.0), "SE": (0.41, 0.8)}.items():
            values = {f"volume_fraction_{ph}": eps + rng.normal(0, 0.02),
                      f"specific_surface_area_{ph}": s_v + rng.normal(0, 0.1),
                      f"tortuosity_mean_{ph}": 1.1 + rng.normal(0, 0.02),
                      f"constrictivity_{ph}": float(np.clip(0.6 + rng.normal(0, 0.1), 0, 1))}
            for dt, latest in ((0.0, {"stage": "structure", "values": values, "structure": meta}),
                               (0.05, {"stage": "conduct", "structure": meta, "values": {
                                   f"m_factor_{ph}": 0.6 * eps ** 2 + rng.normal(0, 0.005)}})):
                msg = study_message(study, "/data/example.zarr", "running", {}, latest=latest, time=t + i * 0.1 + dt)
                del msg["stages"]  # values only: the progress counts stay those of publish_example
                client.log_event(TOPIC, msg)


_INSTALL = "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium"


def _chromium() -> str:
    """Path of the chromium binary, installing the Debian package if missing and possible."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    if not shutil.which("apt-get"):
        pytest.skip("chromium is not installed and there is no apt-get to install it")
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        pytest.skip(f"chromium is not installed and installing needs root: {_INSTALL}")
    proc = subprocess.run(["bash", "-c", _INSTALL], capture_output=True, text=True, timeout=900)
    path = shutil.which("chromium")
    if proc.returncode != 0 or not path:
        pytest.skip(f"could not install chromium ({_INSTALL}): rc={proc.returncode}, "
                    f"{proc.stderr.strip()[-300:]}")
    return path


def headless(binary: str, profile: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of headless Chromium (installed from Debian when missing and root)."""
    return _chromium()


@pytest.fixture(scope="module")
def cluster_client():
    """LocalCluster started the way users start it: ``vmt_dask.dashboard.local_cluster``."""
    from distributed import Client

    from vmt_dask.dashboard import local_cluster

    with local_cluster(n_workers=1, threads_per_worker=2, processes=False,
                       dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        yield client


@pytest.fixture(scope="session")
def dash():
    """The helpers above (``dash.api(client)``...): test modules cannot import conftest."""
    return sys.modules[__name__]
