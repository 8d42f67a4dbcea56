"""The Helm chart, rendered offline: lint, Kubernetes schemas, security, values schema."""
from __future__ import annotations

import copy
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

import deploy_kube as kube  # registered by conftest.py
from vmt_dask.study.spec import spec_from_dict

CHART, CI_VALUES, KUBE_VERSION, NAMESPACE, RELEASE = (
    kube.CHART, kube.CI_VALUES, kube.KUBE_VERSION, kube.NAMESPACE, kube.RELEASE)
documents, find, load_values, one, pod_spec, render = (
    kube.documents, kube.find, kube.load_values, kube.one, kube.pod_spec, kube.render)


WORKLOADS = ("Deployment", "Job")


def _ids(paths):
    return [p.name.removesuffix("-values.yaml") for p in paths]


@pytest.fixture(scope="module", params=CI_VALUES, ids=_ids(CI_VALUES))
def case(request) -> tuple[dict[str, Any], dict[str, str], list[dict[str, Any]]]:
    values = load_values(request.param)
    rendered = render(values)
    return values, rendered, documents(rendered)


def test_ci_cases_cover_the_options():
    names = set(_ids(CI_VALUES))
    assert {"default", "tls", "object-store", "ingress", "notebook"} <= names


# --- lint and schemas -------------------------------------------------------------


@pytest.mark.parametrize("path", CI_VALUES, ids=_ids(CI_VALUES))
def test_lint_strict(path):
    report = helm.lint(str(CHART), load_values(path), strict=True, kube_version=f"v{KUBE_VERSION}")
    assert report["errors"] == []
    # Strict lint: warnings count as failures; INFO ("icon is recommended") does not.
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert problems == []


