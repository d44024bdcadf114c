"""One whole stack per session: real servers, kubesim and the three services as processes."""

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from jan_models.dev_keys import ensure_dev_key
from jan_models.stack import LocalStack, StackConfig
from tests.contract import CONTRACT

ORG_ID = 123


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    data_dir = tmp_path_factory.mktemp("stack")
    config = StackConfig(data_dir=data_dir, ready_delay=1.0).with_free_ports()
    with LocalStack(config).running() as running:
        yield running


@pytest.fixture(scope="session")
def api_key(stack: LocalStack) -> str:
    key = "jm_e2e_" + secrets.token_urlsafe(24)
    asyncio.run(ensure_dev_key(stack.mongodb_url, organization_id=ORG_ID, key=key))
    return key


@pytest.fixture
async def api(stack: LocalStack, api_key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=stack.api_url,
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=10,
        event_hooks={"response": [CONTRACT.hook]},
    ) as client:
        yield client


@pytest.fixture(scope="session")
def kubeconfig(stack: LocalStack) -> Path:
    return stack.kubeconfig_path
