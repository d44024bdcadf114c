"""The inventory's composition root: builds every part from settings and runs them.

`InventoryService` owns the tasks: one list+watch per kind, the projection writer, the
lifecycle tracker, the deletion-event consumer, the query responder and the probe/metrics
HTTP server (FastStream `AsgiFastStream`). `running_inventory` runs it in-process (tests,
benchmarks); `jan-models inventory` runs it as its own process.
"""

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Coroutine
from datetime import timedelta
from typing import Any

import uvicorn
from faststream.asgi import AsgiFastStream
from faststream.nats import NatsBroker
from kubernetes_asyncio.client import ApiClient
from nats.aio.client import Client
from pymongo import AsyncMongoClient

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
from services.inventory.changes import ModelBacklog, ProjectionBacklog
from services.inventory.cluster import PROJECTED_KINDS, ClusterView, Kind, utcnow
from services.inventory.exposition import CLUSTER_METRICS
from services.inventory.health import HealthPolicy
from services.inventory.lifecycle import ModelMemory
from services.inventory.objects import PodView, Raw, object_key
from services.inventory.pod_reports import pod_warning
from services.inventory.settings import InventorySettings
from services.inventory.timings import TimeToRunning
from services.inventory.tracker import ModelTracker
from shared import database, messaging
from shared.kubernetes import has_cluster, load_api_client
from shared.leadership import Lease, open_election
from shared.names import Collection
from shared.probes import probe_routes
from shared.records import Document
from shared.transactions import TransactionSessions

log = logging.getLogger(__name__)
SERVICE_NAME = "jan-models-inventory"
TICK_SECONDS = 1.0
LEADER_BUCKET = "jan_models_inventory_leader"
INVENTORY_COLLECTIONS = tuple(c for c in Collection if c.value.startswith("inventory_"))


