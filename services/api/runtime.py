"""One running api: its connections, and the background work its adapters do (the outbox
relay, the `api-status` consumer, the registry cache, the quota limits the metrics read),
started and stopped together by the app's lifespan (and by `app.running` in tests).

Everything it runs is built and handed to it by `services.api.app` before `start`: the
connections (`connect`) and every adapter with the port it implements (`assemble`).
`start` declares the indexes and streams, registers the transaction sessions, starts the
loops and has the metrics follow this api; `stop` undoes all of it and closes the
connections. It serves no HTTP: the routes are wired in `app.py` and call `models`.
"""

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from nats.aio.client import Client
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from services.api.adapters.admissions import QuotaLimits
from services.api.adapters.api_keys import ApiKeys
from services.api.adapters.inventory import Inventory
from services.api.adapters.registry_cache import RegistryCache
from services.api.adapters.relay import OutboxRelay
from services.api.adapters.status_consumer import StatusConsumer
from services.api.exposition import COLLECTOR, Metered
from services.api.handlers import Models
from services.api.settings import ApiSettings
from shared import database, messaging
from shared.errors import InventoryUnavailableError, NotInClusterError
from shared.names import Collection
from shared.records import Document
from shared.tasks import cancel_and_wait
from shared.transactions import TransactionSessions

log = logging.getLogger(__name__)
STOP_TIMEOUT = 3.0
INVENTORY_PROBE = 1.0


@dataclass(frozen=True, slots=True)
class Clients:
    """The connections the api works through, opened before anything is built."""

    nats: Client
    mongo: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]


@dataclass(kw_only=True, eq=False)
class ApiRuntime:
    settings: ApiSettings
    clients: Clients
    models: Models
    """The application service the routes call, built on the adapters below."""
    keys: ApiKeys
    inventory: Inventory
    """`/readyz` reports on it."""
    transactions: TransactionSessions
    cache: RegistryCache
    relay: OutboxRelay
    consumer: StatusConsumer
    quota_limits: QuotaLimits
    tasks: list[asyncio.Task[None]] = field(init=False, default_factory=list)
    _sessions_begun: bool = field(init=False, default=False)
    """Whether `start` got as far as the transaction sessions (so `stop` ends them)."""
    _metered: Metered | None = field(init=False, default=None)
    """What the metrics collector follows of this api, once it does."""

    async def start(self) -> None:
        db = self.clients.db
        await database.ensure_indexes(db, (Collection.MODELS, Collection.API_KEYS))
        await messaging.ensure_streams(
            self.clients.nats.jetstream(), replicas=self.settings.stream_replicas
        )
        self._sessions_begun = True
        await self.transactions.start()
        self._metered = (self.cache, self.quota_limits)
        COLLECTOR.follow(self._metered)
        self.tasks = [
            asyncio.create_task(self.quota_limits.run(), name="quota-limits"),
            asyncio.create_task(self.relay.run(), name="outbox-relay"),
            asyncio.create_task(self.consumer.run(), name="status-consumer"),
            asyncio.create_task(self.cache.run(), name="registry-cache"),
        ]
        log.info("api started", extra={"database": self.settings.mongodb_database})

    async def ready(self) -> bool:
        if not self.clients.nats.is_connected:
            return False
        try:
            await asyncio.wait_for(self.clients.db.command("ping"), timeout=1.0)
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
        if self._metered is not None:
            COLLECTOR.forget(self._metered)
        self.consumer.stop()
        self.relay.stop()
        self.cache.stop()
        await cancel_and_wait(self.tasks, deadline=STOP_TIMEOUT)
        await self.relay.drain()
        if self._sessions_begun:
            await self.transactions.close()
        with contextlib.suppress(Exception):
            await self.clients.nats.close()
        await self.clients.mongo.close()
