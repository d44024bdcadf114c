"""`meta.k8s.io/v1` Table responses, which `kubectl get` asks for to print columns."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubesim.resources import ResourceType

Obj = dict[str, Any]
Column = tuple[str, str, Callable[[Obj], Any]]


def _age(obj: Obj) -> str:
    ts = obj["metadata"].get("creationTimestamp")
    if not ts:
        return "<unknown>"
    seconds = int(
        (
            datetime.now(UTC) - datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        ).total_seconds()
    )
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def _node_status(obj: Obj) -> str:
    for c in obj.get("status", {}).get("conditions", []):
        if c.get("type") == "Ready":
            return "Ready" if c.get("status") == "True" else "NotReady"
    return "Unknown"


def _pod_status(obj: Obj) -> str:
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
        ("Roles", "string", lambda o: "<none>"),
        _AGE,
        (
            "Version",
            "string",
            lambda o: o.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", ""),
        ),
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
    "/namespaces": [
        _NAME,
        ("Status", "string", lambda o: o.get("status", {}).get("phase", "")),
        _AGE,
    ],
}


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def to_table(rt: ResourceType, items: list[Obj], list_meta: Obj) -> Obj:
    columns = COLUMNS.get(rt.storage_key, [_NAME, _AGE])
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
                "priority": 0,
            }
            for name, typ, _f in columns
        ],
        "rows": [
            {
                "cells": [f(o) for _n, _t, f in columns],
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o["metadata"],
                },
            }
            for o in items
        ],
    }