class InventoryService:
    def __init__(self, settings: InventorySettings) -> None:
        self.settings = settings
        self.view = ClusterView(
            policy=HealthPolicy(
                crashloop_restart_threshold=settings.inventory_crashloop_restart_threshold,
                unschedulable_timeout=timedelta(
                    seconds=settings.inventory_unschedulable_timeout_seconds
                ),
            )
        )
        # Each consumer of the view's changes gets a feed of its own, subscribed here,
        # before any watch runs (see `changes`).
        self.projection_backlog = ProjectionBacklog()
        self.view.subscribe(self.projection_backlog)
        model_backlog = ModelBacklog()
        self.view.subscribe(model_backlog)
        self.tracker = ModelTracker(
            drift_grace=timedelta(seconds=settings.inventory_drift_grace_seconds),
            changes=model_backlog,
        )
        self.timing = WatchTiming(
            timeout_seconds=settings.inventory_watch_timeout_seconds,
            page_size=settings.inventory_list_page_size,
            backoff_initial=settings.inventory_backoff_initial_seconds,
            backoff_max=settings.inventory_backoff_max_seconds,
        )
        self.time_to_running = TimeToRunning()
        self.changed = asyncio.Event()
        self.changed_at = 0.0  # when `changed` was set: a flush waits for more until interval
        self._lifecycle_wake = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.optional_tasks: dict[str, asyncio.Task[None]] = {}
        """The watches of kinds whose CRD exists, by CRD name."""
        self.http_port: int | None = None
        self._nc: Client | None = None
        self._mongo: AsyncMongoClient[Document] | None = None
        self._kube: ApiClient | None = None
        self._broker: NatsBroker | None = None
        self._http: uvicorn.Server | None = None
        self._transactions: TransactionSessions | None = None
        self.leading = False
        """Whether this replica writes and publishes (always, when it runs alone)."""
        self._lease: Lease | None = None
        self._leader_tasks: list[asyncio.Task[None]] = []
        self._unsaved: dict[str, ModelMemory] = {}
        """Memories whose events may not be acknowledged yet, by public id."""
        self.responder = QueryResponder(self.view)
        self.crash_logs: CrashLogs | None = None

    @property
    def ready(self) -> bool:
        return self.view.connected

    # --- the watch sink -------------------------------------------------------------

    def listed(self, kind: Kind, items: list[Raw]) -> None:
        if kind is Kind.POD_EVENTS:
            for item in items:
                self._pod_event(item)
            return
        self.view.replace(kind, items)
        self._after(kind)
        if kind is Kind.PODS:
            for pod in self.view.pods.values():
                self._pod_seen(pod)

    def event(self, kind: Kind, event_type: str, obj: Raw, *, received: float) -> None:
        if kind is Kind.POD_EVENTS:
            if event_type != "DELETED":  # an expired Event: what it said still holds
                self._pod_event(obj)
            return
        if self.view.apply(kind, event_type, obj):
            key = object_key(obj)
            if kind is Kind.PODS:
                self._pod_seen(self.view.pods.get(key))
                if event_type == "DELETED" and self.crash_logs is not None:
                    self.crash_logs.forget(key)
            if kind in PROJECTED_KINDS:  # the others are never written: nothing to time
                self.projection_backlog.note_received(kind, key, received)
            self._after(kind)

    def _pod_event(self, raw: Raw) -> None:
        warning = pod_warning(raw)
        if warning is not None:
            self.view.note_warning(warning)
            self._after(Kind.POD_EVENTS)

    def _pod_seen(self, pod: PodView | None) -> None:
        if pod is not None and self.crash_logs is not None:
            self.crash_logs.consider(pod)

    def _crash_log_found(self, pod_key: str, text: str) -> None:
        self.view.note_crash_log(pod_key, text)
        self._after(Kind.POD_EVENTS)

    def _after(self, kind: Kind) -> None:
        self._mark_changed()
        self._lifecycle_wake.set()
        if kind is Kind.CRDS:
            self._follow_optional_crds()

    def _mark_changed(self) -> None:
        if not self.changed.is_set():
            self.changed_at = time.monotonic()
            self.changed.set()

    def _follow_optional_crds(self) -> None:
        for crd, target in OPTIONAL_TARGETS.items():
            present = crd in self.view.crds
            task = self.optional_tasks.get(crd)
            if present and task is None and self._kube is not None:
                self.optional_tasks[crd] = self._spawn(self._watch(target), target.kind)
            elif not present and task is not None:
                task.cancel()
                self.tasks.remove(task)
                del self.optional_tasks[crd]
                self.view.forget(target.kind)

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        settings = self.settings
        self._nc = await messaging.connect(settings.nats_url, name=SERVICE_NAME)
        js = self._nc.jetstream()
        await messaging.ensure_streams(js, replicas=settings.stream_replicas)
        self._mongo = database.connect(settings.mongodb_url, app_name=SERVICE_NAME)
        db = self._mongo[settings.mongodb_database]
        await database.ensure_indexes(db, INVENTORY_COLLECTIONS)
        self._transactions = TransactionSessions(db, service="inventory")
        await self._transactions.start()
        self.writer = ProjectionWriter(
            db,
            self.view,
            backlog=self.projection_backlog,
            sessions=self._transactions,
            batch_size=settings.inventory_write_batch_size,
        )
        self.memories = MemoryStore(db, transactions=self._transactions)
        self.publisher = EventPublisher(js)
        await self.responder.start(self._nc)
        CLUSTER_METRICS.follow(self.view)
        if has_cluster(settings.kubeconfig):
            self._kube = await load_api_client(settings.kubeconfig)
            self.crash_logs = CrashLogs(self._kube, found=self._crash_log_found)
            for target in (*REQUIRED_TARGETS, POD_EVENTS_TARGET):
                self._spawn(self._watch(target), target.kind)
        else:
            log.warning("no kubeconfig and not in a pod: reporting no cluster")
            self.view.set_no_cluster()
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
        await self._start_http()
        log.info("inventory started", extra={"http_port": self.http_port})

    async def _start_http(self) -> None:
        self._broker = NatsBroker(messaging.server_urls(self.settings.nats_url))
        app = AsgiFastStream(
            self._broker,
            asgi_routes=probe_routes(
                self._broker, ready=lambda: self.ready, extra_metrics=CLUSTER_METRICS.render
            ),
        )
        await self._broker.start()
        config = uvicorn.Config(
            app,
            host=self.settings.inventory_http_host,
            port=self.settings.inventory_http_port,
            lifespan="off",
            log_level="warning",
            access_log=False,
        )
        self._http = uvicorn.Server(config)
        self._spawn(self._http.serve(), "http")
        while not self._http.started:  # noqa: ASYNC110  # uvicorn offers no started event
            await asyncio.sleep(0.01)
        self.http_port = self._http.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        CLUSTER_METRICS.forget(self.view)
        if self._http is not None:
            self._http.should_exit = True
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
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
        if self._transactions is not None:
            await self._transactions.close()
        # While NATS is down, unsubscribing and draining fail: the shutdown goes on.
        with contextlib.suppress(Exception):
            await self.responder.stop()
        if self._broker is not None:
            with contextlib.suppress(Exception):
                await self._broker.stop()
        if self._kube is not None:
            await self._kube.close()
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.flush(timeout=2)
            with contextlib.suppress(Exception):
                await self._nc.close()
        if self._mongo is not None:
            await self._mongo.close()

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
        assert self._kube is not None
        await KubeWatch(client=self._kube, target=target, sink=self, timing=self.timing).run()

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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lifecycle_wake.wait(), TICK_SECONDS)
            self._lifecycle_wake.clear()
            try:
                now = utcnow()
                if time.monotonic() - last_recheck >= TICK_SECONDS:  # timers, once a second
                    last_recheck = time.monotonic()
                    self.view.recheck(now)
                outcome = self.tracker.process(self.view, now=now)
                self._unsaved.update((m.public_id, m) for m in outcome.memories)
                self.time_to_running.observe(
                    (emission.event for emission in outcome.events), self.view.workloads, now=now
                )
                if outcome.events or self.publisher.queue:
                    await self.publisher.publish(outcome.events)
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
        assert self._nc is not None
        self.tracker.load(await self.memories.load())
        self._leader_tasks = [
            self._spawn(self._write_loop(), "writer"),
            self._spawn(self._lifecycle_loop(), "lifecycle"),
            self._spawn(consume_deletions(self._nc.jetstream(), self._on_deleting), "deletions"),
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
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in tasks:
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


@contextlib.asynccontextmanager
async def running_inventory(settings: InventorySettings) -> AsyncIterator[InventoryService]:
    service = InventoryService(settings)
    try:
        await service.start()
        yield service
    finally:
        await service.stop()


async def wait_ready(service: InventoryService, *, timeout: float) -> float:
    """Seconds until every watch has synced; raises TimeoutError after `timeout`."""
    started = time.monotonic()
    while not service.ready:
        if time.monotonic() - started > timeout:
            raise TimeoutError("inventory not ready")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def serve(settings: InventorySettings) -> None:
    """Run until cancelled (SIGINT/SIGTERM end the process through asyncio.run)."""
    async with running_inventory(settings):
        await asyncio.Event().wait()


def main() -> None:
    run(InventorySettings())


def run(settings: InventorySettings) -> None:
    from shared.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format, service="inventory")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings))
