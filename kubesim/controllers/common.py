"""Shared resource handles and helpers for the simulated controllers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from kubesim.quantity import parse_quantity
from kubesim.resources import BUILTINS, ResourceType

Obj = dict[str, Any]


def _rt(key: str) -> ResourceType:
    return next(rt for rt in BUILTINS if rt.storage_key == key)


PODS = _rt("/pods")
NODES = _rt("/nodes")
DEPLOYMENTS = _rt("apps/deployments")
PVCS = _rt("/persistentvolumeclaims")
STORAGE_CLASSES = _rt("storage.k8s.io/storageclasses")


def clone(obj: Obj) -> Obj:
    result: Obj = orjson.loads(orjson.dumps(obj))
    return result


def evolve(obj: Obj, **fields: Any) -> Obj:
    """A new version of a stored object: `fields` replaced at the top level, the rest shared.

    Stored objects are never changed in place (see `kubesim.storage`), so a controller's
    write needs fresh dicts only along what it changes; `metadata` is always fresh since
    the store stamps the new resourceVersion into it. Deep-copying whole objects for each
    status write was the controllers' largest cost.
    """
    return {**obj, "metadata": {**obj["metadata"]}, **fields}


def pod_requests(pod: Obj) -> dict[str, Decimal]:
    """Effective requests: per container, requests default to limits (as the apiserver does)."""
    total: dict[str, Decimal] = {"pods": Decimal(1)}
    for c in pod.get("spec", {}).get("containers", []):
        res = c.get("resources") or {}
        merged = {**(res.get("limits") or {}), **(res.get("requests") or {})}
        for name, qty in merged.items():
            total[name] = total.get(name, Decimal(0)) + parse_quantity(qty)
    return total


def is_terminal(pod: Obj) -> bool:
    return pod.get("status", {}).get("phase") in ("Succeeded", "Failed")


def condition(type_: str, status: bool, *, reason: str = "", message: str = "", now: str) -> Obj:
    cond: Obj = {
        "type": type_,
        "status": "True" if status else "False",
        "lastProbeTime": None,
        "lastTransitionTime": now,
    }
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond
