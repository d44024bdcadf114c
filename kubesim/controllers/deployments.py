"""Deployment controller: keeps `spec.replicas` pods of the current template and reports
status the way the real controller does (replica counts, Available/Progressing,
observedGeneration).

Pods are owned by the Deployment directly (no ReplicaSet objects) and carry the template's
labels plus `pod-template-hash`. A template change deletes the old pods before creating
new ones (Recreate; RollingUpdate is treated the same: GPU models cannot surge).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import secrets
from collections.abc import Callable
from typing import Any

import orjson

from kubesim.controllers.common import DEPLOYMENTS, PODS, evolve
from kubesim.errors import ApiError
from kubesim.fieldsets import now_iso
from kubesim.storage import Event
from kubesim.store import ObjectStore

Obj = dict[str, Any]
Key = tuple[str, str]


def template_hash(template: Obj) -> str:
    digest = hashlib.sha256(orjson.dumps(template, option=orjson.OPT_SORT_KEYS)).hexdigest()
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    n = int(digest[:16], 16)
    out = []
    for _ in range(10):
        n, r = divmod(n, len(alphabet))
        out.append(alphabet[r])
    return "".join(out)


def is_pod_ready(pod: Obj) -> bool:
    for c in pod.get("status", {}).get("conditions", []):
        if c.get("type") == "Ready":
            return bool(c.get("status") == "True")
    return False


def max_unavailable(spec: Obj) -> int:
    replicas = int(spec.get("replicas", 1))
    strategy = spec.get("strategy") or {}
    if strategy.get("type") != "RollingUpdate" or replicas == 0:
        return 0
    value = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return math.floor(replicas * int(value[:-1]) / 100)
    return int(value)


class DeploymentController:
    def __init__(self, store: ObjectStore, *, wake: Callable[[], None]) -> None:
        self.store = store
        self.wake = wake
        self.dirty: set[Key] = set()
        self._pods: dict[str, set[str]] = {}  # deployment uid -> pod names

    def observe(self, event: Event) -> bool:
        meta = event.obj["metadata"]
        ns = meta.get("namespace", "")
        if event.key == DEPLOYMENTS.storage_key:
            self.dirty.add((ns, meta["name"]))
            if event.type == "DELETED":
                self._pods.pop(meta["uid"], None)
            return True
        if event.key == PODS.storage_key:
            for ref in meta.get("ownerReferences") or ():
                if ref.get("kind") == "Deployment" and ref.get("controller"):
                    pods = self._pods.setdefault(ref["uid"], set())
                    if event.type == "DELETED":
                        pods.discard(meta["name"])
                    else:
                        pods.add(meta["name"])
                    self.dirty.add((ns, ref["name"]))
                    return True
        return False

    def run(self) -> None:
        while self.dirty:
            ns, name = self.dirty.pop()
            deployment = self.store.find(DEPLOYMENTS, ns, name)
            if deployment is not None and not deployment["metadata"].get("deletionTimestamp"):
                self._reconcile(deployment)

    def _reconcile(self, d: Obj) -> None:
        meta, spec = d["metadata"], d.get("spec", {})
        ns = meta["namespace"]
        current_hash = template_hash(spec.get("template", {}))
        pods = [
            p
            for n in sorted(self._pods.get(meta["uid"], ()))
            if (p := self.store.find(PODS, ns, n)) is not None
        ]
        current = [
            p
            for p in pods
            if p["metadata"].get("labels", {}).get("pod-template-hash") == current_hash
        ]
        for p in pods:
            if p not in current:
                self._delete_pod(p)
        wanted = int(spec.get("replicas", 1))
        if len(current) > wanted:
            current.sort(key=lambda p: (is_pod_ready(p), bool(p["spec"].get("nodeName"))))
            for p in current[: len(current) - wanted]:
                self._delete_pod(p)
            current = current[len(current) - wanted :]
        for _ in range(wanted - len(current)):
            current.append(self._create_pod(d, current_hash))
        self._write_status(d, current, current_hash)

    def _delete_pod(self, pod: Obj) -> None:
        with contextlib.suppress(ApiError):
            self.store.delete(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"])

    def _create_pod(self, d: Obj, pod_hash: str) -> Obj:
        meta = d["metadata"]
        template = d["spec"].get("template", {})  # store.create copies what it keeps
        tmeta = template.get("metadata") or {}
        pod_meta: Obj = {
            "name": f"{meta['name']}-{pod_hash}-{secrets.token_hex(3)[:5]}",
            "namespace": meta["namespace"],
            "labels": {**(tmeta.get("labels") or {}), "pod-template-hash": pod_hash},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        }
        if tmeta.get("annotations"):
            pod_meta["annotations"] = tmeta["annotations"]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": pod_meta,
            "spec": template.get("spec", {}),
        }
        return self.store.create(pod, rt=PODS)

    def _write_status(self, d: Obj, pods: list[Obj], pod_hash: str) -> None:
        spec, old_status = d.get("spec", {}), d.get("status") or {}
        wanted = int(spec.get("replicas", 1))
        ready = sum(1 for p in pods if is_pod_ready(p))
        status: Obj = {"observedGeneration": d["metadata"].get("generation", 1)}
        for field, value in (
            ("replicas", len(pods)),
            ("updatedReplicas", len(pods)),
            ("readyReplicas", ready),
            ("availableReplicas", ready),
            ("unavailableReplicas", max(wanted - ready, 0)),
        ):
            if value:
                status[field] = value
        old_conditions = {c["type"]: c for c in old_status.get("conditions", [])}
        available = ready >= wanted - max_unavailable(spec)
        complete = ready >= wanted and len(pods) == wanted
        rs_name = f"{d['metadata']['name']}-{pod_hash}"
        progressing = self._progressing(d, old_conditions.get("Progressing"), complete, rs_name)
        status["conditions"] = [
            self._condition(
                old_conditions.get("Available"),
                "Available",
                available,
                "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                "Deployment has minimum availability."
                if available
                else "Deployment does not have minimum availability.",
            ),
            progressing,
        ]
        if status != old_status:
            self.store.commit(DEPLOYMENTS, evolve(d, status=status))

    def _progressing(self, d: Obj, old: Obj | None, complete: bool, rs_name: str) -> Obj:
        if complete:
            return self._condition(
                old,
                "Progressing",
                True,
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
            )
        deadline = int(d.get("spec", {}).get("progressDeadlineSeconds", 600))
        if old is not None and old.get("reason") == "ProgressDeadlineExceeded":
            return old
        started = (
            old.get("lastUpdateTime")
            if old is not None and old.get("reason") == "ReplicaSetUpdated"
            else None
        )
        if started is not None and _age_seconds(started) >= deadline:
            return self._condition(
                old,
                "Progressing",
                False,
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{rs_name}" has timed out progressing.',
            )
        if started is None:
            key = (d["metadata"]["namespace"], d["metadata"]["name"])
            asyncio.get_running_loop().call_later(deadline + 0.5, self._recheck, key)
        return self._condition(
            old, "Progressing", True, "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.'
        )

    def _recheck(self, key: Key) -> None:
        self.dirty.add(key)
        self.wake()

    @staticmethod
    def _condition(old: Obj | None, type_: str, ok: bool, reason: str, message: str) -> Obj:
        status = "True" if ok else "False"
        if old is not None and old.get("status") == status and old.get("reason") == reason:
            return {**old, "message": message}
        now = now_iso()
        return {
            "type": type_,
            "status": status,
            "lastUpdateTime": now,
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        }


def _age_seconds(ts: str) -> float:
    from datetime import UTC, datetime

    return (
        datetime.now(UTC) - datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    ).total_seconds()
