"""Probes, metrics, request ids and the OpenAPI document built from the seed."""

import re

import httpx
import pytest
from fastapi import FastAPI

from services.api.web.examples import SEED_CREATE_REQUEST
from shared.asyncapi import build_document
from tests.api.conftest import FakeInventory, KeyFactory

pytestmark = pytest.mark.integration


async def test_health_and_readiness(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    assert (await http.get("/readyz")).json() == {"status": "ready", "inventory": "available"}


async def test_a_silent_inventory_leaves_the_api_ready_and_says_so(
    http: httpx.AsyncClient, inventory: FakeInventory
) -> None:
    inventory.status = None
    response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"
    assert response.json()["inventory"].startswith("unavailable: ")


async def test_request_id_is_echoed_or_made(http: httpx.AsyncClient) -> None:
    given = await http.get("/healthz", headers={"X-Request-ID": "abc-123"})
    made = await http.get("/healthz")
    assert given.headers["x-request-id"] == "abc-123"
    assert len(made.headers["x-request-id"]) == 32


async def test_metrics_count_requests_by_route_and_status_on_the_ops_port_only(
    http: httpx.AsyncClient, api_app: FastAPI, key_for: KeyFactory
) -> None:
    await http.get("/v1/organization/models/mdl_000000000000", headers=await key_for(1))
    assert (await http.get("/metrics")).status_code == 404
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_app.state.ops_port}") as ops:
        text = (await ops.get("/metrics")).text
        assert (await ops.get("/healthz")).text == "ok"
    assert (
        'jan_models_api_requests_total{method="GET",route="/v1/organization/models/{model_id}",status="404"}'
        in text
    )
    assert "jan_models_api_request_duration_seconds_bucket" in text


async def test_openapi_shows_the_seed_request_and_bearer_auth(http: httpx.AsyncClient) -> None:
    spec = (await http.get("/openapi.json")).json()
    create = spec["paths"]["/v1/organization/models"]["post"]
    examples = create["requestBody"]["content"]["application/json"]["examples"]
    assert examples["seed"]["value"] == SEED_CREATE_REQUEST
    assert (
        create["responses"]["201"]["content"]["application/json"]["example"]["model"]["status"]
        == "creating"
    )
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert set(spec["paths"]) == {
        "/v1/organization/models/status",
        "/v1/organization/models/all",
        "/v1/organization/models",
        "/v1/organization/models/{model_id}",
        "/v1/organization/models/{model_id}/restart",
        "/v1/organization/models/{model_id}/events",
        "/v1/organization/models/events/stream",
    }
    assert "422" not in create["responses"]
    patch = spec["paths"]["/v1/organization/models/{model_id}"]["patch"]
    assert set(patch["requestBody"]["content"]) == {
        "application/merge-patch+json",
        "application/json",
    }
    assert {"200", "400", "404", "409", "412"} <= set(patch["responses"])
    assert "422" not in patch["responses"]


async def test_asyncapi_document_is_served_without_a_key(http: httpx.AsyncClient) -> None:
    served = await http.get("/asyncapi.json")

    assert served.status_code == 200
    assert served.json() == build_document()


@pytest.mark.parametrize(
    ("page", "assets"),
    [
        ("/docs", ["swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"]),
        ("/redoc", ["redoc.standalone.js"]),
    ],
)
async def test_the_docs_pages_load_nothing_from_outside(
    http: httpx.AsyncClient, page: str, assets: list[str]
) -> None:
    html = (await http.get(page)).text
    assert "/openapi.json" in html
    assert not re.findall(r"""(?:src|href)=["']?(?:https?:)?//""", html), html
    assert "fonts.googleapis" not in html
    for name in assets:
        assert f"/docs/assets/{name}" in html
        served = await http.get(f"/docs/assets/{name}")
        assert served.status_code == 200
        assert len(served.content) > 500
    missing = await http.get("/docs/assets/../app.py")
    assert missing.status_code == 404
