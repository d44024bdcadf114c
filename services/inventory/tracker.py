"""Turns changes in the store into lifecycle events for managed models.

The store tells the tracker's feed (`changes.ModelBacklog`) the workloads it touched and
the ones that vanished; `process` judges each managed one (see `emissions`) and returns
the events to publish and the memories to persist (its `Findings`). After a restart, a
model remembered as present whose Deployment is absent from the fresh list vanished
while the inventory was down, and goes through the same grace.
The model's other objects are accounted for after its Deployment (`account_objects`),
also for the models remembered with objects once every watch has synced, so an object
deleted while the inventory was down is drift too.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.inventory import emissions
from services.inventory.changes import ModelBacklog
from services.inventory.emissions import Emission, ModelMemory
from services.inventory.store import ClusterStore, Watched

log = logging.getLogger(__name__)


@dataclass
class Findings:
    events: list[Emission] = field(default_factory=list)
    memories: list[ModelMemory] = field(default_factory=list)


class ModelTracker:
    def __init__(self, *, drift_grace: timedelta, changes: ModelBacklog) -> None:
        self.drift_grace = drift_grace
        self.changes = changes
        """Subscribed to the store by whoever wires the service."""
        self.memories: dict[str, ModelMemory] = {}
        self._start_reconciled = False
        self._objects_reconciled = False
        self._gone: set[str] = set()
        self._missing: set[str] = set()

    def load(self, memories: list[ModelMemory]) -> None:
        self.memories = {memory.public_id: memory for memory in memories}
        self._gone = {m.public_id for m in memories if m.gone_since is not None}
        self._missing = {m.public_id for m in memories if m.missing_since is not None}

    def deleting(self, public_id: str) -> ModelMemory | None:
        """The model is being deleted (a `deleting`/`deleted` event); None if already known."""
        memory = self.memories.get(public_id) or ModelMemory(public_id=public_id)
        if memory.deleting:
            return None
        memory = emissions.mark_deleting(memory)
        self.memories[public_id] = memory
        return memory

    def process(self, store: ClusterStore, *, now: datetime) -> Findings:
        findings = Findings()
        if not store.connected:
            return findings
        touched, gone = self.changes.take_workloads()
        changed: dict[str, ModelMemory] = {}
        observed: set[str] = set()
        for key in touched:
            public_id = self._observe(store, key, findings, changed)
            if public_id is not None:
                observed.add(public_id)
        self._account_objects(store, observed, now=now, findings=findings, changed=changed)
        vanished_ids = {w.public_id for w in gone.values() if w.managed and w.public_id}
        if not self._start_reconciled and Watched.WORKLOADS in store.synced:
            self._start_reconciled = True
            vanished_ids |= {p for p, m in self.memories.items() if m.present}
        if vanished_ids:  # rare: only then is the scan over every workload worth it
            present = {w.public_id for w in store.workloads.values() if w.managed}
            vanished_ids -= present
        for public_id in vanished_ids:
            remembered = self.memories.get(public_id)
            if remembered is None:
                continue
            updated = emissions.vanished(remembered, now=now)
            if updated != remembered:
                changed[public_id] = self.memories[public_id] = updated
            if updated.gone_since is not None:
                self._gone.add(public_id)
        for public_id in list(self._gone):
            memory = self.memories[public_id]
            if memory.gone_since is None:
                self._gone.discard(public_id)
                continue
            decision = emissions.check_drift(memory, now=now, grace=self.drift_grace)
            updated, told = emissions.numbered(decision.memory, decision.events)
            findings.events.extend(told)
            if updated != memory:
                changed[public_id] = self.memories[public_id] = updated
        findings.memories = list(changed.values())
        return findings

    def _observe(
        self, store: ClusterStore, key: str, findings: Findings, changed: dict[str, ModelMemory]
    ) -> str | None:
        """Judge one managed Deployment; the model's public id, or None if it is not one."""
        workload = store.workloads.get(key)
        if workload is None or not workload.managed:
            return None
        identity = emissions.identity_of(workload)
        if identity is None:
            log.warning(
                "managed deployment lacks model labels or annotations",
                extra={"deployment": key, "public_id": workload.public_id},
            )
            return None
        memory = self.memories.get(identity.public_id) or ModelMemory(identity.public_id)
        decision = emissions.observe(
            memory, workload=workload, identity=identity, assessment=store.assessment(key)
        )
        self._record(memory, decision, findings, changed)
        return identity.public_id

    def _account_objects(
        self,
        store: ClusterStore,
        observed: set[str],
        *,
        now: datetime,
        findings: Findings,
        changed: dict[str, ModelMemory],
    ) -> None:
        checks = self.changes.take_owned() | observed | self._missing
        if not self._objects_reconciled and store.connected:
            self._objects_reconciled = True
            checks |= {p for p, m in self.memories.items() if m.owned}
        known = store.owned_kinds_known
        for public_id in checks:
            memory = self.memories.get(public_id)
            if memory is None:
                continue  # not a model seen yet: its Deployment's first sight accounts for them
            accounting = emissions.account_objects(
                memory,
                present=store.owned_refs(public_id),
                known_kinds=known,
                now=now,
                grace=self.drift_grace,
            )
            updated = self._record(memory, accounting.decision, findings, changed)
            if updated.missing_since is not None:
                self._missing.add(public_id)
            else:
                self._missing.discard(public_id)
            identity = updated.identity
            if accounting.appeared and updated.state == "none" and identity is not None:
                # back after a drift: tell the model's state again
                self._observe(store, f"{identity.namespace}/{identity.name}", findings, changed)

    def _record(
        self,
        memory: ModelMemory,
        decision: emissions.Decision,
        findings: Findings,
        changed: dict[str, ModelMemory],
    ) -> ModelMemory:
        updated, told = emissions.numbered(decision.memory, decision.events)
        findings.events.extend(told)
        if updated != memory:
            changed[updated.public_id] = self.memories[updated.public_id] = updated
        return updated
