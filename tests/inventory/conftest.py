"""An inventory running in-process against real nats-server, MongoDB-compatible server and kubesim."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from kubernetes_asyncio.client import ApiClient
from pymongo.asynchronous.database import AsyncDatabase

from services.inventory.app import running, wait_ready
from services.inventory.runtime import InventoryRuntime
from services.inventory.settings import InventorySettings
from shared.kubernetes import load_api_client
from shared.records import Document


@pytest.fixture
def inventory_settings(
    nats_url: str, mongodb_url: str, mongo_db: AsyncDatabase[Document], kubeconfig_path: Path
) -> InventorySettings:
    return InventorySettings(
        environment="test",
        nats_url=nats_url,
        mongodb_url=mongodb_url,
        mongodb_database=mongo_db.name,
        kubeconfig=kubeconfig_path,
        inventory_http_port=0,
        inventory_backoff_initial_seconds=0.05,
        inventory_backoff_max_seconds=0.5,
        inventory_drift_grace_seconds=0.3,
        inventory_unschedulable_timeout_seconds=1.0,
        inventory_crashloop_restart_threshold=2,
    )


@pytest.fixture
async def inventory(
    inventory_settings: InventorySettings, jetstream: object
) -> AsyncIterator[InventoryRuntime]:
    async with running(inventory_settings) as service:
        await wait_ready(service, timeout=20)
        yield service


@pytest.fixture
async def kube(kubeconfig_path: Path) -> AsyncIterator[ApiClient]:
    client = await load_api_client(kubeconfig_path)
    yield client
    await client.close()
