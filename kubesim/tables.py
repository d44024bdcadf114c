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
    for cs in status.get("containerStatuses", []):
        waiting = cs.get("state", {}).get("waiting")
        if waiting and waiting.get("reason"):
            return str(waiting["reason"])
    return str(status.get("phase", "Pending"))


def _pod_ready(obj: Obj) -> str:
    statuses = obj.get("status", {}).get("containerStatuses", [])
    total = len(obj.get("spec", {}).get("containers", []))
    return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"


def _deploy_ready(obj: Obj) -> str:
    return (
        f"{obj.get('status', {}).get('readyReplicas', 0)}/{obj.get('spec', {}).get('replicas', 0)}"
    )


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
