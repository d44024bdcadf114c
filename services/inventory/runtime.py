"""One running inventory: its watches, its loops and its leadership, started and stopped
together.

Everything it uses is built and handed to it by `services.inventory.app` before `start`:
the connections, the cluster store with the change feeds its consumers subscribed to, the
projection writer, the model memories, the event publisher, the query responder and the
probe server. `start` declares the streams and indexes, answers queries, watches every
kind, takes or waits for the lead and opens the probe port; `stop` undoes all of it and
closes the connections.
"""

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubernetes_asyncio.client import ApiClient
from nats.aio.client import Client
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from services.inventory import metrics
from services.inventory.adapters.crash_logs import CrashLogs
from services.inventory.adapters.kinds import (
    OPTIONAL_TARGETS,
    POD_EVENTS_TARGET,
    REQUIRED_TARGETS,
)
from services.inventory.adapters.kube_watch import KubeWatch, WatchTarget, WatchTiming
from services.inventory.adapters.memories import MemoryStore
from services.inventory.adapters.model_events import EventPublisher, consume_deletions
from services.inventory.adapters.projections import ProjectionWriter
from services.inventory.adapters.queries import QueryResponder
from services.inventory.changes import ProjectionBacklog
from services.inventory.emissions import ModelMemory
from services.inventory.exposition import CLUSTER_METRICS
from services.inventory.objects import ObservedPod, Raw, object_key
from services.inventory.pod_reports import pod_warning
from services.inventory.settings import InventorySettings
from services.inventory.store import PROJECTED_WATCHES, ClusterStore, Watched, utcnow
from services.inventory.timings import TimeToRunning
from services.inventory.tracker import ModelTracker
from shared import database, messaging
from shared.leadership import Lease, open_election
from shared.names import Collection
from shared.records import Document
from shared.tasks import cancel_and_wait
from shared.transactions import TransactionSessions

log = logging.getLogger(__name__)
TICK_SECONDS = 1.0
LEADER_BUCKET = "jan_models_inventory_leader"
INVENTORY_COLLECTIONS = tuple(c for c in Collection if c.value.startswith("inventory_"))


@dataclass(frozen=True, slots=True)
class Clients:
    """The connections the inventory works through, opened before anything is built."""

    nats: Client
    """The FastStream broker's connection, the one `/healthz` pings."""
    mongo: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    kube: ApiClient | None
    """None when there is no kubeconfig and no pod's service account: no cluster."""


class ProbePort(Protocol):
    """`/healthz`, `/readyz` and `/metrics` on the inventory's small HTTP port."""

    port: int | None

    async def open(self) -> None:
        """Start what health is judged by (the broker whose connection `clients.nats`
        is); raises when it cannot."""

    async def serve(self) -> None:
        """Serve until `exit` (run as one of the runtime's tasks)."""

    async def bound(self) -> int:
        """The port, once the server listens."""

    def exit(self) -> None:
        """Ask the server to stop serving."""

    async def close(self) -> None:
        """Stop what `open` started, draining the NATS connection."""


