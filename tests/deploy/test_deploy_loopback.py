"""The chart's processes on loopback: the exact commands and environment the rendered
manifests give the scheduler, two workers and the study Job, started here with TLS on
(certificates made in the test), one worker killed with SIGKILL mid-run, and the study
compared with a local run.  A second case puts the store on an S3 server (moto), with a
tiny study given as a full spec (the chart's ConfigMap).

A small kubelet stand-in (``_kube.container_process``) maps volume mounts to
temporary directories (a ConfigMap's data as files), fills in the downward API (pod IP 127.0.0.1), Secrets and
``$(VAR)`` references, and resolves the scheduler Service name to 127.0.0.1.
"""
from __future__ import annotations

import datetime
import importlib.util
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import moto.server
import pytest
import s3fs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import deploy_kube as kube  # registered by conftest.py

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

STARTUP_S = 90


# --- certificates -------------------------------------------------------------------


def make_certificates(directory: Path) -> None:
    """A throw-away CA and one certificate it signs: ca.crt, tls.crt, tls.key (the
    Secret layout the chart mounts).  Dask verifies the peer's chain against the CA
    in both directions (mutual TLS); it does not check host names."""

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    valid = dict(not_valid_before=now - datetime.timedelta(minutes=5),
                 not_valid_after=now + datetime.timedelta(days=1))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vmt-dask test CA")])
    ca = (
        x509.CertificateBuilder(issuer_name=ca_name, subject_name=ca_name, public_key=ca_key.public_key(),
                                serial_number=x509.random_serial_number(), **valid)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder(issuer_name=ca_name,
                                subject_name=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vmt-dask")]),
                                public_key=key.public_key(), serial_number=x509.random_serial_number(), **valid)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (directory / "ca.crt").write_bytes(ca.public_bytes(pem))
    (directory / "tls.crt").write_bytes(cert.public_bytes(pem))
    (directory / "tls.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (directory / "tls.key").chmod(0o600)


# --- a release on loopback ----------------------------------------------------------


class LoopbackRelease:
    """Render the chart with ``values`` and start its pods' processes here."""

    def __init__(self, root: Path, values: dict, *, secrets: dict | None = None):
        self.root = root
        self.port = kube.free_port()
        self.dashboard_port = kube.free_port()
        values = dict(values)
        preload = ["vmt_dask.dashboard"] if importlib.util.find_spec("vmt_dask.dashboard") else []
        values["scheduler"] = {**values.get("scheduler", {}), "port": self.port,
                               "dashboardPort": self.dashboard_port, "preload": preload}
        self.docs = kube.documents(kube.render(values))
        self.secrets = secrets or {}
        self.services = {kube.one(self.docs, "Service", "scheduler")["metadata"]["name"]: "127.0.0.1"}
        self.pods: dict[str, subprocess.Popen] = {}
        self.tls = root / "tls-secret"
        self.data = root / "pvc"

    def mounts(self, pod: str) -> dict[str, Path]:
        # emptyDir per pod; the Secret, the RWX claim and the ConfigMaps are shared.
        return {"scratch": self.root / "pods" / pod, "tls": self.tls, "data": self.data, **self.config_maps}

    @property
    def config_maps(self) -> dict[str, Path]:
        """Each configMap volume of the release's pods, by volume name: a directory holding the
        rendered ConfigMap's data as files (what the kubelet mounts)."""
        out = {}
        maps = {d["metadata"]["name"]: d for d in self.docs if d["kind"] == "ConfigMap"}
        for obj in self.docs:
            if obj["kind"] not in ("Deployment", "Job"):
                continue
            for vol in kube.pod_spec(obj).get("volumes", []):
                if "configMap" not in vol:
                    continue
                host = self.root / "configmaps" / vol["configMap"]["name"]
                if not host.exists():
                    host.mkdir(parents=True)
                    for name, text in maps[vol["configMap"]["name"]]["data"].items():
                        (host / name).write_text(text)
                out[vol["name"]] = host
        return out

    def process(self, kind: str, component: str, pod: str) -> tuple[list[str], dict[str, str]]:
        obj = kube.one(self.docs, kind, component)
        argv, env = kube.container_process(obj, component, pod_name=pod, mounts=self.mounts(pod),
                                           secrets=self.secrets, services=self.services)
        # The one deviation from the pods: numba's compilation cache.  On a cluster each
        # pod compiles into its /tmp; here every pod uses the cache next to the package
        # (as the rest of the test suite does), which saves ~30 s of JIT per process.
        assert env.pop("NUMBA_CACHE_DIR").startswith(str(self.root))
        return argv, env

    def start(self, kind: str, component: str, pod: str) -> subprocess.Popen:
        argv, env = self.process(kind, component, pod)
        log = open(self.root / f"{pod}.log", "wb")
        # Own session: SIGKILL to the group takes the whole pod (nanny and worker).
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.pods[pod] = proc
        return proc

    def start_cluster(self, n_workers: int) -> None:
        self.start("Deployment", "scheduler", "scheduler")
        self.wait_ready()
        for i in range(n_workers):
            self.start("Deployment", "worker", f"worker-{i}")
        deadline = time.monotonic() + STARTUP_S
        while self.scheduler_call(_worker_names) != sorted(f"worker-{i}" for i in range(n_workers)):
            self.check_alive()
            assert time.monotonic() < deadline, self.logs()
            time.sleep(0.2)

    def wait_ready(self) -> None:
        """What the readiness probe does: GET /health on the dashboard port."""
        deadline = time.monotonic() + STARTUP_S
        while True:
            self.check_alive()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.dashboard_port}/health", timeout=2) as r:
                    if r.status == 200 and r.read() == b"ok":
                        return
            except OSError:
                pass
            assert time.monotonic() < deadline, self.logs()
            time.sleep(0.2)

    def client_config(self) -> dict:
        """The Dask config a pod of this release has (from its DASK_* environment)."""
        import dask.config

        _, env = self.process("Deployment", "worker", "test-client")
        nested = dask.config.collect_env({k: v for k, v in env.items() if k.startswith("DASK_")})

        def flat(d, prefix=""):
            for k, v in d.items():
                if isinstance(v, dict):
                    yield from flat(v, f"{prefix}{k}.")
                else:
                    yield f"{prefix}{k}", v

        # Dotted keys: dask.config.set with a nested dict would replace whole sections.
        return dict(flat(nested))

    def scheduler_call(self, func):
        import dask
        from distributed import Client

        with dask.config.set(self.client_config()):
            with Client(f"{self._scheme()}://127.0.0.1:{self.port}", timeout=20) as client:
                return client.run_on_scheduler(func)

    def _scheme(self) -> str:
        return "tls" if any(d.get("name") == "tls" for d in
                            kube.pod_spec(kube.one(self.docs, "Deployment", "scheduler"))["volumes"]) else "tcp"

    def check_alive(self) -> None:
        for pod, proc in self.pods.items():
            if pod.startswith(("scheduler", "worker")) and proc.poll() is not None and pod not in self.killed:
                raise AssertionError(f"pod {pod} exited with {proc.returncode}\n{self.logs()}")

    killed: set = set()

    def kill(self, pod: str) -> None:
        self.killed = self.killed | {pod}
        os.killpg(self.pods[pod].pid, signal.SIGKILL)
        self.pods[pod].wait(10)

    def logs(self, tail: int = 4000) -> str:
        out = []
        for pod in self.pods:
            text = (self.root / f"{pod}.log").read_bytes().decode(errors="replace")
            out.append(f"--- {pod} ---\n{text[-tail:]}")
        return "\n".join(out)

    def stop(self) -> None:
        for pod, proc in self.pods.items():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in self.pods.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def _by_value() -> None:
    """Ship this module's scheduler-side helpers by value: the scheduler cannot import tests."""
    import cloudpickle

    try:
        cloudpickle.register_pickle_by_value(sys.modules[__name__])
    except ValueError:  # already registered
        pass


_by_value()


def _worker_names(dask_scheduler) -> list[str]:
    return sorted(str(ws.name) for ws in dask_scheduler.workers.values())


def _progress(dask_scheduler) -> dict:
    """Tasks each worker is processing, and tasks finished so far."""
    from vmt_dask.events import TOPIC

    done = 0
    events = dask_scheduler.get_events(TOPIC)
    if events:
        _, msg = events[-1]
        done = sum(v.get("done", 0) for v in msg.get("stages", {}).values())
    done = max(done, sum(1 for ts in dask_scheduler.tasks.values() if ts.state == "memory"))
    return {"processing": {str(ws.name): len(ws.processing) for ws in dask_scheduler.workers.values()},
            "done": done}


@pytest.fixture(scope="module")
def local_results(smoke_study):
    """The smoke study run locally (embedded cluster, the session's: tests/conftest.py), the reference."""
    return smoke_study.results


def assert_same_results(got, expected) -> None:
    import numpy as np
    import xarray as xr

    # The design (theta, seeds, provenance coordinates) must match exactly.
    np.testing.assert_array_equal(got["theta"].values, expected["theta"].values)
    for name in ("seed", "pair", "t", "point", "function", "h"):
        if name in expected.coords:
            np.testing.assert_array_equal(got[name].values, expected[name].values)
    # Descriptors: deterministic functions of the (seeded) voxels; the only admissible
    # difference is floating-point reassociation, ~1e-16 relative per operation over
    # <= 1e6 accumulations, so below 1e-9 relative.
    conduct = [v for v in expected.data_vars
               if v.startswith(("m_factor", "tau_factor", "percolating_fraction"))]
    xr.testing.assert_allclose(got.drop_vars(conduct), expected.drop_vars(conduct), rtol=1e-9, atol=0.0)
    # M-factors come from an iterative solve stopped at a relative residual of 1e-6
    # (run_study's rtol); two solves that differ only in summation order can stop at
    # different iterations, each within the criterion.  The flux error is the residual
    # amplified by at most the preconditioned condition number (O(10) for multigrid),
    # so 1e-4 relative bounds it (observed: 6e-6 at 24^3).
    xr.testing.assert_allclose(got[conduct], expected[conduct], rtol=1e-4, atol=1e-12)


# --- the tests ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_release(tmp_path_factory):
    root = tmp_path_factory.mktemp("tls-release")
    values = kube.load_values(kube.CHART / "ci" / "tls-values.yaml")
    values["study"] = {"preset": "smoke"}
    # Small pods for a 2-core machine: 1 thread and 2 GiB each (the nanny's limit is
    # then 0.9 x 2 GiB, derived by the chart like on a cluster).
    values["worker"] = {"resources": {"limits": {"cpu": "1", "memory": "2Gi"},
                                      "requests": {"cpu": "1", "memory": "2Gi"}}}
    release = LoopbackRelease(root, values)
    make_certificates(release.tls)
    try:
        release.start_cluster(2)
        yield release
    finally:
        release.stop()


def test_tls_is_required(tls_release):
    """Plain TCP and TLS without a client certificate are refused; the pods' own
    configuration gets in; the dashboard answers /health (the probes) and the
    image's health check script agrees."""
    import dask
    from distributed import Client

    addr = f"127.0.0.1:{tls_release.port}"
    with dask.config.set({"distributed.comm.timeouts.connect": "3s"}):
        with pytest.raises((OSError, TimeoutError)):
            Client(f"tcp://{addr}", timeout=3)
    # A TLS client that trusts the CA but has no certificate is refused by the
    # scheduler (mutual TLS): the handshake or the first read fails, or the
    # connection is closed at once.
    ctx = ssl.create_default_context(cafile=str(tls_release.tls / "ca.crt"))
    ctx.check_hostname = False
    refused = False
    try:
        with socket.create_connection(("127.0.0.1", tls_release.port), timeout=5) as sock:
            with ctx.wrap_socket(sock) as tls_sock:
                refused = tls_sock.recv(1) == b""
    except (ssl.SSLError, ConnectionError):
        refused = True
    assert refused
    assert tls_release.scheduler_call(_worker_names) == ["worker-0", "worker-1"]
    # Worker settings from the chart: 1 thread, 0.9 x 2 GiB.
    limits = tls_release.scheduler_call(
        lambda dask_scheduler: sorted((ws.nthreads, ws.memory_limit) for ws in dask_scheduler.workers.values()))
    assert limits == [(1, int(0.9 * 2 * 2**30))] * 2
    if importlib.util.find_spec("vmt_dask.dashboard"):
        # The preloaded study page is served next to /health.
        page = f"http://127.0.0.1:{tls_release.dashboard_port}/vmt/studies"
        with urllib.request.urlopen(page, timeout=10) as response:
            assert response.status == 200
    health = Path(__file__).resolve().parents[2] / "deploy" / "healthcheck.py"
    url = f"http://127.0.0.1:{tls_release.dashboard_port}/health"
    assert subprocess.run([sys.executable, str(health), url], timeout=30).returncode == 0
    dead = f"http://127.0.0.1:{kube.free_port()}/health"
    assert subprocess.run([sys.executable, str(health), dead], capture_output=True, timeout=30).returncode == 1


def test_smoke_study_survives_worker_loss(tls_release, local_results):
    release = tls_release
    job = release.start("Job", "study", "study-job")
    argv, _ = release.process("Job", "study", "study-job")
    assert argv[1:] == ["study", "run", "--preset", "smoke", "--store", str(release.data / "study.zarr"),
                        "--scheduler", f"tls://127.0.0.1:{release.port}"]
    # Kill worker-1 (SIGKILL to its whole pod) while it is processing study tasks and
    # after some tasks have finished: mid-run.
    deadline = time.monotonic() + 240
    while True:
        assert job.poll() is None, "the study ended before a worker could be killed\n" + release.logs()
        release.check_alive()
        state = release.scheduler_call(_progress)
        if state["processing"].get("worker-1", 0) > 0 and state["done"] > 0:
            break
        assert time.monotonic() < deadline, f"no progress: {state}\n{release.logs()}"
        time.sleep(0.05)
    release.kill("worker-1")
    assert job.wait(300) == 0, release.logs()
    assert release.scheduler_call(_worker_names) == ["worker-0"]

    from vmt_dask.study import open_results

    assert_same_results(open_results(str(release.data / "study.zarr")), local_results)
    status = subprocess.run([sys.executable, "-m", "vmt_dask.cli", "study", "status",
                             str(release.data / "study.zarr")], capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and "finished" in status.stdout, status.stdout + status.stderr


# The object-store case's study: the session's tiny study (tests/conftest.py: one point, one
# realization per evaluation, two structures on 16^3, 35 records instead of the smoke preset's
# 134): every record and volume is a round trip to the S3 server, and what is checked (the
# rendering's store URL, endpoint and credentials reach the pods, nothing is written locally,
# the results equal a local run) does not depend on the design's size.  Given to the Job as a
# full spec (the chart's ConfigMap), not a preset.
def test_study_spec_on_object_store(tmp_path, tiny_study):
    """The object-store rendering: store s3://..., endpoint and credentials from the
    chart's env/Secret, against a moto S3 server on loopback; the study given as a full spec
    (the chart's ConfigMap mounted into the Job)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = moto.server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        creds = {"AWS_ACCESS_KEY_ID": "vmt-test", "AWS_SECRET_ACCESS_KEY": "vmt-test-secret"}
        values = kube.load_values(kube.CHART / "ci" / "object-store-values.yaml")
        values["storage"]["objectStore"].update(endpointUrl=f"http://{host}:{port}",
                                                url="s3://vmt-studies/smoke.zarr")
        spec = tiny_study.spec
        values["study"] = {"spec": spec.to_dict()}
        values["worker"] = {"resources": {"limits": {"cpu": "2", "memory": "2Gi"}}}
        release = LoopbackRelease(tmp_path, values,
                                  secrets={values["storage"]["objectStore"]["existingSecret"]: creds})
        argv, env = release.process("Job", "study", "study-job")
        spec_file = release.config_maps["spec"] / "study.yaml"
        assert argv[1:4] == ["study", "run", str(spec_file)] and "--preset" not in argv
        from vmt_dask.study import load_spec

        assert load_spec(str(spec_file)).identity() == spec.identity()  # the ConfigMap holds the spec

        s3fs.S3FileSystem(key=creds["AWS_ACCESS_KEY_ID"], secret=creds["AWS_SECRET_ACCESS_KEY"],
                          endpoint_url=env["AWS_ENDPOINT_URL"]).mkdir("vmt-studies")
        try:
            release.start_cluster(1)
            job = release.start("Job", "study", "study-job")
            assert job.wait(300) == 0, release.logs()
        finally:
            release.stop()
        # Nothing was written locally: the study lives in the bucket.
        assert not (tmp_path / "pvc").exists()
        os.environ.update({**creds, "AWS_ENDPOINT_URL": env["AWS_ENDPOINT_URL"]})
        try:
            from vmt_dask.study import open_results

            got = open_results("s3://vmt-studies/smoke.zarr")
            assert got.attrs["spec_identity"] == spec.identity() and got.sizes["structure"] == 2
            assert_same_results(got, tiny_study.results)
        finally:
            for k in (*creds, "AWS_ENDPOINT_URL"):
                os.environ.pop(k, None)
    finally:
        server.stop()