def test_every_document_validates_against_kubernetes_schemas(case):
    _, _, docs = case
    assert docs
    for doc in docs:
        # strict: additionalProperties are errors, so misspelt fields fail too.
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def test_validation_is_strict():
    """The validator really catches a misspelt field (guards the test above)."""
    doc = copy.deepcopy(one(documents(render()), "Deployment", "worker"))
    pod_spec(doc)["containers"][0]["securityContext"]["runAsNonRot"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def test_values_schema_accepts_defaults_and_ci_cases():
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema({})
        for path in CI_VALUES:
            chart.validate_schema(load_values(path))


BAD_VALUES = {
    "negative replicas": {"worker": {"replicas": -1}},
    "tls without secret": {"tls": {"enabled": True}},
    "LoadBalancer service": {"scheduler": {"serviceType": "LoadBalancer"}},
    "unknown top-level key": {"service": {"type": "NodePort"}},
    "worker without memory limit": {"worker": {"resources": {"limits": {"memory": None}}}},
    "worker without cpu limit": {"worker": {"resources": {"limits": {"cpu": None}}}},
    "malformed memory": {"worker": {"resources": {"limits": {"memory": "8GB"}}}},
    "malformed cpu": {"worker": {"resources": {"limits": {"cpu": "two"}}}},
    "root user": {"podSecurity": {"runAsUser": 0}},
    "object store without url": {"storage": {"type": "objectStore"}},
    "object store without secret": {
        "storage": {"type": "objectStore", "objectStore": {"url": "s3://b/s.zarr"}}
    },
    "memory limit at container limit": {"worker": {"memoryLimitFraction": 1.0}},
    "ReadWriteOnce store": {"storage": {"pvc": {"accessModes": ["ReadWriteOnce"]}}},
    "unknown preset": {"study": {"preset": "huge"}},
    "ingress without host": {"ingress": {"enabled": True}},
    "bad storage type": {"storage": {"type": "hostPath"}},
    "bad pull policy": {"image": {"pullPolicy": "Sometimes"}},
    "port out of range": {"scheduler": {"port": 70000}},
    "wide-open dashboard peer": {"networkPolicy": {"dashboardFrom": [{}]}},
}


@pytest.mark.parametrize("values", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_values_schema_rejects_bad_values(values):
    with helm.Chart.load(str(CHART)) as chart:
        with pytest.raises(helm.HelmValuesError):
            chart.validate_schema(values)
    # And an install (render through the schema) refuses them too.
    report = helm.lint(str(CHART), values, strict=True)
    assert report["errors"] or any(m["severity"] == 3 for m in report["messages"])


# --- security ---------------------------------------------------------------------


def test_pods_are_locked_down(case):
    _, _, docs = case
    workloads = [d for d in docs if d["kind"] in WORKLOADS]
    assert workloads
    for obj in workloads:
        spec = pod_spec(obj)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] > 0
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert spec["automountServiceAccountToken"] is False
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC")
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True, c["name"]
            assert sc["readOnlyRootFilesystem"] is True, c["name"]
            assert sc["allowPrivilegeEscalation"] is False, c["name"]
            assert sc["capabilities"]["drop"] == ["ALL"], c["name"]
            assert "add" not in sc["capabilities"], c["name"]
            assert sc.get("privileged", False) is False
            # A read-only root needs a writable /tmp for HOME, numba, matplotlib, spill.
            assert any(m["mountPath"] == "/tmp" for m in c["volumeMounts"])
            assert c["resources"]["limits"]
        for v in spec["volumes"]:
            assert "hostPath" not in v


def test_services_are_cluster_ip_only(case):
    _, _, docs = case
    services = find(docs, "Service")
    assert services
    for svc in services:
        assert svc["spec"]["type"] == "ClusterIP"
        assert not svc["spec"].get("externalIPs")
        assert all("nodePort" not in p for p in svc["spec"]["ports"])


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_network_policy_admits_scheduler_port_only_from_release_pods(case):
    values, _, docs = case
    policies = find(docs, "NetworkPolicy")
    assert policies, "a NetworkPolicy is on by default"
    scheduler = one(docs, "Deployment", "scheduler")
    sched_labels = scheduler["spec"]["template"]["metadata"]["labels"]
    comm = scheduler["spec"]["template"]["spec"]["containers"][0]["ports"][0]
    assert comm["name"] == "comm"
    release_pods = [
        d["spec"]["template"]["metadata"]["labels"] for d in docs if d["kind"] in WORKLOADS
    ]
    governing = [p for p in policies if _matches(p["spec"]["podSelector"]["matchLabels"], sched_labels)]
    assert governing, "the scheduler must be isolated by a policy"
    admitted_comm = False
    for policy in governing:
        assert "Ingress" in policy["spec"]["policyTypes"]
        for rule in policy["spec"].get("ingress", []):
            ports = rule.get("ports")
            covers_comm = ports is None or any(
                p.get("port") in (comm["containerPort"], "comm") for p in ports
            )
            if not covers_comm:
                continue
            admitted_comm = True
            peers = rule.get("from")
            assert peers, "an empty 'from' would admit everyone"
            for peer in peers:
                assert set(peer) == {"podSelector"}, f"non-pod peer may reach 8786: {peer}"
                sel = peer["podSelector"]["matchLabels"]
                assert sel["app.kubernetes.io/instance"] == RELEASE
                assert sel["app.kubernetes.io/name"]
                # Every peer selector picks only this release's pods ...
                assert all(_matches(sel, labels) for labels in release_pods)
    assert admitted_comm, "workers and the study Job must reach the scheduler"
    # ... and the dashboard peers (e.g. an ingress controller) get the dashboard port only.
    if values.get("networkPolicy", {}).get("dashboardFrom"):
        dash = [p for p in policies if p["metadata"]["name"].endswith("-dashboard")]
        (rule,) = dash[0]["spec"]["ingress"]
        assert [p["port"] for p in rule["ports"]] == [scheduler_dashboard_port(scheduler)]


def scheduler_dashboard_port(scheduler) -> int:
    ports = scheduler["spec"]["template"]["spec"]["containers"][0]["ports"]
    return next(p["containerPort"] for p in ports if p["name"] == "dashboard")


# --- what the pods run ------------------------------------------------------------


def _container(obj):
    (c,) = pod_spec(obj)["containers"]
    return c


def _env(c) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}


