"""Helpers for the deployment tests (loaded by path from the test modules): render the Helm chart offline and
turn a rendered container into the process a kubelet would start.

Helm is embedded by ``helm-python-sdk`` (Helm's Go SDK behind a C ABI, loaded
with ctypes), so no ``helm`` binary and no cluster are needed.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "vmt-dask"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
RELEASE = "demo"
NAMESPACE = "vmt"
#: Kubernetes release whose schemas the manifests are validated against.
KUBE_VERSION = "1.37.0"


def load_values(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def render(values: dict[str, Any] | None = None, *, release: str = RELEASE) -> dict[str, str]:
    """Render the chart offline: ``{template path: manifest text}``."""
    with helm.Chart.load(str(CHART)) as chart:
        return chart.render(values or {}, name=release, namespace=NAMESPACE, is_install=True)


def documents(rendered: dict[str, str]) -> list[dict[str, Any]]:
    """Every Kubernetes object of a rendered chart (NOTES.txt left out)."""
    docs = []
    for path, text in sorted(rendered.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def find(docs: list[dict[str, Any]], kind: str, component: str | None = None) -> list[dict[str, Any]]:
    out = []
    for d in docs:
        if d["kind"] != kind:
            continue
        labels = d["metadata"].get("labels", {})
        if component is None or labels.get("app.kubernetes.io/component") == component:
            out.append(d)
    return out


def one(docs: list[dict[str, Any]], kind: str, component: str | None = None) -> dict[str, Any]:
    found = find(docs, kind, component)
    assert len(found) == 1, f"expected one {kind} {component}, found {len(found)}"
    return found[0]


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- a kubelet on loopback ----------------------------------------------------------

_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")


def _expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in command/args (``$$`` escapes a dollar)."""

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _VAR_REF.sub(sub, text)


def container_process(
    obj: dict[str, Any],
    container: str,
    *,
    pod_name: str,
    mounts: dict[str, Path],
    secrets: dict[str, dict[str, str]] | None = None,
    services: dict[str, str] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment the kubelet gives ``container`` of a workload.

    Emulates, on this machine: volume mounts (each ``mountPath`` of the container
    is mapped to a host directory from ``mounts``, keyed by volume name), the
    downward API (pod name, pod IP = 127.0.0.1), ``secretKeyRef``/``envFrom``
    (from ``secrets``), cluster DNS (each Service name in ``services`` resolves to
    the given host) and ``$(VAR)`` expansion.  Commands resolve to this Python
    environment's scripts, standing in for the image's PATH.
    """
    secrets = secrets or {}
    services = services or {}
    spec = pod_spec(obj)
    (c,) = [c for c in spec["containers"] if c["name"] == container]
    paths = {}
    for m in c.get("volumeMounts", []):
        host = mounts[m["name"]]
        host.mkdir(parents=True, exist_ok=True)
        paths[m["mountPath"]] = str(host)

    def translate(value: str) -> str:
        for mount in sorted(paths, key=len, reverse=True):
            if value == mount or value.startswith(mount + "/"):
                value = paths[mount] + value[len(mount):]
                break
        for name, host in services.items():
            value = re.sub(rf"(?<=://){re.escape(name)}(?=:)", host, value)
        return value

    # The container's view first (its own paths and names); each final value is then
    # translated to this machine exactly once.
    cenv: dict[str, str] = {}
    for src in c.get("envFrom", []):
        cenv.update(secrets[src["secretRef"]["name"]])
    for item in c.get("env", []):
        if "value" in item:
            cenv[item["name"]] = _expand(str(item["value"]), cenv)
            continue
        ref = item["valueFrom"]
        if "fieldRef" in ref:
            field = ref["fieldRef"]["fieldPath"]
            cenv[item["name"]] = {"metadata.name": pod_name, "status.podIP": "127.0.0.1"}[field]
        elif "secretKeyRef" in ref:
            cenv[item["name"]] = secrets[ref["secretKeyRef"]["name"]][ref["secretKeyRef"]["key"]]
        else:  # pragma: no cover - the chart uses no other sources
            raise AssertionError(f"unsupported env source {ref}")
    argv = [translate(_expand(str(a), cenv)) for a in c.get("command", []) + c.get("args", [])]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DASK_", "VMT_", "AWS_"))}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.update({k: translate(v) for k, v in cenv.items()})
    exe = shutil.which(argv[0], path=env["PATH"])
    assert exe, f"{argv[0]} not found on PATH"
    argv[0] = exe
    return argv, env
