"""The inventory's composition root: opens its connections and builds every part from
settings, before anything runs.

`build` gives an `InventoryRuntime` (see `runtime`) whose collaborators all exist: the
cluster store with one change feed per consumer subscribed to it (the projection
writer's, the lifecycle tracker's, the reply cache), the lifecycle tracker, the projection
writer, the model memories, the event publisher, the query responder and
the probe server (FastStream `AsgiFastStream` under uvicorn). The inventory's one NATS
connection is its FastStream broker's: queries, events and deletions go over it, and
`/healthz` pings it. `running` runs it in-process (tests, benchmarks); `run` runs it as
its own process, for `jan-models inventory` and `python -m services.inventory`.

The query responders stay nats-py subscriptions with prebuilt reply bytes rather than
FastStream subscribers, and events are published with nats-py rather than a FastStream
publisher: measured, FastStream's per-message path costs more than a query can spare, and
its publisher stamps headers of its own onto every stored event (the figures are in
`adapters/queries.py` and `adapters/model_events.py`).
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import uvicorn
from faststream.asgi import AsgiFastStream
from faststream.nats import NatsBroker

from services.inventory.adapters.kube_watch import WatchTiming
from services.inventory.adapters.memories import MemoryStore
from services.inventory.adapters.model_events import EventPublisher
from services.inventory.adapters.projections import ProjectionWriter
from services.inventory.adapters.queries import QueryResponder
from services.inventory.changes import ModelBacklog, ProjectionBacklog
from services.inventory.exposition import CLUSTER_METRICS
from services.inventory.health import HealthPolicy
from services.inventory.reply_cache import ReplyCache
from services.inventory.runtime import Clients, InventoryRuntime
from services.inventory.settings import InventorySettings
from services.inventory.store import ClusterStore
from services.inventory.tracker import ModelTracker
from shared import database
from shared.brokers import nats_broker
from shared.kubernetes import has_cluster, load_api_client
from shared.logs import configure_logging
from shared.probes import probe_routes
from shared.transactions import TransactionSessions

SERVICE_NAME = "jan-models-inventory"


class ProbeServer:
    """The probe port: health from the broker's connection (the one the inventory works
    on), readiness from the store, and the metrics registry plus the inventory's cluster
    gauges."""

    def __init__(
        self, settings: InventorySettings, broker: NatsBroker, *, ready: Callable[[], bool]
    ) -> None:
        self.broker = broker
        app = AsgiFastStream(
            broker,
            asgi_routes=probe_routes(broker, ready=ready, extra_metrics=CLUSTER_METRICS.render),
        )
        config = uvicorn.Config(
            app,
            host=settings.inventory_http_host,
            port=settings.inventory_http_port,
            lifespan="off",
            log_level="warning",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self.port: int | None = None

    async def open(self) -> None:
        await self.broker.start()

    async def serve(self) -> None:
        await self._server.serve()

    async def bound(self) -> int:
        while not self._server.started:  # noqa: ASYNC110  # uvicorn offers no started event
            await asyncio.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self.port

    def exit(self) -> None:
        self._server.should_exit = True

    async def close(self) -> None:
        """Stop the broker, which drains the connection (the runtime has unsubscribed)."""
        await self.broker.stop()


async def connect(settings: InventorySettings, broker: NatsBroker) -> Clients:
    """NATS (the broker's connection), MongoDB and (when there is one) the cluster; what
    was opened before a failure is closed again."""
    async with contextlib.AsyncExitStack() as opened:
        nats = await broker.connect()
        opened.push_async_callback(nats.close)
        mongo = database.connect(settings.mongodb_url, app_name=SERVICE_NAME)
        opened.push_async_callback(mongo.close)
        kube = None
        if has_cluster(settings.kubeconfig):
            kube = await load_api_client(settings.kubeconfig)
        opened.pop_all()
    return Clients(nats=nats, mongo=mongo, db=mongo[settings.mongodb_database], kube=kube)


def assemble(settings: InventorySettings, clients: Clients, broker: NatsBroker) -> InventoryRuntime:
    """Every part, wired; each consumer of the store's changes subscribes to a feed of its
    own here, before any watch runs (see `changes`)."""
    store = ClusterStore(
        policy=HealthPolicy(
            crashloop_restart_threshold=settings.inventory_crashloop_restart_threshold,
            unschedulable_timeout=timedelta(
                seconds=settings.inventory_unschedulable_timeout_seconds
            ),
        )
    )
    projection_backlog = ProjectionBacklog()
    store.subscribe(projection_backlog)
    model_backlog = ModelBacklog()
    store.subscribe(model_backlog)
    reply_cache = ReplyCache(store)
    store.subscribe(reply_cache)
    transactions = TransactionSessions(clients.db, service="inventory")
    return InventoryRuntime(
        settings=settings,
        clients=clients,
        store=store,
        projection_backlog=projection_backlog,
        tracker=ModelTracker(
            drift_grace=timedelta(seconds=settings.inventory_drift_grace_seconds),
            changes=model_backlog,
        ),
        timing=WatchTiming(
            timeout_seconds=settings.inventory_watch_timeout_seconds,
            page_size=settings.inventory_list_page_size,
            backoff_initial=settings.inventory_backoff_initial_seconds,
            backoff_max=settings.inventory_backoff_max_seconds,
        ),
        transactions=transactions,
        writer=ProjectionWriter(
            clients.db,
            store,
            backlog=projection_backlog,
            sessions=transactions,
            batch_size=settings.inventory_write_batch_size,
        ),
        memories=MemoryStore(clients.db, transactions=transactions),
        publisher=EventPublisher(clients.nats.jetstream()),
        responder=QueryResponder(reply_cache),
        probes=ProbeServer(settings, broker, ready=lambda: store.connected),
    )


async def build(settings: InventorySettings) -> InventoryRuntime:
    broker = nats_broker(settings.nats_url, name=SERVICE_NAME)
    return assemble(settings, await connect(settings, broker), broker)


@contextlib.asynccontextmanager
async def running(settings: InventorySettings) -> AsyncIterator[InventoryRuntime]:
    runtime = await build(settings)
    try:
        await runtime.start()
        yield runtime
    finally:
        await runtime.stop()


async def wait_ready(service: InventoryRuntime, *, timeout: float) -> float:
    """Seconds until every watch has synced; raises TimeoutError after `timeout`."""
    started = time.monotonic()
    while not service.ready:
        if time.monotonic() - started > timeout:
            raise TimeoutError("inventory not ready")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def _serve(settings: InventorySettings) -> None:
    """Run until cancelled (SIGINT/SIGTERM end the process through asyncio.run)."""
    async with running(settings):
        await asyncio.Event().wait()


def run(settings: InventorySettings | None = None) -> None:
    settings = settings or InventorySettings()
    configure_logging(settings.log_level, settings.log_format, service="inventory")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(settings))
