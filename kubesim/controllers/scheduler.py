"""Scheduler: binds pending pods to nodes with enough free cpu, memory, `nvidia.com/gpu`
and pod slots (allocatable minus the requests of non-terminated pods on the node), honouring
`nodeSelector` and `spec.unschedulable`. Pods that fit nowhere stay Pending with
`PodScheduled=False`, reason `Unschedulable` and the scheduler's message, and are retried
when nodes change or pods go away.

Free capacity is computed once per pass; nodes are scanned from a rotating cursor so
thousands of pods spread without rescanning full nodes.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from kubesim.controllers.common import NODES, PODS, condition, evolve, is_terminal, pod_requests
from kubesim.fieldsets import now_iso
from kubesim.quantity import parse_quantity
from kubesim.storage import Event
from kubesim.store import ObjectStore

Obj = dict[str, Any]
Key = tuple[str, str]


class Scheduler:
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

    def free_capacity(self) -> dict[str, dict[str, Decimal]]:
        free: dict[str, dict[str, Decimal]] = {}
        for node in self.store.storage.iter(NODES.storage_key):
            alloc = (
                node.get("status", {}).get("allocatable")
                or node.get("status", {}).get("capacity")
                or {}
            )
            free[node["metadata"]["name"]] = {k: parse_quantity(v) for k, v in alloc.items()}
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
        free = self.free_capacity()
        nodes = sorted(
            (n for n in self.store.storage.iter(NODES.storage_key)),
            key=lambda n: n["metadata"]["name"],
        )
        for key in sorted(self.pending):
            pod = self.store.find(PODS, *key)
            if (
                pod is None
                or pod["spec"].get("nodeName")
                or pod["metadata"].get("deletionTimestamp")
            ):
                continue
            self._schedule(pod, nodes, free)
        self.pending.clear()

    def _schedule(self, pod: Obj, nodes: list[Obj], free: dict[str, dict[str, Decimal]]) -> None:
        wanted = pod_requests(pod)
        selector = pod["spec"].get("nodeSelector") or {}
        reasons: Counter[str] = Counter()
        count = len(nodes)
        for i in range(count):
            node = nodes[(self._cursor + i) % count]
            why = _misfit(node, selector, wanted, free.get(node["metadata"]["name"], {}))
            if why:
                reasons.update(why)
                continue
            self._cursor = (self._cursor + i + 1) % count
            room = free[node["metadata"]["name"]]
            for name, qty in wanted.items():
                room[name] = room.get(name, Decimal(0)) - qty
            self._bind(pod, node["metadata"]["name"])
            return
        detail = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
        message = (
            f"0/{count} nodes are available: {detail}."
            if count
            else "no nodes available to schedule pods"
        )
        meta = pod["metadata"]
        self.unschedulable.add((meta["namespace"], meta["name"]))
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
        self.store.commit(PODS, evolve(pod, spec=spec, status=status))


def _misfit(
    node: Obj, selector: dict[str, str], wanted: dict[str, Decimal], room: dict[str, Decimal]
) -> list[str]:
    labels = node["metadata"].get("labels") or {}
    if node.get("spec", {}).get("unschedulable"):
        return ["node(s) were unschedulable"]
    if any(labels.get(k) != v for k, v in selector.items()):
        return ["node(s) didn't match Pod's node affinity/selector"]
    reasons = []
    for name, qty in wanted.items():
        if qty > 0 and room.get(name, Decimal(0)) < qty:
            reasons.append("Too many pods" if name == "pods" else f"Insufficient {name}")
    return reasons
