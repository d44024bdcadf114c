"""HTTP manners a gateway, a browser and a generated client rely on, through the real app."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pymongo.asynchronous.database import AsyncDatabase

from services.api.web.compression import GzipLayer
from services.api.web.gateway import GatewayLayer
from services.api.web.responses import JsonResponse
from shared.records import Document
from tests.api.conftest import FakeInventory, KeyFactory, settings_for
from tests.api.test_http_errors import client_for
from tests.api.test_http_models import named

pytestmark = pytest.mark.integration

MODELS = "/v1/organization/models"


async def test_head_answers_every_get_route_as_the_get_without_a_body(
    http: httpx.AsyncClient, key_for: KeyFactory, inventory: FakeInventory
) -> None:
    headers = {**await key_for(1), "Accept-Encoding": "identity"}
    for path in (f"{MODELS}/status", MODELS, "/healthz", "/openapi.json"):
        got = await http.get(path, headers=headers)
        head = await http.head(path, headers=headers)

        assert head.status_code == got.status_code == 200, path
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
        assert head.headers["content-length"] == got.headers["content-length"]


async def test_options_answers_with_every_method_the_path_takes(http: httpx.AsyncClient) -> None:
    collection = await http.options(MODELS)
    one = await http.options(f"{MODELS}/7")
    nothing = await http.options("/no/such/path")

    assert (collection.status_code, collection.content) == (204, b"")
    assert collection.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    assert one.headers["allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH"
    assert nothing.status_code == 404


async def test_a_wrong_method_is_405_with_allow_before_any_content_type_check(
    http: httpx.AsyncClient, key_for: KeyFactory
) -> None:
    headers = {**await key_for(1), "Content-Type": "text/plain"}
    wrong = await http.post(f"{MODELS}/status", headers=headers, content=b"x")
    put = await http.put(MODELS, headers=headers, content=b"x")
    right_method_wrong_type = await http.post(MODELS, headers=headers, content=b"x")

    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET, HEAD, OPTIONS"  # "status" is never a model id
    assert wrong.json() == {"error": "method POST not allowed"}
    assert (put.status_code, put.headers["allow"]) == (405, "GET, HEAD, OPTIONS, POST")
    assert right_method_wrong_type.status_code == 415
    assert right_method_wrong_type.json() == {"error": "Content-Type must be application/json"}


async def test_a_trailing_slash_is_served_not_redirected(
    http: httpx.AsyncClient, key_for: KeyFactory
) -> None:
    headers = await key_for(1)
    plain = await http.get(MODELS, headers=headers)
    slashed = await http.get(f"{MODELS}/", headers=headers)

    assert slashed.status_code == 200
    assert "location" not in slashed.headers
    assert slashed.json() == plain.json()


async def test_a_401_says_how_to_authenticate(http: httpx.AsyncClient) -> None:
    response = await http.get(MODELS)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_large_answers_are_gzipped_when_the_client_accepts_it(
    http: httpx.AsyncClient,
) -> None:
    plain = await http.get("/openapi.json", headers={"Accept-Encoding": "identity"})
    raw = await http.get("/openapi.json", headers={"Accept-Encoding": "gzip"})

    assert "content-encoding" not in plain.headers
    assert raw.headers["content-encoding"] == "gzip"
    assert int(raw.headers["content-length"]) < len(plain.content) / 3
    assert raw.json() == plain.json()  # httpx decodes it; the bytes on the wire were gzip


async def test_a_models_details_go_uncompressed_and_a_page_of_models_gzipped(
    http: httpx.AsyncClient, key_for: KeyFactory
) -> None:
    """Under 4 KB gzip saves a segment or two and costs both ends more (measured: a
    model's details, 2.3 KB, 0.24 ms slower end to end gzipped); a page of models is
    worth it."""
    headers = await key_for(61) | {"Accept-Encoding": "gzip"}
    for number in range(32):  # a page of 32 entries is over 4 KB
        body = named(f"gz-{number}")
        created = await http.post("/v1/organization/models", json=body, headers=headers)
        assert created.status_code == 201, created.text
    details = await http.get(
        f"/v1/organization/models/{created.json()['model']['public_id']}", headers=headers
    )
    page = await http.get("/v1/organization/models", headers=headers)

    assert 1024 < len(details.content) < 4096
    assert "content-encoding" not in details.headers
    assert len(page.content) >= 4096
    assert page.headers["content-encoding"] == "gzip"


async def test_cors_is_off_unless_origins_are_configured(
    http: httpx.AsyncClient,
    nats_url: str,
    mongodb_url: str,
    mongo_db: AsyncDatabase[Document],
) -> None:
    preflight = {
        "Origin": "https://console.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    closed = await http.options(MODELS, headers=preflight)
    settings = settings_for(
        nats_url=nats_url,
        mongodb_url=mongodb_url,
        database=mongo_db.name,
        api_cors_origins=["https://console.example"],
    )
    async with client_for(settings) as client:
        opened = await client.options(MODELS, headers=preflight)
        other = await client.options(
            MODELS, headers={**preflight, "Origin": "https://evil.example"}
        )

    assert "access-control-allow-origin" not in closed.headers
    assert opened.status_code == 200
    assert opened.headers["access-control-allow-origin"] == "https://console.example"
    assert "POST" in opened.headers["access-control-allow-methods"]
    assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize("status", [429, 503])
async def test_every_429_and_503_says_when_to_retry(status: int) -> None:
    app = FastAPI()

    @app.get("/told")
    async def told() -> JsonResponse:
        return JsonResponse({"error": "x"}, status_code=status, headers={"Retry-After": "7"})

    @app.get("/untold")
    async def untold() -> JSONResponse:
        return JSONResponse({"error": "x"}, status_code=status)

    app.add_middleware(GatewayLayer)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        answers: dict[str, Any] = {path: await client.get(path) for path in ("/told", "/untold")}

    assert answers["/told"].headers["retry-after"] == "7"
    assert answers["/untold"].headers["retry-after"] == "2"


async def test_an_answer_served_again_is_compressed_once() -> None:
    rendered = {"body": b'{"models": [' + b'{"name": "m"},' * 8000 + b"{}]}"}
    app = FastAPI()

    @app.get("/all")
    async def all_models() -> Response:
        return Response(content=rendered["body"], media_type="application/json")

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def events() -> AsyncIterator[bytes]:
            yield b"id: 1\ndata: " + b"x" * 4096 + b"\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    layer = GzipLayer(app, minimum_size=1024)
    transport = httpx.ASGITransport(app=layer)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        first = await client.get("/all", headers={"Accept-Encoding": "gzip"})
        again = await client.get("/all", headers={"Accept-Encoding": "gzip"})
        rendered["body"] = rendered["body"].replace(b'"m"', b'"n"')  # a new answer
        changed = await client.get("/all", headers={"Accept-Encoding": "gzip"})
        plain = await client.get("/all", headers={"Accept-Encoding": "identity"})
        events = await client.get("/stream", headers={"Accept-Encoding": "gzip"})

    assert first.headers["content-encoding"] == again.headers["content-encoding"] == "gzip"
    assert first.content == again.content
    assert b'"n"' in changed.content
    assert layer.compressions == 2  # the first answer once, the changed one once
    assert "content-encoding" not in plain.headers
    assert "content-encoding" not in events.headers
    assert events.content.startswith(b"id: 1\n")
