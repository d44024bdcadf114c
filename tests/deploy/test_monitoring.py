"""In a cluster, the Prometheus Operator finds every service's metrics and the alert rules."""

from pathlib import Path
from typing import Any

import yaml

from jan_models.ops.generated import PROMETHEUS_RULE
from jan_models.stack import SERVICES

DEPLOY = Path(__file__).parents[2] / "deploy"


def kustomization() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    return document


def resources() -> list[dict[str, Any]]:
    """What `kubectl apply -k deploy/` creates, with the kustomization's common labels."""
    common = {k: v for entry in kustomization()["labels"] for k, v in entry["pairs"].items()}
    documents = []
    for path in kustomization()["resources"]:
        for document in yaml.safe_load_all((DEPLOY / path).read_text()):
            if document:
                document["metadata"]["labels"] = document["metadata"].get("labels", {}) | common
                documents.append(document)
    return documents


def test_the_service_monitors_select_each_services_metrics_port() -> None:
    applied = resources()
    monitors = [d for d in applied if d["kind"] == "ServiceMonitor"]
    for service in SERVICES:
        [svc] = [
            d
            for d in applied
            if d["kind"] == "Service" and d["metadata"]["name"] == f"jan-models-{service}"
        ]
        selected = [
            endpoint
            for monitor in monitors
            if monitor["metadata"]["namespace"] == svc["metadata"]["namespace"]
            and monitor["spec"]["selector"]["matchLabels"].items()
            <= svc["metadata"]["labels"].items()
            for endpoint in monitor["spec"]["endpoints"]
        ]
        ports = {port["name"] for port in svc["spec"]["ports"]}
        assert [(e["port"], e["path"]) for e in selected if e["port"] in ports] == [
            ("metrics", "/metrics")
        ], service


def test_the_alert_rules_are_part_of_the_kustomization() -> None:
    assert str(Path(PROMETHEUS_RULE).relative_to("deploy")) in kustomization()["resources"]
    [rule] = [d for d in resources() if d["kind"] == "PrometheusRule"]
    assert rule["metadata"]["namespace"] == "jan-models-system"
    assert rule["spec"]["groups"]
