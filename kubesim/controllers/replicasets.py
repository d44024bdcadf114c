"""ReplicaSet controller: keeps `spec.replicas` pods of the set's template, each owned by
the set, and reports them as the real controller does (`replicas`,
`fullyLabeledReplicas`, `readyReplicas`, `availableReplicas`, `observedGeneration`).

Pods being deleted (`deletionTimestamp` set) or finished no longer count: the set
replaces them at once, as the real one does. Creating and deleting pods are recorded as
`SuccessfulCreate` / `SuccessfulDelete` Events on the set.
"""

from __future__ import annotations

import contextlib
from typing import Any

from kubesim.controllers.common import (
    PODS,
    REPLICA_SETS,
    OwnerController,
    evolve,
    is_terminal,
    note,
    pod_from_template,
    random_suffix,
)
from kubesim.errors import ApiError

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


class ReplicaSetController(OwnerController):
    owner = REPLICA_SETS

    def pods(self, rs: Obj) -> list[Obj]:
        """Every pod the set owns, terminating ones included."""
        return self.dependents(rs)

    def reconcile(self, rs: Obj) -> None:
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
        name = f"{rs['metadata']['name']}-{random_suffix()}"
        created = self.store.create(
            pod_from_template(rs, rs["spec"].get("template", {}), name=name), rt=PODS
        )
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
