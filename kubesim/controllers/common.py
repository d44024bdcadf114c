"""Shared resource handles and helpers for the simulated controllers."""

from __future__ import annotations

import secrets
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
NAMESPACES = _rt("/namespaces")
SERVICE_ACCOUNTS = _rt("/serviceaccounts")
JOBS = _rt("batch/jobs")
CRON_JOBS = _rt("batch/cronjobs")
DAEMON_SETS = _rt("apps/daemonsets")
STATEFUL_SETS = _rt("apps/statefulsets")


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


def pod_from_template(
    owner: Obj,
    template: Obj,
    *,
    name: str,
    labels: dict[str, str] | None = None,
    spec: Obj | None = None,
) -> Obj:
    """A pod of `owner`'s pod template, controlled by it: the template's labels (plus
    `labels`) and annotations, its spec (with `spec`'s fields replacing its own)."""
    tmeta = template.get("metadata") or {}
    meta: Obj = {
        "name": name,
        "namespace": owner["metadata"]["namespace"],
        "labels": {**(tmeta.get("labels") or {}), **(labels or {})},
        "ownerReferences": [controller_ref(owner)],
    }
    if tmeta.get("annotations"):
        meta["annotations"] = tmeta["annotations"]
    pod_spec = template.get("spec") or {}
    if spec:
        pod_spec = {**pod_spec, **spec}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec}


def random_suffix() -> str:
    """The five characters a generateName adds."""
    return secrets.token_hex(3)[:5]


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


class OwnerController:
    """A controller of one kind of owner and its dependents (pods, or a CronJob's Jobs):
    an owner is reconciled when it changes or one of its dependents does."""

    owner: ResourceType
    dependent: ResourceType = PODS
    observes: frozenset[str] | None = None

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        if hasattr(cls, "owner"):  # not on an intermediate base
            cls.observes = frozenset({cls.owner.storage_key, cls.dependent.storage_key})

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.dirty: set[tuple[str, str]] = set()
        self._owned = Owned(self.owner.kind)

    def observe(self, event: Event) -> bool:
        meta = event.obj["metadata"]
        ns = meta.get("namespace", "")
        if event.key == self.owner.storage_key:
            if event.type == "DELETED":
                self._owned.forget(meta["uid"])
                return False
            self.dirty.add((ns, meta["name"]))
            return True
        if event.key == self.dependent.storage_key:
            owner = self._owned.observe(event)
            if owner is not None:
                self.dirty.add((ns, owner))
                return True
        return False

    def dependents(self, owner: Obj) -> list[Obj]:
        """Every dependent the owner controls, terminating ones included."""
        ns = owner["metadata"]["namespace"]
        return [
            d
            for n in self._owned.names(owner["metadata"]["uid"])
            if (d := self.store.find(self.dependent, ns, n)) is not None
        ]

    def run(self) -> None:
        while self.dirty:
            found = self.store.find(self.owner, *self.dirty.pop())
            if found is not None and not found["metadata"].get("deletionTimestamp"):
                self.reconcile(found)

    def reconcile(self, owner: Obj) -> None:
        raise NotImplementedError
