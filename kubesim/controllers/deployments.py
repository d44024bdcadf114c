"""Deployment controller: rolls a Deployment out through ReplicaSets as the real one does.

Each distinct pod template gets a ReplicaSet `NAME-HASH` (labels and selector carry
`pod-template-hash`), owned by the Deployment; the ReplicaSet controller owns the pods.
`Recreate` scales every old set to zero and waits until their pods are gone before the
new set is scaled up; `RollingUpdate` surges the new set by `maxSurge` and scales old
sets down while at least `replicas - maxUnavailable` pods stay available. Each set
carries `deployment.kubernetes.io/revision`; returning to an old template (`kubectl
rollout undo`) reuses its set under a new revision, and sets beyond
`revisionHistoryLimit` that run nothing are deleted. Status: observedGeneration, replica
counts, and the Available and Progressing conditions with the real reasons. Scaling is
recorded as `ScalingReplicaSet` Events ("Scaled up replica set web-5d8f from 0 to 2").
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from kubesim.controllers.common import (
    DEPLOYMENTS,
    PODS,
    REPLICA_SETS,
    Owned,
    controller_ref,
    note,
)
from kubesim.controllers.replicasets import ReplicaSetController
from kubesim.errors import ApiError
from kubesim.fieldsets import now_iso
from kubesim.storage import Event
from kubesim.store import ObjectStore

Obj = dict[str, Any]
Key = tuple[str, str]

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
#: Deployment annotations the controller does not copy onto its ReplicaSets
_NOT_COPIED = frozenset(
    {REVISION, DESIRED, MAX_REPLICAS, "kubectl.kubernetes.io/last-applied-configuration"}
)
COMPONENT = "deployment-controller"


def template_hash(template: Obj) -> str:
    digest = hashlib.sha256(orjson.dumps(template, option=orjson.OPT_SORT_KEYS)).hexdigest()
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    n = int(digest[:16], 16)
    out = []
    for _ in range(10):
        n, r = divmod(n, len(alphabet))
        out.append(alphabet[r])
    return "".join(out)


def _resolve(value: object, replicas: int, *, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        exact = replicas * int(value[:-1]) / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(str(value))


def surge_and_unavailable(spec: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) in pods; Recreate has neither. Both 0 means 1 unavailable."""
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0, 0
    replicas = int(spec.get("replicas", 1))
    rolling = strategy.get("rollingUpdate") or {}
    surge = _resolve(rolling.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = _resolve(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas)


def revision(obj: Obj) -> int:
    value = (obj["metadata"].get("annotations") or {}).get(REVISION, "0")
    return int(value) if str(value).isdigit() else 0


def _replicas(rs: Obj) -> int:
    return int((rs.get("spec") or {}).get("replicas", 0))


def _status(rs: Obj, field: str) -> int:
    return int((rs.get("status") or {}).get(field, 0))


class DeploymentController:
    #: the storage keys whose events `observe` reacts to (the manager sends it no others)
    observes: frozenset[str] | None = frozenset(
        {DEPLOYMENTS.storage_key, REPLICA_SETS.storage_key, PODS.storage_key}
    )

    def __init__(
        self, store: ObjectStore, *, replica_sets: ReplicaSetController, wake: Callable[[], None]
    ) -> None:
        self.store = store
        self.replica_sets = replica_sets
        self.wake = wake
        self.dirty: set[Key] = set()
        self._sets = Owned("Deployment")
        self._owner_of: dict[Key, str] = {}  # replica set -> its deployment's name
        self._hashes: dict[str, tuple[int, str]] = {}  # uid -> (generation, template hash)
        self._deadlines: set[Key] = set()  # deployments with a progress deadline check due
        # checks due while no event loop ran (the simulator settled synchronously, as a
        # bench or a test does): monotonic time when due, looked at on every run
        self._unscheduled: dict[Key, float] = {}

    def observe(self, event: Event) -> bool:
        meta = event.obj["metadata"]
        ns = meta.get("namespace", "")
        if event.key == DEPLOYMENTS.storage_key:
            observed = (event.obj.get("status") or {}).get("observedGeneration")
            if event.type == "MODIFIED" and observed == meta.get("generation"):
                return False  # a status write (ours): nothing new to roll out
            self.dirty.add((ns, meta["name"]))
            if event.type == "DELETED":
                self._sets.forget(meta["uid"])
                self._hashes.pop(meta["uid"], None)
            return True
        if event.key == REPLICA_SETS.storage_key:
            owner = self._sets.observe(event)
            if owner is None:
                return False
            if event.type == "DELETED":
                self._owner_of.pop((ns, meta["name"]), None)
            else:
                self._owner_of[(ns, meta["name"])] = owner
            self.dirty.add((ns, owner))
            return True
        if event.key == PODS.storage_key and event.type == "DELETED":
            # Recreate waits for the old pods to be gone, not only scaled away
            for ref in meta.get("ownerReferences") or ():
                owner = self._owner_of.get((ns, ref.get("name", "")))
                if ref.get("kind") == "ReplicaSet" and owner is not None:
                    self.dirty.add((ns, owner))
                    return True
        return False

    def _hash(self, d: Obj) -> str:
        """The template's hash, computed once per generation of the Deployment."""
        meta = d["metadata"]
        generation = int(meta.get("generation", 1))
        cached = self._hashes.get(meta["uid"])
        if cached is None or cached[0] != generation:
            cached = (generation, template_hash(d.get("spec", {}).get("template", {})))
            self._hashes[meta["uid"]] = cached
        return cached[1]

    def run(self) -> None:
        if self._unscheduled:
            now = time.monotonic()
            for key in [key for key, due in self._unscheduled.items() if due <= now]:
                del self._unscheduled[key]
                self._deadlines.discard(key)
                self.dirty.add(key)
        while self.dirty:
            ns, name = self.dirty.pop()
            deployment = self.store.find(DEPLOYMENTS, ns, name)
            if deployment is not None and not deployment["metadata"].get("deletionTimestamp"):
                self._reconcile(deployment)

    # -- rollout -----------------------------------------------------------------------

    def _reconcile(self, d: Obj) -> None:
        meta, spec = d["metadata"], d.get("spec", {})
        ns = meta["namespace"]
        sets = [
            rs
            for n in self._sets.names(meta["uid"])
            if (rs := self.store.find(REPLICA_SETS, ns, n)) is not None
            and not rs["metadata"].get("deletionTimestamp")
        ]
        # the hash names the template (the same template, after `rollout undo` too)
        pod_hash = self._hash(d)
        new = next(
            (rs for rs in sets if (rs["metadata"].get("labels") or {}).get(HASH_LABEL) == pod_hash),
            None,
        )
        old = sorted(
            (rs for rs in sets if rs is not new),
            key=lambda rs: (revision(rs), rs["metadata"]["name"]),
        )
        latest = max((revision(rs) for rs in sets), default=0)
        desired = int(spec.get("replicas", 1))
        limits = surge_and_unavailable(spec)  # once per reconcile: rolling and status use it
        if not spec.get("paused"):
            if new is not None and revision(new) < latest:
                new = self._annotate(d, new, str(latest + 1))  # back to an old template
            if (spec.get("strategy") or {}).get("type") == "Recreate":
                new = self._recreate(d, new, old, desired, latest)
            else:
                new = self._rolling(d, new, old, desired, latest, limits)
            old = [self.store.find(REPLICA_SETS, ns, rs["metadata"]["name"]) or rs for rs in old]
            self._clean_up(d, old)
        self._write_status(d, new, [*old, *([new] if new is not None else [])], limits)

    def _recreate(
        self, d: Obj, new: Obj | None, old: list[Obj], desired: int, latest: int
    ) -> Obj | None:
        for rs in old:
            if _replicas(rs) > 0:
                self._scale(d, rs, 0)
        if any(self.replica_sets.pods(rs) for rs in old):
            return new  # wait until the old pods are gone
        if new is None:
            return self._create_set(d, desired, latest + 1)
        if _replicas(new) != desired:
            return self._scale(d, new, desired)
        return new

    def _rolling(
        self,
        d: Obj,
        new: Obj | None,
        old: list[Obj],
        desired: int,
        latest: int,
        limits: tuple[int, int],
    ) -> Obj | None:
        surge, unavailable = limits
        total = sum(_replicas(rs) for rs in old) + (_replicas(new) if new is not None else 0)
        current = _replicas(new) if new is not None else 0
        wanted = current
        if current > desired:
            wanted = desired
        elif current < desired and total < desired + surge:
            wanted = current + min(desired + surge - total, desired - current)
        if new is None:
            new = self._create_set(d, wanted, latest + 1)
        elif wanted != current:
            new = self._scale(d, new, wanted)
        if new is None or not any(_replicas(rs) for rs in old):
            return new
        # scale old sets down while `desired - maxUnavailable` pods stay available
        min_available = desired - unavailable
        all_total = sum(_replicas(rs) for rs in old) + _replicas(new)
        new_unavailable = _replicas(new) - _status(new, "availableReplicas")
        budget = all_total - min_available - new_unavailable
        if budget <= 0:
            # as the real controller: nothing may go while the sets' sizes leave no room;
            # an old set's status may still count pods just scaled away as available
            return new
        for i, rs in enumerate(old):  # unhealthy pods of old sets go first
            unhealthy = _replicas(rs) - _status(rs, "availableReplicas")
            if budget <= 0:
                break
            if unhealthy > 0 and _replicas(rs) > 0:
                down = min(budget, unhealthy)
                old[i] = self._scale(d, rs, _replicas(rs) - down)
                budget -= down
        available = sum(_status(rs, "availableReplicas") for rs in [*old, new])
        remaining = min(available - min_available, budget)
        for i, rs in enumerate(old):
            if remaining <= 0:
                break
            if _replicas(rs) > 0:
                down = min(_replicas(rs), remaining)
                old[i] = self._scale(d, rs, _replicas(rs) - down)
                remaining -= down
        return new

    def _create_set(self, d: Obj, replicas: int, rev: int) -> Obj | None:
        meta, spec = d["metadata"], d["spec"]
        template = spec.get("template", {})
        pod_hash = self._hash(d)
        tmeta = template.get("metadata") or {}
        labels = {**(tmeta.get("labels") or {}), HASH_LABEL: pod_hash}
        selector = dict(spec.get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: pod_hash}
        name = f"{meta['name']}-{pod_hash}"
        rs: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "labels": labels,
                "annotations": self._set_annotations(d, str(rev)),
                "ownerReferences": [controller_ref(d)],
            },
            "spec": {
                "replicas": replicas,
                "minReadySeconds": spec.get("minReadySeconds", 0),
                "selector": selector,
                "template": {**template, "metadata": {**tmeta, "labels": labels}},
            },
        }
        try:
            created = self.store.create(rs, rt=REPLICA_SETS)
        except ApiError:
            return None  # a set of that name that is not this template's: leave it be
        if replicas:
            self._scaling_event(d, name, "up", 0, replicas)
        return created

    def _set_annotations(self, d: Obj, rev: str) -> dict[str, str]:
        spec = d["spec"]
        surge, _ = surge_and_unavailable(spec)
        copied = {
            k: v
            for k, v in (d["metadata"].get("annotations") or {}).items()
            if k not in _NOT_COPIED
        }
        desired = int(spec.get("replicas", 1))
        return {**copied, DESIRED: str(desired), MAX_REPLICAS: str(desired + surge), REVISION: rev}

    def _annotate(self, d: Obj, rs: Obj, rev: str) -> Obj:
        meta = {**rs["metadata"], "annotations": self._set_annotations(d, rev)}
        return self.store.commit(REPLICA_SETS, {**rs, "metadata": meta})

    def _scale(self, d: Obj, rs: Obj, replicas: int) -> Obj:
        before = _replicas(rs)
        meta = {**rs["metadata"]}
        meta["annotations"] = {
            **self._set_annotations(d, str(revision(rs))),
            **{
                k: v
                for k, v in (meta.get("annotations") or {}).items()
                if k not in (DESIRED, MAX_REPLICAS)
            },
        }
        scaled = self.store.commit(
            REPLICA_SETS, {**rs, "metadata": meta, "spec": {**rs["spec"], "replicas": replicas}}
        )
        self._scaling_event(
            d, rs["metadata"]["name"], "up" if replicas > before else "down", before, replicas
        )
        return scaled

    def _scaling_event(self, d: Obj, name: str, way: str, before: int, after: int) -> None:
        message = f"Scaled {way} replica set {name} from {before} to {after}"
        note(self.store, d, "ScalingReplicaSet", message, component=COMPONENT)

    def _clean_up(self, d: Obj, old: list[Obj]) -> None:
        limit = int(d["spec"].get("revisionHistoryLimit", 10))
        idle = [rs for rs in old if _replicas(rs) == 0 and _status(rs, "replicas") == 0]
        for rs in idle[: max(len(idle) - limit, 0)]:  # `old` is sorted by revision
            with contextlib.suppress(ApiError):
                self.store.delete(REPLICA_SETS, rs["metadata"]["namespace"], rs["metadata"]["name"])

    # -- status ------------------------------------------------------------------------

    def _write_status(
        self, d: Obj, new: Obj | None, sets: list[Obj], limits: tuple[int, int]
    ) -> None:
        spec, old_status = d.get("spec", {}), d.get("status") or {}
        wanted = int(spec.get("replicas", 1))
        replicas = sum(_status(rs, "replicas") for rs in sets)
        updated = _status(new, "replicas") if new is not None else 0
        ready = sum(_status(rs, "readyReplicas") for rs in sets)
        available = sum(_status(rs, "availableReplicas") for rs in sets)
        total = sum(_replicas(rs) for rs in sets)
        status: Obj = {"observedGeneration": d["metadata"].get("generation", 1)}
        for field, value in (
            ("replicas", replicas),
            ("updatedReplicas", updated),
            ("readyReplicas", ready),
            ("availableReplicas", available),
            ("unavailableReplicas", max(total - available, 0)),
        ):
            if value:
                status[field] = value
        old_conditions = {c["type"]: c for c in old_status.get("conditions", [])}
        _surge, unavailable = limits
        is_available = available >= wanted - unavailable
        complete = updated == wanted and replicas == wanted and available == wanted
        rs_name = (
            new["metadata"]["name"]
            if new is not None
            else f"{d['metadata']['name']}-{self._hash(d)}"
        )
        progressing = self._progressing(d, old_conditions.get("Progressing"), complete, rs_name)
        status["conditions"] = [
            self._condition(
                old_conditions.get("Available"),
                "Available",
                is_available,
                "MinimumReplicasAvailable" if is_available else "MinimumReplicasUnavailable",
                "Deployment has minimum availability."
                if is_available
                else "Deployment does not have minimum availability.",
            ),
            progressing,
        ]
        annotations = d["metadata"].get("annotations") or {}
        rev = str(revision(new)) if new is not None else annotations.get(REVISION)
        if status == old_status and annotations.get(REVISION) == rev:
            return
        meta = {**d["metadata"]}
        if rev is not None:
            meta["annotations"] = {**annotations, REVISION: rev}
        self.store.commit(DEPLOYMENTS, {**d, "metadata": meta, "status": status})

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
        key = (d["metadata"]["namespace"], d["metadata"]["name"])
        if key not in self._deadlines:
            # once per rollout, or for one found under way after a restart
            self._deadlines.add(key)
            left = max(deadline if started is None else deadline - _age_seconds(started), 0.0)
            try:
                asyncio.get_running_loop().call_later(left + 0.5, self._recheck, key)
            except RuntimeError:  # settled outside an event loop: the next run looks
                self._unscheduled[key] = time.monotonic() + left + 0.5
        return self._condition(
            old, "Progressing", True, "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.'
        )

    def _recheck(self, key: Key) -> None:
        self._deadlines.discard(key)
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
    """Seconds since `ts` (`2026-01-02T03:04:05Z`, as `now_iso` writes it)."""
    return (datetime.now(UTC) - datetime.fromisoformat(ts)).total_seconds()
