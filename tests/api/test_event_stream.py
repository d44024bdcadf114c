"""The event stream over a real socket: uvicorn serving the api in-process, real NATS and
MongoDB, events published onto the real MODEL_EVENTS stream."""

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from nats.js import JetStreamContext

from jan_models.embedded import free_port
from services.api.app import build
from services.api.settings import ApiSettings
from services.api.web.examples import SEED_CREATE_REQUEST
from shared.events import AcceptedData, FailedData, ModelAccepted, ModelFailed
from shared.messaging import publish_event
from shared.names import API_STATUS_DURABLE, EVENTS_STREAM
from tests.api.conftest import FakeInventory, KeyFactory
from tests.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

STREAM = "/v1/organization/models/events/stream"
Served = Callable[..., Awaitable[str]]


@pytest.fixture
async def serve(
    api_settings: ApiSettings, jetstream: JetStreamContext, inventory: FakeInventory
) -> AsyncIterator[Served]:
    """Start the api under uvicorn on a free loopback port, with setting changes; its URL."""
    servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def start(**changes: Any) -> str:
        settings = api_settings.model_copy(update=changes)
        config = uvicorn.Config(
            build(settings),
            host="127.0.0.1",
            port=free_port(),
            log_config=None,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        servers.append((server, task))

        async def started() -> bool:
            return server.started

        await eventually(started, within=20)
        return f"http://127.0.0.1:{config.port}"

    yield start
    for server, task in servers:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


def accepted(
    organization_id: int, name: str, *, public_id: str = "mdl_abcdefabcdef"
) -> ModelAccepted:
    return ModelAccepted.of(
        AcceptedData(
            organization_id=organization_id,
            model_id=1,
            public_id=public_id,
            name=name,
            generation=1,
        ),
        source="/tests",
    )


async def sse_messages(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, str]]:
    """Each SSE message of a streamed response as its fields; comments and `retry` are skipped."""
    fields: dict[str, str] = {}
    async for line in lines:
        if not line:
            if "data" in fields:
                yield fields
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = fields[name] + "\n" + value if name in fields else value


@asynccontextmanager
async def streaming(
    base_url: str, headers: dict[str, str], *, path: str = STREAM
) -> AsyncIterator[AsyncIterator[dict[str, str]]]:
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=20) as client,
        client.stream("GET", path, headers=headers) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield sse_messages(response.aiter_lines())


async def take(messages: AsyncIterator[dict[str, str]], count: int) -> list[dict[str, str]]:
    return [await anext(messages) for _ in range(count)]


async def test_only_the_callers_organization_events_arrive_with_sequence_ids(
    serve: Served, jetstream: JetStreamContext, key_for: KeyFactory
) -> None:
    url = await serve()
    mine, theirs = accepted(7, "mine-a"), accepted(8, "theirs")
    async with streaming(url, await key_for(7)) as messages:
        await publish_event(jetstream, mine)
        await publish_event(jetstream, theirs)
        await publish_event(jetstream, accepted(7, "mine-b"))
        got = await take(messages, 2)
    assert [m["id"] for m in got] == ["1", "3"]
    assert orjson.loads(got[0]["data"]) == orjson.loads(mine.model_dump_json())
    assert [orjson.loads(m["data"])["data"]["name"] for m in got] == ["mine-a", "mine-b"]


async def test_last_event_id_resumes_after_that_sequence_and_zero_replays(
    serve: Served, jetstream: JetStreamContext, key_for: KeyFactory
) -> None:
    url = await serve()
    headers = await key_for(7)
    for name in ("first", "second", "third"):
        await publish_event(jetstream, accepted(7, name))
    async with streaming(url, headers | {"Last-Event-ID": "1"}) as messages:
        resumed = await take(messages, 2)
    assert [m["id"] for m in resumed] == ["2", "3"]
    async with streaming(url, headers | {"Last-Event-ID": "0"}) as messages:
        replayed = await take(messages, 3)
    assert [orjson.loads(m["data"])["data"]["name"] for m in replayed] == [
        "first",
        "second",
        "third",
    ]


