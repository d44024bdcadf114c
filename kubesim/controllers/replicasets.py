"""ReplicaSet controller: keeps `spec.replicas` pods of the set's template, each owned by
the set, and reports them as the real controller does (`replicas`,
`fullyLabeledReplicas`, `readyReplicas`, `availableReplicas`, `observedGeneration`).

Pods being deleted (`deletionTimestamp` set) or finished no longer count: the set
replaces them at once, as the real one does. Creating and deleting pods are recorded as
`SuccessfulCreate` / `SuccessfulDelete` Events on the set.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

from kubesim.controllers.common import (
    PODS,
    REPLICA_SETS,
    Owned,
    controller_ref,
    evolve,
    is_terminal,
    note,
)
from kubesim.errors import ApiError
from kubesim.storage import Event
from kubesim.store import ObjectStore

Obj = dict[str, Any]
Key = tuple[str, str]
COMPONENT = "replicaset-controller"


def is_pod_ready(pod: Obj) -> bool:
    for c in pod.get("status", {}).get("conditions", []):
        if c.get("type") == "Ready":
            return bool(c.get("status") == "True")
    return False


def is_active(pod: Obj) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and not is_terminal(pod)


class ReplicaSetController:
    #: the storage keys whose events `observe` reacts to (the manager sends it no others)
    observes: frozenset[str] | None = frozenset({REPLICA_SETS.storage_key, PODS.storage_key})

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.dirty: set[Key] = set()
        self._pods = Owned("ReplicaSet")

    def observe(self, event: Event) -> bool:
        meta = event.obj["metadata"]
        ns = meta.get("namespace", "")
        if event.key == REPLICA_SETS.storage_key:
            self.dirty.add((ns, meta["name"]))
            if event.type == "DELETED":
                self._pods.forget(meta["uid"])
            return True
        if event.key == PODS.storage_key:
            owner = self._pods.observe(event)
            if owner is not None:
                self.dirty.add((ns, owner))
                return True
        return False

    def pods(self, rs: Obj) -> list[Obj]:
        """Every pod the set owns, terminating ones included."""
        ns = rs["metadata"]["namespace"]
        return [
            p
            for n in self._pods.names(rs["metadata"]["uid"])
            if (p := self.store.find(PODS, ns, n)) is not None
        ]

    def run(self) -> None:
        while self.dirty:
            ns, name = self.dirty.pop()
            rs = self.store.find(REPLICA_SETS, ns, name)
            if rs is not None and not rs["metadata"].get("deletionTimestamp"):
                self._reconcile(rs)

    def _reconcile(self, rs: Obj) -> None:
        active = [p for p in self.pods(rs) if is_active(p)]
        wanted = int((rs.get("spec") or {}).get("replicas", 1))
        if len(active) > wanted:
            # the least useful go first: unscheduled, then not ready
            active.sort(key=lambda p: (bool(p["spec"].get("nodeName")), is_pod_ready(p)))
            for pod in active[: len(active) - wanted]:
                self._delete_pod(rs, pod)
            active = active[len(active) - wanted :]
        for _ in range(wanted - len(active)):
            active.append(self._create_pod(rs))
        self._write_status(rs, active)

    def _delete_pod(self, rs: Obj, pod: Obj) -> None:
        name = pod["metadata"]["name"]
        with contextlib.suppress(ApiError):
            self.store.delete(PODS, pod["metadata"]["namespace"], name)
            note(self.store, rs, "SuccessfulDelete", f"Deleted pod: {name}", component=COMPONENT)

    def _create_pod(self, rs: Obj) -> Obj:
        meta = rs["metadata"]
        template = rs["spec"].get("template", {})  # store.create copies what it keeps
        tmeta = template.get("metadata") or {}
        pod_meta: Obj = {
            "name": f"{meta['name']}-{secrets.token_hex(3)[:5]}",
            "namespace": meta["namespace"],
            "labels": dict(tmeta.get("labels") or {}),
            "ownerReferences": [controller_ref(rs)],
        }
        if tmeta.get("annotations"):
            pod_meta["annotations"] = tmeta["annotations"]
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": template["spec"]}
        created = self.store.create(pod, rt=PODS)
        message = f"Created pod: {created['metadata']['name']}"
        note(self.store, rs, "SuccessfulCreate", message, component=COMPONENT)
        return created

    def _write_status(self, rs: Obj, pods: list[Obj]) -> None:
        ready = sum(1 for p in pods if is_pod_ready(p))
        status: Obj = {"replicas": len(pods)}
        for field, value in (
            ("fullyLabeledReplicas", len(pods)),
            ("readyReplicas", ready),
            ("availableReplicas", ready),
        ):
            if value:
                status[field] = value
        status["observedGeneration"] = rs["metadata"].get("generation", 1)
        if status != rs.get("status"):
            self.store.commit(REPLICA_SETS, evolve(rs, status=status))
