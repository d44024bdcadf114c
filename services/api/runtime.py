"""Everything one running api holds: clients, adapters and background tasks, started and
stopped together by the app's lifespan (and by `app.running` in tests)."""

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from nats.aio.client import Client
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from services.api.adapters.admissions import Admissions, QuotaLimits
from services.api.adapters.api_keys import ApiKeys
from services.api.adapters.event_feed import JetStreamFeeds
from services.api.adapters.event_history import EventHistory
from services.api.adapters.inventory import Inventory
from services.api.adapters.registry import Registry
from services.api.adapters.registry_view import RegistryView
from services.api.adapters.relay import OutboxRelay
from services.api.adapters.status_consumer import StatusConsumer
from services.api.cluster_models import ClusterModels
from services.api.exposition import COLLECTOR
from services.api.handlers import Models
from services.api.ratelimit import TokenBuckets
from services.api.settings import ApiSettings
from shared import database, messaging
from shared.errors import InventoryUnavailableError, NotInClusterError
from shared.names import Collection
from shared.records import Document
from shared.secrets import TokenCipher
from shared.transactions import TransactionSessions

log = logging.getLogger(__name__)
SERVICE_NAME = "jan-models-api"
STOP_TIMEOUT = 3.0
INVENTORY_PROBE = 1.0
API_TRANSACTIONS = 4
"""Transactions the api runs at once: every write to its models is one."""


@dataclass
class ApiRuntime:
    settings: ApiSettings
    mongo: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    nats: Client
    keys: ApiKeys
    models: Models
    registry: Registry
    inventory: Inventory
    relay: OutboxRelay
    """The adapters `models` was built with, as this runtime runs and stops them."""
    consumer: StatusConsumer
    view: RegistryView
    transactions: TransactionSessions
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    metered: tuple[RegistryView, QuotaLimits] | None = None
    """What the metrics collector reads of this api (its view and quota limits)."""

    @classmethod
    async def start(cls, settings: ApiSettings) -> "ApiRuntime":
        mongo = database.connect(settings.mongodb_url, app_name=SERVICE_NAME)
        db = mongo[settings.mongodb_database]
        await database.ensure_indexes(db, (Collection.MODELS, Collection.API_KEYS))
        nats = await messaging.connect(settings.nats_url, name=SERVICE_NAME)
        await messaging.ensure_streams(nats.jetstream(), replicas=settings.stream_replicas)
        transactions = TransactionSessions(db, service="api", size=API_TRANSACTIONS)
        await transactions.start()
        view = RegistryView(db[Collection.MODELS])
        registry = Registry(db, view=view, transactions=transactions)
        relay = OutboxRelay(
            registry=registry,
            nats=nats,
            interval=settings.api_outbox_interval,
            grace=settings.api_outbox_grace,
            safety_interval=settings.api_outbox_sweep_seconds,
        )
        inventory = Inventory(
            nats,
            timeout=settings.api_inventory_timeout,
            status_cache_seconds=settings.api_status_cache_seconds,
        )
        runtime = cls(
            settings=settings,
            mongo=mongo,
            db=db,
            nats=nats,
            keys=ApiKeys(db, cache_seconds=settings.api_key_cache_seconds),
            models=Models(
                registry=registry,
                admissions=Admissions(db, transactions=transactions),
                inventory=inventory,
                relay=relay,
                cipher=TokenCipher(settings.encryption_key),
                creates=TokenBuckets(
                    rate=settings.api_create_rate, burst=settings.api_create_burst
                ),
                cluster_models=ClusterModels(inventory=inventory, registry=registry),
                history=EventHistory(nats),
                feeds=JetStreamFeeds(
                    nats,
                    capacity=settings.api_events_buffer,
                    idle_seconds=settings.api_events_keepalive_seconds,
                ),
            ),
            registry=registry,
            inventory=inventory,
            relay=relay,
            consumer=StatusConsumer(registry=registry, nats=nats, relay=relay),
            view=view,
            transactions=transactions,
        )
        runtime.metered = (view, QuotaLimits(db))
        COLLECTOR.follow(runtime.metered)
        runtime.tasks = [
            asyncio.create_task(runtime.metered[1].run(), name="quota-limits"),
            asyncio.create_task(relay.run(), name="outbox-relay"),
            asyncio.create_task(runtime.consumer.run(), name="status-consumer"),
            asyncio.create_task(view.run(), name="registry-view"),
        ]
        log.info("api started", extra={"database": settings.mongodb_database})
        return runtime

    async def ready(self) -> bool:
        if not self.nats.is_connected:
            return False
        try:
            await asyncio.wait_for(self.db.command("ping"), timeout=1.0)
        except Exception:
            return False
        return True

    async def inventory_state(self) -> str:
        """What `/readyz` tells of the inventory, without letting it decide: an inventory
        outage is each create's 503 (checked after the name, before capacity), not a
        reason to take every api pod out of its Service."""
        try:
            await asyncio.wait_for(self.inventory.status(fresh=False), INVENTORY_PROBE)
        except NotInClusterError:
            return "no cluster"
        except (InventoryUnavailableError, TimeoutError) as exc:
            return f"unavailable: {getattr(exc, 'detail', 'no answer in time')}"
        return "available"

    async def stop(self) -> None:
        if self.metered is not None:
            COLLECTOR.forget(self.metered)
        self.consumer.stop()
        self.relay.stop()
        self.view.stop()
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=STOP_TIMEOUT)
        await self.relay.drain()
        await self.transactions.close()
        with contextlib.suppress(Exception):
            await self.nats.close()
        await self.mongo.close()
