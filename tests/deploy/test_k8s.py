"""deploy/k8s: every manifest the base and the production overlay render is valid against the Kubernetes schema,
and holds what the collector needs to run as several replicas safely (probes, limits, a restricted security
context, the migration Job, the monthly CronJob, the network policy, TLS, agents confined to their routes)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
#: The oldest Kubernetes the manifests promise to work with (CronJob timeZone is GA since 1.27).
KUBERNETES = "1.30.0"
AGENT_ROUTES = {"/api/v1/enroll", "/api/v1/reports", "/api/v1/agents/heartbeat"}


def render(directory: Path) -> list[dict[str, Any]]:
    """What `kubectl apply -k` would apply (kubectl's built-in kustomize)."""
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl (with its built-in kustomize) is needed to render deploy/k8s; .ci/run installs it")
    out = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@pytest.fixture(scope="module", params=["base", "overlays/production"])
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(K8S / request.param)


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def pod_specs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    specs = [d["spec"]["template"]["spec"] for d in docs if d["kind"] in ("Deployment", "Job")]
    specs += [d["spec"]["jobTemplate"]["spec"]["template"]["spec"] for d in by_kind(docs, "CronJob")]
    return specs


def test_every_manifest_is_valid_against_the_kubernetes_schema(rendered):
    assert len(rendered) >= 9
    for doc in rendered:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_the_collector_runs_as_replicas_with_probes_and_limits(rendered):
    (deployment,) = by_kind(rendered, "Deployment")
    assert deployment["spec"]["replicas"] >= 2
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"  # /healthz checks the database
    assert "livenessProbe" in container and "httpGet" not in container["livenessProbe"]  # no restart on a DB outage
    assert {"cpu", "memory"} <= set(container["resources"]["requests"]) and container["resources"]["limits"]["memory"]
    env = {e["name"] for e in container["env"]}
    assert "HERKOMST_DATABASE_URL" in env and all("value" not in e for e in container["env"]
                                                   if e["name"] == "HERKOMST_DATABASE_URL")  # from a Secret only
    (config,) = by_kind(rendered, "ConfigMap")
    assert config["data"]["HERKOMST_MIGRATE_ON_START"] == "false"  # the Job migrates, the replicas do not race
    assert by_kind(rendered, "PodDisruptionBudget")


def test_every_pod_meets_the_restricted_pod_security_standard(rendered):
    specs = pod_specs(rendered)
    assert len(specs) == 3  # collector, migration, monthly report
    for spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert spec["automountServiceAccountToken"] is False
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"]["drop"] == ["ALL"] and "resources" in container


def test_migration_job_and_monthly_report_cronjob(rendered):
    (job,) = by_kind(rendered, "Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["herkomst", "collector", "migrate"]
    (cron,) = by_kind(rendered, "CronJob")
    assert cron["spec"]["schedule"] == "0 6 1 * *" and cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert "herkomst collector report" in " ".join(cron["spec"]["jobTemplate"]["spec"]["template"]["spec"][
        "containers"][0]["args"])


def test_agents_reach_only_their_routes_and_everything_is_tls(rendered):
    ingresses = {i["metadata"]["name"]: i for i in by_kind(rendered, "Ingress")}
    assert all(i["spec"]["tls"] for i in ingresses.values())
    paths = {p["path"] for r in ingresses["herkomst-agents"]["spec"]["rules"] for p in r["http"]["paths"]}
    assert paths == AGENT_ROUTES
    assert all(p["pathType"] == "Exact" for r in ingresses["herkomst-agents"]["spec"]["rules"]
               for p in r["http"]["paths"])
    (policy,) = by_kind(rendered, "NetworkPolicy")
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    selected = policy["spec"]["podSelector"]["matchLabels"]
    for doc in rendered:  # the policy selects every pod the manifests make
        if doc["kind"] in ("Deployment", "Job"):
            assert selected.items() <= doc["spec"]["template"]["metadata"]["labels"].items(), doc["kind"]
    egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert egress_ports == {5432, 53}


def test_the_production_overlay_pins_the_image_and_enforces_restricted_pods():
    docs = render(K8S / "overlays" / "production")
    (namespace,) = by_kind(docs, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert all(d["metadata"].get("namespace") == "herkomst" for d in docs if d["kind"] != "Namespace")
    images = {c["image"] for spec in pod_specs(docs) for c in spec["containers"]}
    assert images == {"registry.example/herkomst/collector:0.1.0"}
    (deployment,) = by_kind(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 3
