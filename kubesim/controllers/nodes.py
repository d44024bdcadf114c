"""Node lifecycle: the taints a real control plane derives from a node's state, and the
evictions `NoExecute` taints cause.

- A cordoned node (`spec.unschedulable`) gets `node.kubernetes.io/unschedulable:NoSchedule`.
- A node whose `Ready` condition is `False` gets `node.kubernetes.io/not-ready`, one whose
  `Ready` is `Unknown` gets `node.kubernetes.io/unreachable`, each as `NoSchedule` and
  `NoExecute` (the node lifecycle controller's taint-by-condition and taint-based
  eviction). Taints the controller did not add are left alone.
- Pods on a node with a `NoExecute` taint they do not tolerate are deleted at once; pods
  whose tolerations carry `tolerationSeconds` are deleted when the shortest one runs out,
  unless the taint went away meanwhile (the taint eviction controller). Each eviction
  sets the pod's `DisruptionTarget` condition and records a `TaintManagerEviction` Event.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from kubesim import events
from kubesim.controllers.common import NODES, PODS, condition, evolve, is_terminal
from kubesim.controllers.placement import (
    NOT_READY_TAINT,
    UNREACHABLE_TAINT,
    UNSCHEDULABLE_TAINT,
    tolerates,
)
from kubesim.errors import ApiError
from kubesim.fieldsets import now_iso
from kubesim.scenario import READY_REASONS
from kubesim.storage import Event
from kubesim.store import ObjectStore

Obj = dict[str, Any]
Key = tuple[str, str]
_MANAGED = frozenset({UNSCHEDULABLE_TAINT, NOT_READY_TAINT, UNREACHABLE_TAINT})
EVICTOR = "taint-eviction-controller"


def ready_status(node: Obj) -> str:
    for c in (node.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return str(c.get("status", "Unknown"))
    return "Unknown"


def wanted_taints(node: Obj) -> list[tuple[str, str]]:
    """The (key, effect) pairs of the taints the control plane keeps on `node`."""
    wanted = []
    if (node.get("spec") or {}).get("unschedulable"):
        wanted.append((UNSCHEDULABLE_TAINT, "NoSchedule"))
    ready = ready_status(node)
    if ready != "True":
        key = NOT_READY_TAINT if ready == "False" else UNREACHABLE_TAINT
        wanted += [(key, "NoSchedule"), (key, "NoExecute")]
    return wanted


def eviction_delay(tolerations: list[Obj], taints: list[Obj]) -> float | None:
    """Seconds until a pod must leave a node with these NoExecute `taints`: 0 if one is
    not tolerated, None if all are tolerated forever, else the shortest tolerationSeconds."""
    shortest: float | None = None
    for taint in taints:
        matching = [t for t in tolerations if tolerates(t, taint)]
        if not matching:
            return 0.0
        for t in matching:
            seconds = t.get("tolerationSeconds")
            if seconds is not None:
                value = max(0.0, float(seconds))
                shortest = value if shortest is None else min(shortest, value)
    return shortest


class NodeLifecycle:
    #: the storage keys whose events `observe` reacts to (the manager sends it no others)
    observes: frozenset[str] | None = frozenset({NODES.storage_key, PODS.storage_key})

    def __init__(self, store: ObjectStore, *, wake: Callable[[], None]) -> None:
        self.store = store
        self.wake = wake
        self.dirty: set[str] = set()
        #: nodes carrying NoExecute taints, whose pods must be checked
        self.no_execute: set[str] = set()
        #: each node's Ready status as last reconciled
        self.readiness: dict[str, str] = {}
        #: pod -> (its node, monotonic time its toleration runs out)
        self.deadlines: dict[Key, tuple[str, float]] = {}

    def observe(self, event: Event) -> bool:
        if event.key == NODES.storage_key:
            name = event.obj["metadata"]["name"]
            if event.type == "DELETED":
                self.no_execute.discard(name)
                self.readiness.pop(name, None)
                return False
            self.dirty.add(name)
            return True
        if event.key == PODS.storage_key and event.type != "DELETED":
            node_name = (event.obj.get("spec") or {}).get("nodeName")
            if node_name in self.no_execute:
                self.dirty.add(node_name)
                return True
        return False

    def run(self) -> None:
        now = time.monotonic()
        self.dirty |= {node for node, due in self.deadlines.values() if due <= now}
        while self.dirty:
            node = self.store.find(NODES, "", self.dirty.pop())
            if node is not None:
                self._reconcile(node)

    def _reconcile(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        taints = list((node.get("spec") or {}).get("taints") or [])
        wanted = wanted_taints(node)
        kept = [
            t for t in taints if t.get("key") not in _MANAGED or (t["key"], t["effect"]) in wanted
        ]
        present = {(t["key"], t.get("effect")) for t in kept}
        added = [
            {"key": k, "effect": e, "timeAdded": now_iso()}
            for k, e in wanted
            if (k, e) not in present
        ]
        if added or len(kept) != len(taints):
            spec = {**(node.get("spec") or {}), "taints": kept + added}
            if not spec["taints"]:
                del spec["taints"]
            node = self.store.commit(NODES, evolve(node, spec=spec))
        no_execute = [
            t
            for t in (node.get("spec") or {}).get("taints") or []
            if t.get("effect") == "NoExecute"
        ]
        if no_execute:
            self.no_execute.add(name)
        else:
            self.no_execute.discard(name)
        ready = ready_status(node)
        if self.readiness.get(name, "True") != ready or (
            name not in self.readiness and ready != "True"
        ):
            self._mark_pods(name, ready=ready == "True")
        self.readiness[name] = ready
        self._evict_from(name, no_execute)

    def _mark_pods(self, node_name: str, *, ready: bool) -> None:
        """A node that is not Ready takes its pods' Ready condition with it (the node
        controller's MarkPodsNotReady); once Ready again, its kubelet reports the pods whose
        containers are all ready as Ready."""
        for pod in list(self.store.storage.iter(PODS.storage_key)):
            if (pod.get("spec") or {}).get("nodeName") != node_name or is_terminal(pod):
                continue
            status = pod.get("status") or {}
            conditions = status.get("conditions") or []
            flips = [
                c
                for c in conditions
                if c.get("type") == "Ready" and (c.get("status") == "True") != ready
            ]
            containers = status.get("containerStatuses") or []
            if not flips or (ready and not all(cs.get("ready") for cs in containers)):
                continue
            value = "True" if ready else "False"
            now = now_iso()
            updated = [
                {**c, "status": value, "lastTransitionTime": now} if c.get("type") == "Ready" else c
                for c in conditions
            ]
            pod = self.store.commit(PODS, evolve(pod, status={**status, "conditions": updated}))
            if not ready:
                events.record(
                    self.store,
                    involved=pod,
                    reason="NodeNotReady",
                    message="Node is not ready",
                    type="Warning",
                    component="node-controller",
                )

    def _evict_from(self, node_name: str, taints: list[Obj]) -> None:
        if not taints:
            for key in [k for k, (node, _due) in self.deadlines.items() if node == node_name]:
                del self.deadlines[key]
            return
        for pod in list(self.store.storage.iter(PODS.storage_key)):
            if (pod.get("spec") or {}).get("nodeName") != node_name:
                continue
            meta = pod["metadata"]
            key = (meta.get("namespace", ""), meta["name"])
            delay = eviction_delay(list(pod["spec"].get("tolerations") or []), taints)
            if delay is None or is_terminal(pod) or meta.get("deletionTimestamp"):
                self.deadlines.pop(key, None)
                continue
            _node, due = self.deadlines.setdefault(key, (node_name, time.monotonic() + delay))
            if due <= time.monotonic():
                self.deadlines.pop(key, None)
                self._evict(pod)
            else:
                with contextlib.suppress(RuntimeError):  # no loop: settle() runs it again
                    asyncio.get_running_loop().call_later(due - time.monotonic(), self.wake)

    def _evict(self, pod: Obj) -> None:
        meta = pod["metadata"]
        status = pod.get("status") or {}
        disrupted = condition(
            "DisruptionTarget",
            True,
            reason="DeletionByTaintManager",
            message="Taint manager: deleting due to NoExecute taint",
            now=now_iso(),
        )
        kept = [c for c in status.get("conditions") or [] if c.get("type") != "DisruptionTarget"]
        pod = self.store.commit(
            PODS, evolve(pod, status={**status, "conditions": [*kept, disrupted]})
        )
        events.record(
            self.store,
            involved=pod,
            reason="TaintManagerEviction",
            message=f"Marking for deletion Pod {meta['namespace']}/{meta['name']}",
            component=EVICTOR,
        )
        with contextlib.suppress(ApiError):
            self.store.delete(PODS, meta["namespace"], meta["name"])


def set_ready(store: ObjectStore, name: str, status: str) -> Obj:
    """Set node `name`'s Ready condition to `status` ("True", "False" or "Unknown"), as a
    kubelet posting (or ceasing to post) its status would; the taints follow."""
    if status not in READY_REASONS:
        raise ValueError(f"Ready status must be True, False or Unknown, not {status!r}")
    node = store.get(NODES, "", name)
    reason, message = READY_REASONS[status]
    now = now_iso()
    conditions = []
    for c in (node.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready" and c.get("status") != status:
            c = {**c, "status": status, "reason": reason, "message": message}
            c |= {"lastTransitionTime": now, "lastHeartbeatTime": now}
        conditions.append(c)
    if not any(c.get("type") == "Ready" for c in conditions):
        conditions.append(
            {
                "type": "Ready",
                "status": status,
                "reason": reason,
                "message": message,
                "lastTransitionTime": now,
                "lastHeartbeatTime": now,
            }
        )
    updated = store.commit(NODES, evolve(node, status={**node["status"], "conditions": conditions}))
    if ready_status(node) != status:
        events.record(
            store,
            involved=updated,
            reason="NodeReady" if status == "True" else "NodeNotReady",
            message=f"Node {name} status is now: {'NodeReady' if status == 'True' else 'NodeNotReady'}",
            component="node-controller",
        )
    return updated
