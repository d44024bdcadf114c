"""A deployer running in-process against the session's nats-server and a fresh kubesim."""

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.js import JetStreamContext
from nats.js.errors import ServiceUnavailableError
from pydantic import SecretStr

from kubesim import KubeSim
from services.deployer.app import DeployerApp, running
from services.deployer.settings import DeployerSettings
from shared.events import ModelEvent, parse_event
from shared.names import EVENTS_STREAM, EVENTS_WILDCARD
from shared.secrets import TokenCipher
from shared.settings import DEV_ENCRYPTION_KEY
from tests.waiting import eventually

CIPHER = TokenCipher(SecretStr(DEV_ENCRYPTION_KEY))


class EventLog:
    """Every event on MODEL_EVENTS so far, read from the stream itself (not a live subscription)."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self.raw: list[bytes] = []
        self._sub: Any = None
        self._durable = f"test-events-{uuid.uuid4().hex[:8]}"

    async def refresh(self) -> list[ModelEvent]:
        if self._sub is None:
            # Durable: an ephemeral consumer vanishes after 5 s without a fetch.
            self._sub = await self.js.pull_subscribe(
                EVENTS_WILDCARD, durable=self._durable, stream=EVENTS_STREAM
            )
        try:
            batch = await self._sub.fetch(256, timeout=0.05)
        except (TimeoutError, ServiceUnavailableError):
            batch = []
        for msg in batch:
            self.raw.append(msg.data)
            await msg.ack()
        return [parse_event(raw) for raw in self.raw]

    async def close(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            with contextlib.suppress(Exception):
                await self.js.delete_consumer(EVENTS_STREAM, self._durable)

    async def wait_for(
        self, public_id: str, kind: str, *, count: int = 1, timeout: float = 10.0
    ) -> list[ModelEvent]:
        found: list[ModelEvent] = []

        async def seen() -> bool:
            nonlocal found
            events = await self.refresh()
            found = [e for e in events if e.subject == public_id and e.type.endswith(f".{kind}")]
            return len(found) >= count

        await eventually(seen, within=timeout)
        return found


@pytest.fixture
def deployer_settings(
    nats_url: str, kubeconfig_path: Path, jetstream: JetStreamContext
) -> DeployerSettings:
    return DeployerSettings(
        environment="test",
        nats_url=nats_url,
        kubeconfig=kubeconfig_path,
        deployer_retry_base=0.05,
        deployer_retry_max=0.5,
        deployer_ack_wait=10.0,
        deployer_crd_cache_seconds=0.0,
    )


@pytest.fixture
async def deployer(deployer_settings: DeployerSettings) -> AsyncIterator[DeployerApp]:
    async with running(deployer_settings) as app:
        yield app


@pytest.fixture
async def events(jetstream: JetStreamContext) -> AsyncIterator[EventLog]:
    log = EventLog(jetstream)
    yield log
    await log.close()


@pytest.fixture
async def kube(kubesim: KubeSim) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=kubesim.url, timeout=5) as client:
        yield client
