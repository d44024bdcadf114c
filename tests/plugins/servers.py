"""The real servers the integration tests talk to, chosen in the order the README gives.

For each backend: an explicit URL (`JAN_MODELS_TEST_NATS_URL`, `JAN_MODELS_TEST_MONGODB_URL`),
else a testcontainer when a Docker engine answers, else the embedded server started here
as a child process. Servers live for the whole session; each test gets clean streams and
its own database, so tests never see each other's messages or documents.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack, suppress
from pathlib import Path

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError, ServerError
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from jan_models.embedded import EmbeddedMongo, EmbeddedNats, free_port
from services.deployer.adapters.turns import BUCKET as TURNS_BUCKET
from shared import messaging
from shared.database import connect as connect_mongo
from shared.names import COMMANDS_STREAM, EVENTS_STREAM
from shared.records import Document
from tests.waiting import eventually


def docker_engine_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]  # comes with testcontainers, untyped

        client = docker.from_env(timeout=2)
        client.ping()
    except Exception:
        return False
    return True


def _nats_container(stack: ExitStack) -> str:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    container = stack.enter_context(
        DockerContainer("nats:2.11-alpine").with_command("-js").with_exposed_ports(4222)
    )
    wait_for_logs(container, "Server is ready", timeout=30)
    return f"nats://{container.get_container_host_ip()}:{container.get_exposed_port(4222)}"


def _mongo_container(stack: ExitStack) -> str:
    from pymongo import MongoClient
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    container = stack.enter_context(
        DockerContainer("mongo:8")
        .with_command("--replSet rs0 --bind_ip_all")
        .with_exposed_ports(27017)
    )
    wait_for_logs(container, "Waiting for connections", timeout=60)
    host, port = container.get_container_host_ip(), container.get_exposed_port(27017)
    url = f"mongodb://{host}:{port}/?directConnection=true"
    with MongoClient[Document](url) as client:
        client.admin.command(
            "replSetInitiate", {"_id": "rs0", "members": [{"_id": 0, "host": "localhost:27017"}]}
        )
    return url


@pytest.fixture(scope="session")
def servers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def nats_url(servers_dir: Path) -> Iterator[str]:
    if url := os.environ.get("JAN_MODELS_TEST_NATS_URL"):
        yield url
        return
    with ExitStack() as stack:
        if docker_engine_answers():
            yield _nats_container(stack)
            return
        server = EmbeddedNats(
            name="nats-server",
            port=free_port(),
            log_path=servers_dir / "nats.log",
            store_dir=servers_dir / "jetstream",
        )
        stack.enter_context(server)
        yield server.url


@pytest.fixture(scope="session")
def mongodb_url(servers_dir: Path) -> Iterator[str]:
    if url := os.environ.get("JAN_MODELS_TEST_MONGODB_URL"):
        yield url
        return
    with ExitStack() as stack:
        if docker_engine_answers():
            yield _mongo_container(stack)
            return
        server = EmbeddedMongo(
            name="secantusd", port=free_port(), log_path=servers_dir / "mongo.log"
        )
        stack.enter_context(server)
        yield server.url


@pytest.fixture
async def own_nats(tmp_path: Path) -> AsyncIterator[EmbeddedNats]:
    """A nats-server of the test's own, which it may stop and start again (on the same
    store, so its streams survive)."""
    server = EmbeddedNats(
        name="own-nats",
        port=free_port(),
        log_path=tmp_path / "own-nats.log",
        store_dir=tmp_path / "own-jetstream",
    )
    await server.astart()
    yield server
    await server.astop()


async def health_through_an_outage(
    server: EmbeddedNats, health: Callable[[int], Awaitable[bool]]
) -> None:
    """`health(status)` tells whether `/healthz` answers `status`: healthy (204) first,
    unhealthy (500) once `server` is stopped, healthy again once it is started."""
    assert await health(204)
    await server.astop()
    await eventually(lambda: health(500), within=15)
    await server.astart()
    await eventually(lambda: health(204), within=30)


@pytest.fixture
async def nats_client(nats_url: str) -> AsyncIterator[Client]:
    client = await messaging.connect(nats_url, name="tests")
    yield client
    await client.drain()


@pytest.fixture
async def jetstream(nats_client: Client) -> JetStreamContext:
    """JetStream with both streams freshly declared: no message, consumer or model turn of
    another test."""
    js = nats_client.jetstream()
    for stream in (COMMANDS_STREAM, EVENTS_STREAM):
        with suppress(NotFoundError):
            await js.delete_stream(stream)
    with suppress(NotFoundError):  # the deployer's model turns: tests reuse public ids
        await js.delete_key_value(TURNS_BUCKET)
    for attempt in range(10):
        try:
            await messaging.ensure_streams(js)
            break
        except ServerError:
            # nats-server can refuse to create a file-stored stream just after deleting
            # one of the same name ("error creating store for stream", 10049), as its
            # directory goes; CI saw it once. A moment later it creates it.
            if attempt == 9:
                raise
            await asyncio.sleep(0.2)
    return js


@pytest.fixture(scope="session")
async def mongo_client(mongodb_url: str) -> AsyncIterator[AsyncMongoClient[Document]]:
    client = connect_mongo(mongodb_url, app_name="tests")
    yield client
    await client.close()


@pytest.fixture
async def mongo_db(
    mongo_client: AsyncMongoClient[Document],
) -> AsyncIterator[AsyncDatabase[Document]]:
    """A database of this test's own, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield mongo_client[name]
    with suppress(Exception):
        await mongo_client.drop_database(name)
