"""deploy/: the Dockerfile (static checks, no Docker engine here), the pinned
constraints and the container health check."""
from __future__ import annotations

import http.server
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def _instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_runs_as_numeric_non_root_user():
    ins = _instructions()
    users = [rest for word, rest in ins if word == "USER"]
    assert users, "the image must switch away from root"
    uid = users[-1].split(":")[0]
    # Numeric, so that Kubernetes can verify runAsNonRoot; the chart's default user.
    assert uid.isdigit() and int(uid) > 0
    values = (REPO / "helm" / "vmt-dask" / "values.yaml").read_text()
    assert re.search(rf"runAsUser: {uid}\b", values)
    # Nothing runs as root after the switch.
    last_from = max(i for i, (w, _) in enumerate(ins) if w == "FROM")
    last_user = max(i for i, (w, _) in enumerate(ins) if w == "USER")
    assert last_user > last_from
    assert all(w != "RUN" for w, _ in ins[last_user:])


def test_dockerfile_pins_versions_and_has_a_health_check():
    ins = _instructions()
    runs = " ".join(rest for word, rest in ins if word == "RUN")
    assert "--constraint /tmp/constraints.txt" in runs
    assert any(w == "COPY" and rest.startswith("deploy/constraints.txt") for w, rest in ins)
    health = [rest for word, rest in ins if word == "HEALTHCHECK"]
    assert health and "vmt-healthcheck" in health[0]
    assert any(w == "COPY" and "deploy/healthcheck.py" in rest for w, rest in ins)
    # Everything the chart runs is on PATH in the image: dask, vmt, jupyter.
    assert "/opt/vmt/bin" in " ".join(rest for w, rest in ins if w == "ENV")
    assert '".[notebook]"' in runs and "s3fs" in runs and "bokeh" in runs


def _pins() -> dict[str, str]:
    pins = {}
    for line in (DEPLOY / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version, f"not an exact pin: {line!r}"
            pins[name] = version
    return pins


def test_constraints_pin_every_runtime_dependency():
    import tomllib

    pins = _pins()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = list(project["dependencies"]) + list(project["optional-dependencies"].get("notebook", []))
    for dep in deps:
        name = re.match(r"[A-Za-z0-9_.-]+", dep).group(0)
        name = re.sub(r"[-_.]+", "-", name).lower()
        assert name in pins, f"{name} is not pinned in deploy/constraints.txt"
    # Client, scheduler and workers must speak the same protocol.
    assert pins["dask"] == pins["distributed"]
    for name in ("bokeh", "s3fs", "msgpack", "cloudpickle", "tornado"):
        assert name in pins
    assert "vmt-dask" not in pins


def test_constraints_generator_output_matches_format(tmp_path):
    out = tmp_path / "c.txt"
    subprocess.run([sys.executable, str(DEPLOY / "make_constraints.py"), "--output", str(out)],
                   check=True, capture_output=True, timeout=60)
    lines = [ln for ln in out.read_text().splitlines() if not ln.startswith("#")]
    assert all("==" in ln for ln in lines)
    names = [ln.partition("==")[0] for ln in lines]
    assert names == sorted(names)
    assert any(ln.startswith("distributed==") for ln in lines)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server API)
        code = 200 if self.path == "/health" else 503
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"ok" if code == 200 else b"no")

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _check(*args, env=None):
    import os

    env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, str(DEPLOY / "healthcheck.py"), *args], env=env,
                          capture_output=True, text=True, timeout=30).returncode


def test_healthcheck(http_server):
    assert _check(f"{http_server}/health") == 0
    assert _check(f"{http_server}/other") == 1
    assert _check(env={"VMT_HEALTH_URL": f"{http_server}/health"}) == 0
    # The study Job is a batch process: healthy while it runs.
    assert _check(env={"VMT_ROLE": "study", "VMT_HEALTH_URL": ""}) == 0
    assert _check(env={"VMT_ROLE": "nonsense", "VMT_HEALTH_URL": ""}) == 1
