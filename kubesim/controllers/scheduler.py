"""Scheduler: binds pending pods to nodes as the kube-scheduler decides (see
`placement`): cordon, taints and tolerations, `nodeSelector` and node affinity, and free
cpu, memory, `nvidia.com/gpu` and pod slots (allocatable minus the requests of
non-terminated pods on the node). Binding records a `Scheduled` Event; pods that fit
nowhere stay Pending with `PodScheduled=False`, reason `Unschedulable`, and a
`FailedScheduling` Event in the scheduler's words, and are retried when nodes change or
pods go away.

Free capacity is computed once per pass. Nodes are scanned from a rotating cursor, as the
scheduler's `nextStartNodeIndex`: a pod without preferences takes the first feasible
node, one with preferences scores the adaptive share of feasible nodes the real
scheduler looks at, so thousands of pods spread without rescanning full nodes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kubesim import events
from kubesim.controllers.common import NODES, PODS, condition, evolve, is_terminal, pod_requests
from kubesim.controllers.placement import (
    Diagnosis,
    Wants,
    best,
    feasible_to_find,
    unschedulable_message,
)
from kubesim.fieldsets import now_iso
from kubesim.quantity import parse_quantity
from kubesim.storage import Event
from kubesim.store import ObjectStore

Obj = dict[str, Any]
Key = tuple[str, str]
SCHEDULER = "default-scheduler"


class Scheduler:
    #: the storage keys whose events `observe` reacts to (the manager sends it no others)
    observes: frozenset[str] | None = frozenset({NODES.storage_key, PODS.storage_key})

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.pending: set[Key] = set()
        self.unschedulable: set[Key] = set()
        self._cursor = 0

    def observe(self, event: Event) -> bool:
        meta = event.obj["metadata"]
        if event.key == NODES.storage_key:
            if self.unschedulable:
                self.pending |= self.unschedulable
                self.unschedulable.clear()
                return True
            return False
        if event.key != PODS.storage_key:
            return False
        key = (meta.get("namespace", ""), meta["name"])
        if event.type == "ADDED" and not event.obj.get("spec", {}).get("nodeName"):
            self.pending.add(key)
            return True
        if event.type == "DELETED":
            self.unschedulable.discard(key)
            self.pending.discard(key)
            if event.obj.get("spec", {}).get("nodeName") and self.unschedulable:
                self.pending |= self.unschedulable
                self.unschedulable.clear()
                return True
        return False

    def allocatable(self) -> dict[str, dict[str, Decimal]]:
        result: dict[str, dict[str, Decimal]] = {}
        for node in self.store.storage.iter(NODES.storage_key):
            alloc = (
                node.get("status", {}).get("allocatable")
                or node.get("status", {}).get("capacity")
                or {}
            )
            result[node["metadata"]["name"]] = {k: parse_quantity(v) for k, v in alloc.items()}
        return result

    def free_capacity(
        self, allocatable: dict[str, dict[str, Decimal]]
    ) -> dict[str, dict[str, Decimal]]:
        free = {name: dict(alloc) for name, alloc in allocatable.items()}
        for pod in self.store.storage.iter(PODS.storage_key):
            node_name = pod.get("spec", {}).get("nodeName")
            if not node_name or node_name not in free or is_terminal(pod):
                continue
            room = free[node_name]
            for name, qty in pod_requests(pod).items():
                room[name] = room.get(name, Decimal(0)) - qty
        return free

    def run(self) -> None:
        if not self.pending:
            return
        allocatable = self.allocatable()
        free = self.free_capacity(allocatable)
        nodes = sorted(
            (n for n in self.store.storage.iter(NODES.storage_key)),
            key=lambda n: n["metadata"]["name"],
        )
        soft_taints = any(
            t.get("effect") == "PreferNoSchedule"
            for n in nodes
            for t in (n.get("spec") or {}).get("taints") or []
        )
        for key in sorted(self.pending):
            pod = self.store.find(PODS, *key)
            if (
                pod is None
                or pod["spec"].get("nodeName")
                or pod["metadata"].get("deletionTimestamp")
            ):
                continue
            self._schedule(pod, nodes, allocatable, free, soft_taints=soft_taints)
        self.pending.clear()

    def _schedule(
        self,
        pod: Obj,
        nodes: list[Obj],
        allocatable: dict[str, dict[str, Decimal]],
        free: dict[str, dict[str, Decimal]],
        *,
        soft_taints: bool,
    ) -> None:
        wants = Wants.of(pod, pod_requests(pod))
        wanted = feasible_to_find(len(nodes)) if wants.scores or soft_taints else 1
        diagnoses: list[Diagnosis] = []
        feasible: list[Obj] = []
        count = len(nodes)
        scanned = 0
        for scanned in range(1, count + 1):
            node = nodes[(self._cursor + scanned - 1) % count]
            why = wants.misfit(node, free.get(node["metadata"]["name"], {}))
            if why is not None:
                diagnoses.append(why)
                continue
            feasible.append(node)
            if len(feasible) >= wanted:
                break
        if feasible:
            self._cursor = (self._cursor + scanned) % count
            chosen = best(wants, feasible, allocatable=allocatable, free=free)["metadata"]["name"]
            room = free[chosen]
            for name, qty in wants.requests.items():
                room[name] = room.get(name, Decimal(0)) - qty
            self._bind(pod, chosen)
            return
        self._unschedulable(pod, unschedulable_message(count, diagnoses))

    def _unschedulable(self, pod: Obj, message: str) -> None:
        meta = pod["metadata"]
        self.unschedulable.add((meta["namespace"], meta["name"]))
        events.record(
            self.store,
            involved=pod,
            reason="FailedScheduling",
            message=message,
            type="Warning",
            component=SCHEDULER,
            action="Scheduling",
        )
        conditions = pod.get("status", {}).get("conditions", [])
        if any(c.get("type") == "PodScheduled" and c.get("message") == message for c in conditions):
            return
        status = {
            **(pod.get("status") or {}),
            "phase": "Pending",
            "conditions": [
                condition(
                    "PodScheduled", False, reason="Unschedulable", message=message, now=now_iso()
                )
            ],
        }
        self.store.commit(PODS, evolve(pod, status=status))

    def _bind(self, pod: Obj, node_name: str) -> None:
        status = {
            **(pod.get("status") or {}),
            "phase": "Pending",
            "conditions": [condition("PodScheduled", True, now=now_iso())],
        }
        spec = {**pod["spec"], "nodeName": node_name}
        bound = self.store.commit(PODS, evolve(pod, spec=spec, status=status))
        meta = bound["metadata"]
        events.record(
            self.store,
            involved=bound,
            reason="Scheduled",
            message=f"Successfully assigned {meta['namespace']}/{meta['name']} to {node_name}",
            component=SCHEDULER,
            action="Binding",
        )
