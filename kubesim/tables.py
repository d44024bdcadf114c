"""`meta.k8s.io/v1` Table responses, which `kubectl get` asks for to print columns."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubesim import conversion
from kubesim.resources import ResourceType

Obj = dict[str, Any]
Column = tuple[str, str, Callable[[Obj], Any]]


def human_duration(seconds: int) -> str:
    """A duration as kubectl prints ages (apimachinery's `duration.HumanDuration`)."""
    if seconds < -1:
        return "<invalid>"
    if seconds < 120:
        return f"{max(seconds, 0)}s"
    minutes, hours = seconds // 60, seconds // 3600
    days = hours // 24
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        return f"{days // 365}y{days % 365}d" if days % 365 else f"{days // 365}y"
    return f"{days // 365}y"


def _since(ts: str | None) -> str:
    if not ts:
        return "<unknown>"
    then = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    return human_duration(int((datetime.now(UTC) - then).total_seconds()))


def _age(obj: Obj) -> str:
    return _since(obj["metadata"].get("creationTimestamp"))


def _event_last_seen(obj: Obj) -> str:
    series = obj.get("series") or {}
    return _since(
        series.get("lastObservedTime") or obj.get("lastTimestamp") or obj.get("eventTime")
    )


def _event_object(obj: Obj) -> str:
    ref = obj.get("involvedObject") or {}
    kind = str(ref.get("kind", "")).lower()
    return f"{kind}/{ref['name']}" if ref.get("name") else kind


def _event_source(obj: Obj) -> str:
    source = obj.get("source") or {}
    component, host = source.get("component", ""), source.get("host", "")
    if not component:
        component, host = obj.get("reportingComponent", ""), obj.get("reportingInstance", "")
    return f"{component}, {host}" if host else str(component)


def _node_status(obj: Obj) -> str:
    status = "Unknown"
    for c in obj.get("status", {}).get("conditions", []):
        if c.get("type") == "Ready":
            status = "Ready" if c.get("status") == "True" else "NotReady"
    if (obj.get("spec") or {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    return status


def _node_roles(obj: Obj) -> str:
    roles = set()
    for key, value in (obj["metadata"].get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/"):
            roles.add(key.removeprefix("node-role.kubernetes.io/"))
        elif key == "kubernetes.io/role":
            roles.add(value)
    return ",".join(sorted(r for r in roles if r)) or "<none>"


def _node_address(kind: str) -> Callable[[Obj], str]:
    def address(obj: Obj) -> str:
        for a in (obj.get("status") or {}).get("addresses") or []:
            if a.get("type") == kind:
                return str(a.get("address", ""))
        return "<none>"

    return address


def _node_info(field: str) -> Callable[[Obj], str]:
    return lambda o: str(((o.get("status") or {}).get("nodeInfo") or {}).get(field, ""))


def _pod_status(obj: Obj) -> str:
    if obj["metadata"].get("deletionTimestamp"):
        return "Terminating"
    status = obj.get("status", {})
    reason = str(status.get("phase", "Pending"))
    for cs in status.get("containerStatuses", []):
        state = cs.get("state", {})
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if waiting and waiting.get("reason"):
            reason = str(waiting["reason"])
        elif terminated and terminated.get("reason"):
            reason = str(terminated["reason"])
        elif terminated:
            reason = f"ExitCode:{terminated.get('exitCode', 0)}"
    return reason


def _pod_ready(obj: Obj) -> str:
    statuses = obj.get("status", {}).get("containerStatuses", [])
    total = len(obj.get("spec", {}).get("containers", []))
    return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"


def _deploy_ready(obj: Obj) -> str:
    return (
        f"{obj.get('status', {}).get('readyReplicas', 0)}/{obj.get('spec', {}).get('replicas', 0)}"
    )


def _job_status(obj: Obj) -> str:
    status = obj.get("status") or {}
    for c in status.get("conditions") or []:
        if c.get("status") == "True" and c.get("type") in ("Complete", "Failed", "Suspended"):
            return str(c["type"])
    return "Running"


def _job_completions(obj: Obj) -> str:
    completions = (obj.get("spec") or {}).get("completions")
    succeeded = (obj.get("status") or {}).get("succeeded", 0)
    return f"{succeeded}/{completions}" if completions is not None else f"{succeeded}/1 of many"


def _job_duration(obj: Obj) -> str:
    status = obj.get("status") or {}
    if not status.get("startTime"):
        return ""
    start = datetime.fromisoformat(status["startTime"].replace("Z", "+00:00"))
    end = (
        datetime.fromisoformat(status["completionTime"].replace("Z", "+00:00"))
        if status.get("completionTime")
        else datetime.now(UTC)
    )
    return human_duration(int((end - start).total_seconds()))


def _spec(field: str, default: Any = "<none>") -> Callable[[Obj], Any]:
    return lambda o: (o.get("spec") or {}).get(field, default)


def _status(field: str, default: Any = 0) -> Callable[[Obj], Any]:
    return lambda o: (o.get("status") or {}).get(field, default)


def _selector(obj: Obj) -> str:
    template = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    selector = template.get("nodeSelector") or {}
    return ",".join(f"{k}={v}" for k, v in selector.items()) or "<none>"


def _last_schedule(obj: Obj) -> str:
    last = (obj.get("status") or {}).get("lastScheduleTime")
    return _since(last) if last else "<none>"


def _role_ref(obj: Obj) -> str:
    ref = obj.get("roleRef") or {}
    return f"{ref.get('kind', '')}/{ref.get('name', '')}"


def _hpa_reference(obj: Obj) -> str:
    ref = (obj.get("spec") or {}).get("scaleTargetRef") or {}
    return f"{ref.get('kind', '')}/{ref.get('name', '')}"


def _available(obj: Obj) -> str:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Available":
            return str(c.get("status", "Unknown"))
    return "Unknown"


_NAME: Column = ("Name", "string", lambda o: o["metadata"]["name"])
_AGE: Column = ("Age", "string", _age)

COLUMNS: dict[str, list[Column]] = {
    "/nodes": [
        _NAME,
        ("Status", "string", _node_status),
        ("Roles", "string", _node_roles),
        _AGE,
        ("Version", "string", _node_info("kubeletVersion")),
        ("Internal-IP", "string", _node_address("InternalIP")),
        ("External-IP", "string", _node_address("ExternalIP")),
        ("OS-Image", "string", _node_info("osImage")),
        ("Kernel-Version", "string", _node_info("kernelVersion")),
        ("Container-Runtime", "string", _node_info("containerRuntimeVersion")),
    ],
    "/pods": [
        _NAME,
        ("Ready", "string", _pod_ready),
        ("Status", "string", _pod_status),
        (
            "Restarts",
            "integer",
            lambda o: sum(
                s.get("restartCount", 0) for s in o.get("status", {}).get("containerStatuses", [])
            ),
        ),
        _AGE,
    ],
    "apps/deployments": [
        _NAME,
        ("Ready", "string", _deploy_ready),
        ("Up-to-date", "integer", lambda o: o.get("status", {}).get("updatedReplicas", 0)),
        ("Available", "integer", lambda o: o.get("status", {}).get("availableReplicas", 0)),
        _AGE,
    ],
    "apps/replicasets": [
        _NAME,
        ("Desired", "integer", lambda o: o.get("spec", {}).get("replicas", 0)),
        ("Current", "integer", lambda o: o.get("status", {}).get("replicas", 0)),
        ("Ready", "integer", lambda o: o.get("status", {}).get("readyReplicas", 0)),
        _AGE,
    ],
    "/events": [
        ("Last Seen", "string", _event_last_seen),
        ("Type", "string", lambda o: o.get("type", "")),
        ("Reason", "string", lambda o: o.get("reason", "")),
        ("Object", "string", _event_object),
        ("Subobject", "string", lambda o: (o.get("involvedObject") or {}).get("fieldPath", "")),
        ("Source", "string", _event_source),
        ("Message", "string", lambda o: str(o.get("message", "")).strip()),
        (
            "First Seen",
            "string",
            lambda o: _since(o.get("firstTimestamp") or o.get("eventTime")),
        ),
        (
            "Count",
            "integer",
            lambda o: (o.get("series") or {}).get("count") or o.get("count", 1),
        ),
        _NAME,
    ],
    "/namespaces": [
        _NAME,
        ("Status", "string", lambda o: o.get("status", {}).get("phase", "")),
        _AGE,
    ],
    "batch/jobs": [
        _NAME,
        ("Status", "string", _job_status),
        ("Completions", "string", _job_completions),
        ("Duration", "string", _job_duration),
        _AGE,
    ],
    "batch/cronjobs": [
        _NAME,
        ("Schedule", "string", _spec("schedule", "")),
        ("Timezone", "string", _spec("timeZone")),
        ("Suspend", "boolean", _spec("suspend", False)),
        ("Active", "integer", lambda o: len((o.get("status") or {}).get("active") or [])),
        ("Last Schedule", "string", _last_schedule),
        _AGE,
    ],
    "apps/daemonsets": [
        _NAME,
        ("Desired", "integer", _status("desiredNumberScheduled")),
        ("Current", "integer", _status("currentNumberScheduled")),
        ("Ready", "integer", _status("numberReady")),
        ("Up-to-date", "integer", _status("updatedNumberScheduled")),
        ("Available", "integer", _status("numberAvailable")),
        ("Node Selector", "string", _selector),
        _AGE,
    ],
    "apps/statefulsets": [
        _NAME,
        ("Ready", "string", _deploy_ready),
        _AGE,
    ],
    "/replicationcontrollers": [
        _NAME,
        ("Desired", "integer", _spec("replicas", 0)),
        ("Current", "integer", _status("replicas")),
        ("Ready", "integer", _status("readyReplicas")),
        _AGE,
    ],
    "/serviceaccounts": [
        _NAME,
        ("Secrets", "integer", lambda o: len(o.get("secrets") or [])),
        _AGE,
    ],
    "autoscaling/horizontalpodautoscalers": [
        _NAME,
        ("Reference", "string", _hpa_reference),
        ("Targets", "string", lambda o: "<unknown>"),
        ("MinPods", "integer", _spec("minReplicas", 1)),
        ("MaxPods", "integer", _spec("maxReplicas", 0)),
        ("Replicas", "integer", _status("currentReplicas")),
        _AGE,
    ],
    "rbac.authorization.k8s.io/roles": [
        _NAME,
        ("Created At", "date", lambda o: o["metadata"].get("creationTimestamp", "")),
    ],
    "rbac.authorization.k8s.io/clusterroles": [
        _NAME,
        ("Created At", "date", lambda o: o["metadata"].get("creationTimestamp", "")),
    ],
    "rbac.authorization.k8s.io/rolebindings": [_NAME, ("Role", "string", _role_ref), _AGE],
    "rbac.authorization.k8s.io/clusterrolebindings": [_NAME, ("Role", "string", _role_ref), _AGE],
    "apiregistration.k8s.io/apiservices": [
        _NAME,
        (
            "Service",
            "string",
            lambda o: (
                "Local"
                if not (o.get("spec") or {}).get("service")
                else f"{o['spec']['service'].get('namespace')}/{o['spec']['service'].get('name')}"
            ),
        ),
        ("Available", "string", _available),
        _AGE,
    ],
}


#: columns `kubectl get` shows only with `-o wide`
WIDE: dict[str, frozenset[str]] = {
    "/events": frozenset({"Subobject", "Source", "First Seen", "Count", "Name"}),
    "/nodes": frozenset(
        {"Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"}
    ),
}


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def to_table(rt: ResourceType, items: list[Obj], list_meta: Obj) -> Obj:
    columns = COLUMNS.get(rt.storage_key, [_NAME, _AGE])
    wide = WIDE.get(rt.storage_key, frozenset())
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {
            k: v
            for k, v in list_meta.items()
            if k in ("resourceVersion", "continue", "remainingItemCount")
        },
        "columnDefinitions": [
            {
                "name": name,
                "type": typ,
                "format": "name" if name == "Name" else "",
                "description": "",
                "priority": 1 if name in wide else 0,
            }
            for name, typ, _f in columns
        ],
        "rows": [
            {
                "cells": [f(conversion.stored(rt, o)) for _n, _t, f in columns],
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o["metadata"],
                },
            }
            for o in items
        ],
    }
