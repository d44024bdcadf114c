"""The api in-process over real NATS and MongoDB, with a stand-in inventory on real NATS.

The inventory is another service: here a small responder subscribed on the real
nats-server answers `inventory.query.*` with whatever reply each test sets.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from pydantic import BaseModel
from pymongo.asynchronous.database import AsyncDatabase

from services.api.adapters.api_keys import ApiKeys
from services.api.app import running
from services.api.settings import ApiSettings
from shared.names import CAPACITY_QUERY_SUBJECT, MODELS_QUERY_SUBJECT, STATUS_QUERY_SUBJECT
from shared.queries import (
    CapacityQuery,
    CapacityReply,
    ClusterStatus,
    GpuNode,
    ModelsQuery,
    ModelsReply,
    NodeGpus,
    QueryError,
    StatusQuery,
    StatusReply,
    Unchanged,
)
from shared.records import Document
from tests.contract import CONTRACT


def cluster_status(**changes: Any) -> ClusterStatus:
    base = ClusterStatus(
        has_gpus=True,
        total_nodes=3,
        gpu_nodes=[
            GpuNode(
                node_name="gpu-a100-1",
                gpu_count=2,
                gpu_type="NVIDIA-A100-SXM4-40GB",
                total_vram="80Gi",
                available_vram="80Gi",
                free_gpus=2,
            )
        ],
        total_gpus=2,
        gpu_operator_ok=True,
        aibrix_ok=True,
        kuberay_ok=True,
        envoy_gateway_ok=True,
    )
    return base.model_copy(update=changes)


def gpu_placement(*, allocatable: int = 64, allocated: int = 0) -> list[NodeGpus]:
    """The node admission plans on; by default with room for every test's GPU models."""
    node = {"node_name": "gpu-a100-1", "gpu_type": "NVIDIA-A100-SXM4-40GB", "schedulable": True}
    node |= {"gpu_memory_mib": 40960, "allocatable": allocatable, "allocated": allocated}
    return [NodeGpus.model_validate(node)]


def synced_status(**changes: Any) -> StatusReply:
    fields: dict[str, Any] = {"cluster_status": cluster_status(), "placement": gpu_placement()}
    return StatusReply(connected=True, **(fields | changes))


@dataclass
class FakeInventory:
    """Replies the test chooses; `None` means the inventory stays silent."""

    status: StatusReply | QueryError | None = field(default_factory=lambda: synced_status())
    capacity: CapacityReply | QueryError | None = field(
        default_factory=lambda: CapacityReply(fits=True, node_name="gpu-a100-1")
    )
    models: ModelsReply | QueryError | None = field(
        default_factory=lambda: ModelsReply(models=[], total=0)
    )
    models_page_size: int | None = None
    pages_subject: str | None = None
    """Named in each models page, as an inventory replica names its own subject."""
    capacity_queries: list[CapacityQuery] = field(default_factory=list)
    # Every answer sent, by kind ("StatusReply", "Unchanged", ...); and a hook run after
    # each models page is sent, to change the list between two pages.
    sent: list[str] = field(default_factory=list)
    after_models_page: Callable[["FakeInventory"], None] | None = None

    async def _answer(self, msg: Msg, reply: BaseModel | None) -> None:
        if reply is not None:
            self.sent.append(type(reply).__name__)
            await msg.respond(reply.model_dump_json().encode())

    async def on_status(self, msg: Msg) -> None:
        query = StatusQuery.model_validate_json(msg.data)
        reply: StatusReply | Unchanged | QueryError | None = self.status
        held = query.if_none_match
        if isinstance(reply, StatusReply) and held is not None and held == reply.version:
            reply = Unchanged(version=reply.version)
        await self._answer(msg, reply)

    async def on_capacity(self, msg: Msg) -> None:
        self.capacity_queries.append(CapacityQuery.model_validate_json(msg.data))
        await self._answer(msg, self.capacity)

    async def on_models(self, msg: Msg) -> None:
        """Pages of `models_page_size` entries when set, as the inventory pages its list."""
        query = ModelsQuery.model_validate_json(msg.data)
        reply: ModelsReply | Unchanged | QueryError | None = self.models
        held = query.if_none_match
        if isinstance(reply, ModelsReply) and held is not None and held == reply.version:
            reply = Unchanged(version=reply.version)
        if isinstance(reply, ModelsReply) and self.models_page_size is not None:
            end = query.offset + self.models_page_size
            reply = ModelsReply(
                models=reply.models[query.offset : end],
                total=reply.total,
                next_offset=end if end < len(reply.models) else None,
                version=reply.version,
                pages_subject=self.pages_subject,
            )
        await self._answer(msg, reply)
        if self.after_models_page is not None:
            self.after_models_page(self)


@pytest.fixture
async def inventory(nats_client: Client) -> AsyncIterator[FakeInventory]:
    fake = FakeInventory()
    subscriptions = [
        await nats_client.subscribe(STATUS_QUERY_SUBJECT, cb=fake.on_status),
        await nats_client.subscribe(CAPACITY_QUERY_SUBJECT, cb=fake.on_capacity),
        await nats_client.subscribe(MODELS_QUERY_SUBJECT, cb=fake.on_models),
    ]
    await nats_client.flush()
    yield fake
    for subscription in subscriptions:
        await subscription.unsubscribe()


def settings_for(*, nats_url: str, mongodb_url: str, database: str, **changes: Any) -> ApiSettings:
    values: dict[str, Any] = {
        "environment": "test",
        "nats_url": nats_url,
        "mongodb_url": mongodb_url,
        "mongodb_database": database,
        "api_inventory_timeout": 0.5,
        "api_status_cache_seconds": 0.0,
        "api_key_cache_seconds": 0.0,
        "api_outbox_interval": 0.1,
        "api_outbox_grace": 0.3,
        "api_ops_port": 0,
    }
    values.update(changes)
    return ApiSettings(**values)


@pytest.fixture
async def api_settings(
    nats_url: str, mongodb_url: str, mongo_db: AsyncDatabase[Document]
) -> ApiSettings:
    return settings_for(nats_url=nats_url, mongodb_url=mongodb_url, database=mongo_db.name)


@pytest.fixture
async def api_app(
    api_settings: ApiSettings, jetstream: JetStreamContext, inventory: FakeInventory
) -> AsyncIterator[FastAPI]:
    async with running(api_settings) as app:
        yield app


@pytest.fixture
async def http(api_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=api_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://api", event_hooks={"response": [CONTRACT.hook]}
    ) as client:
        yield client


T = TypeVar("T")
KeyFactory = Callable[[int], Awaitable[dict[str, str]]]


@pytest.fixture
def key_for(mongo_db: AsyncDatabase[Document]) -> KeyFactory:
    """Authorization headers with a fresh key of the given organization."""

    async def create(organization_id: int) -> dict[str, str]:
        new = await ApiKeys(mongo_db).create(
            organization_id=organization_id, name="tests", now=datetime.now(UTC)
        )
        return {"Authorization": f"Bearer {new.key}"}

    return create