async def test_a_new_stream_opens_with_the_sequence_it_starts_after(
    serve: Served, jetstream: JetStreamContext, key_for: KeyFactory
) -> None:
    url = await serve()
    for name in ("before-1", "before-2"):
        await publish_event(jetstream, accepted(7, name))
    async with (
        httpx.AsyncClient(base_url=url, timeout=20) as client,
        client.stream("GET", STREAM, headers=await key_for(7)) as response,
    ):
        lines = response.aiter_lines()
        opening = [await anext(lines) for _ in range(4)]
        assert opening == ["retry: 2000", "id: 2", ": connected", ""]
        await publish_event(jetstream, accepted(7, "after"))
        (got,) = await take(sse_messages(lines), 1)
    assert got["id"] == "3"
    assert orjson.loads(got["data"])["data"]["name"] == "after"


async def test_one_models_stream_skips_its_siblings_and_a_reused_name(
    serve: Served, jetstream: JetStreamContext, key_for: KeyFactory
) -> None:
    url = await serve()
    headers = await key_for(7)
    async with httpx.AsyncClient(base_url=url, headers=headers) as client:
        created = await client.post("/v1/organization/models", json=SEED_CREATE_REQUEST)
        assert created.status_code == 201, created.text
        model = created.json()["model"]
        other_org = await client.get(
            STREAM, params={"model": model["public_id"]}, headers=await key_for(8)
        )
    assert other_org.status_code == 404
    assert other_org.json() == {"error": f"model '{model['public_id']}' not found"}
    name, public_id = model["name"], model["public_id"]
    async with streaming(url, headers, path=f"{STREAM}?model={model['id']}") as messages:
        await publish_event(jetstream, accepted(7, "sibling"))
        await publish_event(jetstream, accepted(7, name, public_id="mdl_000000000000"))
        await publish_event(jetstream, accepted(7, name, public_id=public_id))
        (got,) = await take(messages, 1)
    assert orjson.loads(got["data"])["subject"] == public_id


async def test_a_stream_needs_a_key_in_the_header_and_a_numeric_last_event_id(
    serve: Served, key_for: KeyFactory
) -> None:
    url = await serve()
    async with httpx.AsyncClient(base_url=url) as client:
        missing = await client.get(STREAM)
        wrong = await client.get(STREAM, headers={"Authorization": "Bearer jm_not_a_key"})
        bad_id = await client.get(STREAM, headers=await key_for(7) | {"Last-Event-ID": "x1"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.json() == {"error": "missing or invalid API key"}
    assert bad_id.status_code == 400
    assert bad_id.json()["error"].startswith("Last-Event-ID: must be a stream sequence")


async def test_a_client_that_stops_reading_is_dropped_with_an_overflow_event(
    serve: Served, jetstream: JetStreamContext, key_for: KeyFactory
) -> None:
    url = await serve(api_events_buffer=4)
    headers = await key_for(7)

    async def stream_consumers(count: int) -> bool:
        infos = await jetstream.consumers_info(EVENTS_STREAM)
        return len([info for info in infos if info.name != API_STATUS_DURABLE]) == count

    host, port = url.removeprefix("http://").split(":")
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect((host, int(port)))
    request = f"GET {STREAM} HTTP/1.1\r\nConnection: close\r\nAuthorization: {headers['Authorization']}\r\n\r\n"
    stalled.sendall(request.encode())
    await eventually(lambda: stream_consumers(1))
    async with streaming(url, headers) as messages:
        # Events far larger than the socket buffers between the api and the stalled client.
        big = "x" * 60_000
        for number in range(200):
            data = FailedData(
                **accepted(7, f"m{number}").data.model_dump(),
                stage="runtime",
                reason="Test",
                message=big,
            )
            await publish_event(jetstream, ModelFailed.of(data, source="/tests"))
            # A client that reads gets every event while the other one stalls.
            (got,) = await take(messages, 1)
            assert orjson.loads(got["data"])["data"]["name"] == f"m{number}"
    async with httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/healthz")).status_code == 200
    # The stalled client's consumer is gone before it has read a byte.
    await eventually(lambda: stream_consumers(0), within=20)

    received = await asyncio.to_thread(_read_to_end, stalled)
    # The body is chunked; the overflow message is the last chunk before the empty one.
    frame, end = received.rsplit(b"event: overflow\ndata: ", 1)[1].split(b"\n\n", 1)
    assert end == b"\r\n0\r\n\r\n"
    overflow = orjson.loads(frame)
    assert overflow["error"] == (
        "the client fell more than 4 events behind; reconnect with Last-Event-ID to resume"
    )
    assert int(overflow["last_event_id"]) >= 1


def _read_to_end(sock: socket.socket) -> bytes:
    sock.settimeout(20)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    sock.close()
    return b"".join(chunks)