@dataclass(kw_only=True, eq=False)
class InventoryRuntime:
    settings: InventorySettings
    clients: Clients
    store: ClusterStore
    projection_backlog: ProjectionBacklog
    tracker: ModelTracker
    timing: WatchTiming
    transactions: TransactionSessions
    writer: ProjectionWriter
    memories: MemoryStore
    publisher: EventPublisher
    responder: QueryResponder
    probes: ProbePort
    crash_logs: CrashLogs | None = field(init=False)
    """Reports to this runtime's watch sink, so it is made here, from the cluster client."""
    time_to_running: TimeToRunning = field(init=False, default_factory=TimeToRunning)
    changed: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    changed_at: float = field(init=False, default=0.0)
    """When `changed` was set: a flush waits for more until the flush interval."""
    tasks: list[asyncio.Task[None]] = field(init=False, default_factory=list)
    optional_tasks: dict[str, asyncio.Task[None]] = field(init=False, default_factory=dict)
    """The watches of kinds whose CRD exists, by CRD name."""
    leading: bool = field(init=False, default=False)
    """Whether this replica writes and publishes (always, when it runs alone)."""
    _lifecycle_wake: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    _sessions_begun: bool = field(init=False, default=False)
    """Whether `start` got as far as the transaction sessions (so `stop` ends them)."""
    _lease: Lease | None = field(init=False, default=None)
    _leader_tasks: list[asyncio.Task[None]] = field(init=False, default_factory=list)
    _unsaved: dict[str, ModelMemory] = field(init=False, default_factory=dict)
    """Memories whose events may not be acknowledged yet, by public id."""

    def __post_init__(self) -> None:
        kube = self.clients.kube
        self.crash_logs = None if kube is None else CrashLogs(kube, found=self._crash_log_found)

    @property
    def http_port(self) -> int | None:
        return self.probes.port

    @property
    def ready(self) -> bool:
        return self.store.connected

    # --- the watch sink -------------------------------------------------------------

    def listed(self, kind: Watched, items: list[Raw]) -> None:
        if kind is Watched.POD_EVENTS:
            for item in items:
                self._pod_event(item)
            return
        self.store.replace(kind, items)
        self._after(kind)
        if kind is Watched.PODS:
            for pod in self.store.pods.values():
                self._pod_seen(pod)

    def event(self, kind: Watched, event_type: str, obj: Raw, *, received: float) -> None:
        if kind is Watched.POD_EVENTS:
            if event_type != "DELETED":  # an expired Event: what it said still holds
                self._pod_event(obj)
            return
        if self.store.apply(kind, event_type, obj):
            key = object_key(obj)
            if kind is Watched.PODS:
                self._pod_seen(self.store.pods.get(key))
                if event_type == "DELETED" and self.crash_logs is not None:
                    self.crash_logs.forget(key)
            if kind in PROJECTED_WATCHES:  # the others are never written: nothing to time
                self.projection_backlog.note_received(kind, key, received)
            self._after(kind)

    def _pod_event(self, raw: Raw) -> None:
        warning = pod_warning(raw)
        if warning is not None:
            self.store.note_warning(warning)
            self._after(Watched.POD_EVENTS)

    def _pod_seen(self, pod: ObservedPod | None) -> None:
        if pod is not None and self.crash_logs is not None:
            self.crash_logs.consider(pod)

    def _crash_log_found(self, pod_key: str, text: str) -> None:
        self.store.note_crash_log(pod_key, text)
        self._after(Watched.POD_EVENTS)

    def _after(self, kind: Watched) -> None:
        self._mark_changed()
        self._lifecycle_wake.set()
        if kind is Watched.CRDS:
            self._follow_optional_crds()

    def _mark_changed(self) -> None:
        if not self.changed.is_set():
            self.changed_at = time.monotonic()
            self.changed.set()

    def _follow_optional_crds(self) -> None:
        for crd, target in OPTIONAL_TARGETS.items():
            present = crd in self.store.crds
            task = self.optional_tasks.get(crd)
            if present and task is None and self.clients.kube is not None:
                self.optional_tasks[crd] = self._spawn(self._watch(target), target.kind)
            elif not present and task is not None:
                task.cancel()
                self.tasks.remove(task)
                del self.optional_tasks[crd]
                self.store.forget(target.kind)

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        settings = self.settings
        js = self.clients.nats.jetstream()
        await messaging.ensure_streams(js, replicas=settings.stream_replicas)
        await database.ensure_indexes(self.clients.db, INVENTORY_COLLECTIONS)
        self._sessions_begun = True
        await self.transactions.start()
        await self.responder.start(self.clients.nats)
        CLUSTER_METRICS.follow(self.store)
        if self.clients.kube is not None:
            for target in (*REQUIRED_TARGETS, POD_EVENTS_TARGET):
                self._spawn(self._watch(target), target.kind)
        else:
            log.warning("no kubeconfig and not in a pod: reporting no cluster")
            self.store.set_no_cluster()
        if settings.inventory_leader_lease_seconds is None:
            await self._lead()
        else:
            kv = await open_election(js, LEADER_BUCKET, replicas=settings.stream_replicas)
            self._lease = Lease(
                kv,
                me=f"{socket.gethostname()}:{os.getpid()}",
                seconds=settings.inventory_leader_lease_seconds,
            )
            self._spawn(self._election_loop(self._lease), "election")
        await self.probes.open()
        self._spawn(self.probes.serve(), "http")
        await self.probes.bound()
        log.info("inventory started", extra={"http_port": self.http_port})

    async def stop(self) -> None:
        CLUSTER_METRICS.forget(self.store)
        self.probes.exit()
        await cancel_and_wait(self.tasks)
        self.tasks.clear()
        if self.crash_logs is not None:
            await self.crash_logs.stop()
        self._leader_tasks.clear()
        with contextlib.suppress(Exception):
            if self.leading and self.writer.pending():
                await self.writer.flush()
        if self._lease is not None:
            await self._lease.release()
        self.leading = False
        metrics.LEADING.set(0)
        if self._sessions_begun:
            await self.transactions.close()
        # While NATS is down, unsubscribing and draining fail: the shutdown goes on.
        with contextlib.suppress(Exception):
            await self.responder.stop()
        with contextlib.suppress(Exception):
            await self.probes.close()
        if self.clients.kube is not None:
            await self.clients.kube.close()
        # The probes' broker drained the connection; one that could not drain (NATS down)
        # is closed here.
        with contextlib.suppress(Exception):
            await self.clients.nats.flush(timeout=2)
        with contextlib.suppress(Exception):
            await self.clients.nats.close()
        await self.clients.mongo.close()

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coroutine)
        task.set_name(f"inventory-{name}")
        task.add_done_callback(self._report_crash)
        self.tasks.append(task)
        return task

    @staticmethod
    def _report_crash(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "inventory task died", extra={"task": task.get_name()}, exc_info=task.exception()
            )

    async def _watch(self, target: WatchTarget) -> None:
        assert self.clients.kube is not None
        await KubeWatch(
            client=self.clients.kube, target=target, sink=self, timing=self.timing
        ).run()

    async def _write_loop(self) -> None:
        """Flush at most `flush_interval` after the first change a flush has not taken yet:
        changes arriving meanwhile join that flush; changes that arrived while a slow
        flush ran have already waited, so the next flush starts at once."""
        attempt = 0
        while True:
            await self.changed.wait()
            wait = self.changed_at + self.settings.inventory_flush_interval_seconds
            if (delay := wait - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            self.changed.clear()
            try:
                await self.writer.flush()
                attempt = 0
            except Exception as exc:
                delay = self.timing.backoff(attempt)
                attempt += 1
                log.warning("projection write failed", extra={"error": repr(exc)})
                self._mark_changed()
                await asyncio.sleep(delay)

    async def _lifecycle_loop(self) -> None:
        last_recheck = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):  # not wait_for: see shared.tasks
                async with asyncio.timeout(TICK_SECONDS):
                    await self._lifecycle_wake.wait()
            self._lifecycle_wake.clear()
            try:
                now = utcnow()
                if time.monotonic() - last_recheck >= TICK_SECONDS:  # timers, once a second
                    last_recheck = time.monotonic()
                    self.store.recheck(now)
                findings = self.tracker.process(self.store, now=now)
                self._unsaved.update((m.public_id, m) for m in findings.memories)
                self.time_to_running.observe(
                    (emission.event for emission in findings.events), self.store.workloads, now=now
                )
                if findings.events or self.publisher.queue:
                    await self.publisher.publish(findings.events)
                if self._unsaved and not self.publisher.queue:
                    # Saved only once every event is acknowledged: a memory saved ahead of
                    # its event would let a restart forget an event NATS never took.
                    await self.memories.save(list(self._unsaved.values()))
                    self._unsaved.clear()
            except Exception:
                log.exception("lifecycle round failed")
                await asyncio.sleep(TICK_SECONDS)

    # --- leadership -----------------------------------------------------------------

    async def _lead(self) -> None:
        """Write projections, judge lifecycles and publish their events: the leader's
        part. Memories are read afresh, since the last leader kept them until now."""
        self.tracker.load(await self.memories.load())
        self._leader_tasks = [
            self._spawn(self._write_loop(), "writer"),
            self._spawn(self._lifecycle_loop(), "lifecycle"),
            self._spawn(
                consume_deletions(self.clients.nats.jetstream(), self._on_deleting), "deletions"
            ),
        ]
        self.leading = True
        metrics.LEADING.set(1)
        self._mark_changed()
        self._lifecycle_wake.set()

    async def _follow(self) -> None:
        """Stand by: keep watching and answering queries, write and publish nothing. What
        was judged but not yet acknowledged is judged again by the next leader, under the
        same message ids, so nothing is lost or published twice."""
        self.leading = False
        metrics.LEADING.set(0)
        tasks, self._leader_tasks = self._leader_tasks, []
        await cancel_and_wait(tasks)
        for task in tasks:
            if task.done():  # one still running stays, so that `stop` cancels it again
                with contextlib.suppress(ValueError):
                    self.tasks.remove(task)
        self._unsaved.clear()
        self.publisher.queue.clear()

    async def _election_loop(self, lease: Lease) -> None:
        while True:
            try:
                holding = await lease.try_hold()
            except Exception as exc:
                log.warning("leadership could not be renewed", extra={"error": repr(exc)})
                holding = lease.held  # keep leading only while the lease surely lasts
            if holding and not self.leading:
                log.info("leading: writing projections and publishing events")
                await self._lead()
            elif not holding and self.leading:
                log.warning("standing by: another replica leads")
                await self._follow()
            await asyncio.sleep(lease.seconds / 6)

    async def _on_deleting(self, public_id: str) -> None:
        memory = self.tracker.deleting(public_id)
        if memory is not None:
            await self.memories.save([memory])
