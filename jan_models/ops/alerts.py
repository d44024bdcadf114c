"""The alert rules, built from Python so each `for:` (and threshold) is a parameter.

`deploy/prometheus/jan-models-rules.yaml` (a plain rules file) and
`deploy/prometheus/prometheusrule.yaml` (the same groups as a PrometheusRule for the
Prometheus Operator) are `render_*(AlertSettings())`; tests build the same rules with
short durations and run them through `promtool test rules`.
"""

from dataclasses import dataclass
from typing import Any, Final

import yaml


@dataclass(frozen=True, slots=True)
class AlertSettings:
    model_failed_for: str = "1m"
    model_degraded_for: str = "10m"
    drift_window: str = "1h"
    drift_repeats: int = 3
    drift_for: str = "0m"
    outbox_oldest_seconds: int = 60
    outbox_for: str = "2m"
    backlog_window: str = "10m"
    backlog_for: str = "10m"
    inventory_lag_seconds: int = 30
    inventory_lag_for: str = "5m"
    watch_not_synced_for: str = "5m"
    gpus_exhausted_for: str = "15m"
    quota_for: str = "5m"


def drifts_within(window: str) -> str:
    """Drifts per model in the last `window`. Not `increase()`: a model's counter appears
    at its first drift, at 1, and `increase()` would not count that one."""
    drifts = "jan_models_inventory_model_drifts_total"
    return f"({drifts} - ({drifts} offset {window} or {drifts} * 0))"


def _alert(
    name: str, expr: str, duration: str, *, severity: str, summary: str, description: str
) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity},
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook": f"README.md, section Operating it, alert {name}",
        },
    }


def rule_groups(s: AlertSettings) -> list[dict[str, Any]]:
    models = [
        _alert(
            "JanModelsModelFailed",
            'sum by (organization_id) (jan_models_models{status="failed"}) > 0',
            s.model_failed_for,
            severity="warning",
            summary="Organization {{ $labels.organization_id }} has {{ $value }} failed model(s)",
            description="A model's apply was rejected, its image cannot be pulled, or its pods"
            " crash-loop. GET /v1/organization/models/{id} shows status_reason.",
        ),
        _alert(
            "JanModelsModelDegraded",
            'sum by (organization_id) (jan_models_models{status="degraded"}) > 0',
            s.model_degraded_for,
            severity="warning",
            summary="Organization {{ $labels.organization_id }} has {{ $value }} model(s)"
            f" without a ready replica for {s.model_degraded_for}",
            description="A model that was running has had no ready replica for a while.",
        ),
        _alert(
            "JanModelsModelDriftRepeated",
            f"{drifts_within(s.drift_window)} >= {s.drift_repeats}",
            s.drift_for,
            severity="warning",
            summary="Model {{ $labels.namespace }}/{{ $labels.name }} drifted"
            f" {s.drift_repeats} times or more in {s.drift_window}",
            description="Something outside jan-models keeps changing the model's objects; each"
            " drift is repaired, so find who writes them (kubectl get -o yaml, managedFields).",
        ),
    ]
    control_plane = [
        _alert(
            "JanModelsOutboxStale",
            f"jan_models_api_outbox_oldest_seconds > {s.outbox_oldest_seconds}",
            s.outbox_for,
            severity="critical",
            summary="A command has waited {{ $value | humanizeDuration }} in the api's outbox",
            description="The api cannot publish to JetStream: check NATS and the api's log.",
        ),
        _alert(
            "JanModelsDeployerBacklogGrowing",
            f"min_over_time(jan_models_deployer_command_backlog[{s.backlog_window}]) > 0"
            f" and deriv(jan_models_deployer_command_backlog[{s.backlog_window}]) > 0",
            s.backlog_for,
            severity="warning",
            summary="The deployer's command backlog keeps growing ({{ $value }} waiting)",
            description="Commands arrive faster than the deployer applies them, or it is"
            " stuck: check its log, apply latency and the Kubernetes API.",
        ),
        _alert(
            "JanModelsInventoryLagHigh",
            "histogram_quantile(0.99, sum by (le)"
            " (rate(jan_models_inventory_watch_lag_seconds_bucket[5m])))"
            f" > {s.inventory_lag_seconds}",
            s.inventory_lag_for,
            severity="warning",
            summary="The inventory sees cluster changes {{ $value | humanizeDuration }} late",
            description="Watch events arrive late: the inventory is overloaded or the API"
            " server is slow; statuses and admission decisions lag behind the cluster.",
        ),
        _alert(
            "JanModelsWatchNotSynced",
            "jan_models_inventory_watch_synced == 0",
            s.watch_not_synced_for,
            severity="critical",
            summary="The inventory's {{ $labels.kind }} watch has not synced",
            description="Until every watch syncs, reads and creates answer 503. Check the"
            " inventory's RBAC and its connection to the API server.",
        ),
    ]
    capacity = [
        _alert(
            "JanModelsGpusExhausted",
            "sum by (product) (jan_models_gpu_free"
            " * on (node) group_left () jan_models_node_schedulable) == 0",
            s.gpus_exhausted_for,
            severity="warning",
            summary="No free GPU of product {{ $labels.product }} on any schedulable node",
            description="New models asking for this product will be refused (400, no node"
            " fits). Add nodes, uncordon, or remove idle models.",
        ),
        _alert(
            "JanModelsOrganizationAtQuota",
            'jan_models_quota_gpus{kind="used"} >= ignoring (kind)'
            ' jan_models_quota_gpus{kind="limit"}',
            s.quota_for,
            severity="info",
            summary="Organization {{ $labels.organization_id }} uses all of its GPU quota",
            description="Its next create will be refused with 403 until a model is removed"
            " or the quota is raised (jan-models quota set).",
        ),
    ]
    return [
        {"name": "jan-models.models", "rules": models},
        {"name": "jan-models.control-plane", "rules": control_plane},
        {"name": "jan-models.capacity", "rules": capacity},
    ]


def alert_names(settings: AlertSettings | None = None) -> list[str]:
    groups = rule_groups(settings or AlertSettings())
    return [rule["alert"] for group in groups for rule in group["rules"]]


HEADER: Final = (
    "# Generated by `python -m jan_models.ops` from jan_models/ops/alerts.py; do not edit.\n"
)


def _dump(document: dict[str, Any]) -> str:
    return HEADER + yaml.safe_dump(document, sort_keys=False, width=100)


def render_rules_file(settings: AlertSettings) -> str:
    return _dump({"groups": rule_groups(settings)})


def render_prometheus_rule(settings: AlertSettings) -> str:
    return _dump(
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": {"name": "jan-models", "namespace": "jan-models-system"},
            "spec": {"groups": rule_groups(settings)},
        }
    )