def test_scheduler_deployment_and_service():
    docs = documents(render())
    sched = one(docs, "Deployment", "scheduler")
    c = _container(sched)
    assert c["command"] == ["dask", "scheduler"]
    assert c["args"][:2] == ["--protocol", "tcp"]
    assert "--preload" in c["args"] and "vmt_dask.dashboard" in c["args"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/health", "port": "dashboard"}
    svc = one(docs, "Service", "scheduler")
    assert {(p["name"], p["port"]) for p in svc["spec"]["ports"]} == {("comm", 8786), ("dashboard", 8787)}
    assert svc["spec"]["selector"] == sched["spec"]["selector"]["matchLabels"]
    # Without the preload the chart still works (plain dask scheduler).
    c = _container(one(documents(render({"scheduler": {"preload": []}})), "Deployment", "scheduler"))
    assert "--preload" not in c["args"]


@pytest.mark.parametrize(
    "limits, fraction, nthreads, memory_limit",
    [
        # 0.9 x 8 GiB = 0.9 x 8589934592 B = 7730941132.8 B, floored.
        ({"cpu": "2", "memory": "8Gi"}, 0.9, 2, 7730941132),
        # 3500m rounds down to 3 threads; 0.8 x 6000 MB = 4.8e9 B.
        ({"cpu": "3500m", "memory": "6000M"}, 0.8, 3, 4800000000),
        # Half a core still gets one thread; 0.95 x 1536 MiB = 0.95 x 1610612736 B = 1530082099.2 B.
        ({"cpu": 0.5, "memory": "1536Mi"}, 0.95, 1, 1530082099),
        # Bare byte counts.
        ({"cpu": 16, "memory": "68719476736"}, 0.5, 16, 34359738368),
    ],
)
def test_worker_threads_and_memory_follow_container_limits(limits, fraction, nthreads, memory_limit):
    values = {"worker": {"memoryLimitFraction": fraction, "resources": {"limits": limits}}}
    c = _container(one(documents(render(values)), "Deployment", "worker"))
    args = c["args"]
    assert args[args.index("--nthreads") + 1] == str(nthreads)
    assert args[args.index("--memory-limit") + 1] == str(memory_limit)


def test_explicit_nthreads_wins():
    c = _container(one(documents(render({"worker": {"nthreads": 7}})), "Deployment", "worker"))
    assert c["args"][c["args"].index("--nthreads") + 1] == "7"


def test_worker_replicas_and_scheduler_address():
    docs = documents(render({"worker": {"replicas": 5}}))
    worker = one(docs, "Deployment", "worker")
    assert worker["spec"]["replicas"] == 5
    env = _env(_container(worker))
    assert env["DASK_SCHEDULER_ADDRESS"] == f"tcp://{RELEASE}-vmt-dask-scheduler:8786"
    # Parallelism across tasks; single-threaded kernels (as in the embedded cluster).
    assert env["NUMBA_NUM_THREADS"] == env["OMP_NUM_THREADS"] == "1"
    assert c_has_probe(_container(worker), "/health")


def c_has_probe(c, path):
    return c["livenessProbe"]["httpGet"]["path"] == path


def test_tls_sets_dask_comm_config_for_every_component():
    values = load_values(CHART / "ci" / "tls-values.yaml")
    docs = documents(render(values))
    for obj in [d for d in docs if d["kind"] in WORKLOADS]:
        c = _container(obj)
        env = _env(c)
        assert env["DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION"] == "True"
        assert env["DASK_DISTRIBUTED__COMM__TLS__CA_FILE"] == "/etc/vmt-dask/tls/ca.crt"
        for role in ("SCHEDULER", "WORKER", "CLIENT"):
            assert env[f"DASK_DISTRIBUTED__COMM__TLS__{role}__CERT"] == "/etc/vmt-dask/tls/tls.crt"
            assert env[f"DASK_DISTRIBUTED__COMM__TLS__{role}__KEY"] == "/etc/vmt-dask/tls/tls.key"
        if "DASK_SCHEDULER_ADDRESS" in env:
            assert env["DASK_SCHEDULER_ADDRESS"].startswith("tls://")
        mount = next(m for m in c["volumeMounts"] if m["name"] == "tls")
        assert mount == {"name": "tls", "mountPath": "/etc/vmt-dask/tls", "readOnly": True}
        vol = next(v for v in pod_spec(obj)["volumes"] if v["name"] == "tls")
        assert vol["secret"]["secretName"] == values["tls"]["existingSecret"]
    sched = _container(one(docs, "Deployment", "scheduler"))
    assert sched["args"][:2] == ["--protocol", "tls"]


def test_storage_on_pvc():
    docs = documents(render())
    pvc = one(docs, "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    for component in ("worker", "study"):
        obj = next(d for d in docs if d["kind"] in WORKLOADS and
                   d["metadata"]["labels"]["app.kubernetes.io/component"] == component)
        assert _env(_container(obj))["VMT_STORE"] == "/data/study.zarr"
        claim = next(v for v in pod_spec(obj)["volumes"] if v["name"] == "data")
        assert claim["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    # The scheduler never opens the store.
    assert all(v["name"] != "data" for v in pod_spec(one(docs, "Deployment", "scheduler"))["volumes"])
    # An existing claim: no PVC created, the claim is mounted.
    docs = documents(render({"storage": {"pvc": {"existingClaim": "shared"}}}))
    assert not find(docs, "PersistentVolumeClaim")
    vols = pod_spec(one(docs, "Deployment", "worker"))["volumes"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "shared"}} in vols


def test_storage_on_object_store():
    values = load_values(CHART / "ci" / "object-store-values.yaml")
    docs = documents(render(values))
    assert not find(docs, "PersistentVolumeClaim")
    for obj in (one(docs, "Deployment", "worker"), one(docs, "Job", "study")):
        c = _container(obj)
        env = _env(c)
        assert env["VMT_STORE"] == values["storage"]["objectStore"]["url"]
        assert env["AWS_ENDPOINT_URL"] == values["storage"]["objectStore"]["endpointUrl"]
        assert c["envFrom"] == [{"secretRef": {"name": values["storage"]["objectStore"]["existingSecret"]}}]
        assert all(m["name"] != "data" for m in c["volumeMounts"])


def test_study_job_runs_preset_or_configmap_spec():
    docs = documents(render())
    job = one(docs, "Job", "study")
    c = _container(job)
    assert c["command"] == ["vmt", "study", "run"]
    assert c["args"] == ["--preset", "demo", "--store", "$(VMT_STORE)",
                         "--scheduler", "$(DASK_SCHEDULER_ADDRESS)"]
    assert pod_spec(job)["restartPolicy"] == "Never"
    assert not find(docs, "ConfigMap")

    values = load_values(CHART / "ci" / "study-spec-values.yaml")
    docs = documents(render(values))
    cm = one(docs, "ConfigMap", "study")
    assert yaml.safe_load(cm["data"]["study.yaml"]) == values["study"]["spec"]
    job = one(docs, "Job", "study")
    c = _container(job)
    assert c["args"][0] == "/etc/vmt-dask/study/study.yaml"
    assert {"name": "spec", "mountPath": "/etc/vmt-dask/study", "readOnly": True} in c["volumeMounts"]
    assert {"name": "spec", "configMap": {"name": cm["metadata"]["name"]}} in pod_spec(job)["volumes"]
    # The spec in the ci case is one the study code accepts.
    spec_from_dict(values["study"]["spec"])
    # Off: no Job at all.
    assert not find(documents(render({"study": {"enabled": False}})), "Job")


def test_notebook():
    docs = documents(render(load_values(CHART / "ci" / "notebook-values.yaml")))
    nb = one(docs, "Deployment", "notebook")
    c = _container(nb)
    env = _env(c)
    assert env["DASK_SCHEDULER_ADDRESS"] == f"tcp://{RELEASE}-vmt-dask-scheduler:8786"
    assert env["JUPYTER_TOKEN"] == {"secretKeyRef": {"name": f"{RELEASE}-vmt-dask-notebook", "key": "token"}}
    secret = one(docs, "Secret", "notebook")
    assert len(secret["data"]["token"]) >= 48
    assert one(docs, "Service", "notebook")["spec"]["type"] == "ClusterIP"
    assert not find(documents(render()), "Deployment", "notebook")


def test_ingress():
    values = load_values(CHART / "ci" / "ingress-values.yaml")
    docs = documents(render(values))
    ing = one(docs, "Ingress")
    assert ing["apiVersion"] == "networking.k8s.io/v1"
    assert ing["spec"]["ingressClassName"] == "nginx"
    (rule,) = ing["spec"]["rules"]
    assert rule["host"] == values["ingress"]["host"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": f"{RELEASE}-vmt-dask-scheduler", "port": {"name": "dashboard"}}
    assert ing["spec"]["tls"][0]["secretName"] == values["ingress"]["tlsSecretName"]
    assert not find(documents(render()), "Ingress")


def test_notes_give_port_forward_commands():
    notes = render(load_values(CHART / "ci" / "notebook-values.yaml"))["vmt-dask/templates/NOTES.txt"]
    assert f"kubectl -n {NAMESPACE} port-forward svc/{RELEASE}-vmt-dask-scheduler 8787:8787" in notes
    assert f"kubectl -n {NAMESPACE} port-forward svc/{RELEASE}-vmt-dask-notebook 8888:8888" in notes


def test_labels_and_selectors_are_consistent(case):
    _, _, docs = case
    for obj in docs:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert len(obj["metadata"]["name"]) <= 63
        if obj["kind"] == "Deployment":
            sel = obj["spec"]["selector"]["matchLabels"]
            assert _matches(sel, obj["spec"]["template"]["metadata"]["labels"])
            # Selectors are immutable: no version in them.
            assert "app.kubernetes.io/version" not in sel and "helm.sh/chart" not in sel
