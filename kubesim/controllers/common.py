"""Shared resource handles and helpers for the simulated controllers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from kubesim import events
from kubesim.quantity import parse_quantity
from kubesim.resources import BUILTINS, ResourceType
from kubesim.storage import Event
from kubesim.store import ObjectStore

Obj = dict[str, Any]


def _rt(key: str) -> ResourceType:
    return next(rt for rt in BUILTINS if rt.storage_key == key)


PODS = _rt("/pods")
NODES = _rt("/nodes")
DEPLOYMENTS = _rt("apps/deployments")
REPLICA_SETS = _rt("apps/replicasets")
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


def controller_ref(owner: Obj) -> Obj:
    """The ownerReference a controller puts on what it creates for `owner`."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def note(store: ObjectStore, involved: Obj, reason: str, message: str, *, component: str) -> None:
    """A Normal Event from a controller about `involved`."""
    events.record(store, involved=involved, reason=reason, message=message, component=component)


class Owned:
    """Names of the objects each owner (by uid) controls, kept up from storage events."""

    def __init__(self, owner_kind: str) -> None:
        self.owner_kind = owner_kind
        self._names: dict[str, set[str]] = {}

    def observe(self, event: Event) -> str | None:
        """The controlling owner's name when `event` is about one of its dependents."""
        meta = event.obj["metadata"]
        for ref in meta.get("ownerReferences") or ():
            if ref.get("kind") == self.owner_kind and ref.get("controller"):
                names = self._names.setdefault(ref["uid"], set())
                if event.type == "DELETED":
                    names.discard(meta["name"])
                else:
                    names.add(meta["name"])
                return str(ref["name"])
        return None

    def names(self, owner_uid: str) -> list[str]:
        return sorted(self._names.get(owner_uid, ()))

    def forget(self, owner_uid: str) -> None:
        self._names.pop(owner_uid, None)
