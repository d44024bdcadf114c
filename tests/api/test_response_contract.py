"""The api answers as its OpenAPI document says: every route walked once through the
checked client (each response validated by `tests.contract`), conditional GETs, and the
checker itself refusing what the document does not allow."""

from typing import get_args

import httpx
import pytest

from services.api import listing
from services.api.web.examples import SEED_CREATE_REQUEST
from services.api.web.schemas import ModelStatus, Phase
from tests.api.conftest import KeyFactory
from tests.contract import CONTRACT, ContractViolationError

MODELS = "/v1/organization/models"
JSON = httpx.Headers({"content-type": "application/json"})


async def test_every_route_answers_as_the_document_says(
    http: httpx.AsyncClient, key_for: KeyFactory
) -> None:
    headers = await key_for(123)
    before = CONTRACT.checked
    created = await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=headers)
    assert created.status_code == 201
    public_id = created.json()["model"]["public_id"]
    assert created.headers["location"] == f"{MODELS}/{public_id}"
    model = f"{MODELS}/{public_id}"
    answers = [
        await http.get(f"{MODELS}/status", headers=headers),
        await http.get(f"{MODELS}/all", headers=headers),
        await http.get(MODELS, headers=headers, params={"tag": ["coding"], "limit": 5}),
        await http.get(model, headers=headers),
        await http.patch(model, json={"display_name": "Renamed"}, headers=headers),
        await http.post(f"{model}/restart", headers=headers),
        await http.get(f"{model}/events", headers=headers),
        await http.get(MODELS, headers=headers, params={"limit": 5000}),
        await http.get(f"{MODELS}/mdl_000000000000", headers=headers),
        await http.get(MODELS),
        await http.patch(model, json={"name": "other"}, headers=headers),
        await http.patch(model, json={}, headers={**headers, "If-Match": '"99"'}),
        await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=headers),
        await http.delete(model, headers=headers),
    ]
    assert [a.status_code for a in answers] == [
        200, 200, 200, 200, 200, 202, 200, 400, 404, 401, 400, 412, 409, 204,
    ]  # fmt: skip
    assert CONTRACT.checked - before >= 13


@pytest.mark.parametrize("route", ["/status", "/all", ""])
async def test_a_current_entity_tag_is_a_304_without_a_body(
    http: httpx.AsyncClient, key_for: KeyFactory, route: str
) -> None:
    headers = await key_for(321)
    first = await http.get(MODELS + route, headers=headers)
    tag = first.headers["etag"]
    again = await http.get(MODELS + route, headers={**headers, "If-None-Match": tag})
    weak = await http.get(MODELS + route, headers={**headers, "If-None-Match": f'"x", W/{tag}'})
    stale = await http.get(MODELS + route, headers={**headers, "If-None-Match": '"stale"'})

    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", tag)
    assert weak.status_code == 304
    assert (stale.status_code, stale.content) == (200, first.content)


async def test_details_keep_the_generation_as_their_tag_for_if_match_only(
    http: httpx.AsyncClient, key_for: KeyFactory
) -> None:
    headers = await key_for(322)
    created = (await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=headers)).json()
    model = f"{MODELS}/{created['model']['public_id']}"
    details = await http.get(model, headers={**headers, "If-None-Match": '"1"'})
    assert (details.status_code, details.headers["etag"]) == (200, '"1"')


def test_the_checker_refuses_what_the_document_does_not_say() -> None:
    def check(path: str, status: int, body: bytes, method: str = "GET") -> None:
        CONTRACT.check(method, path, status, JSON, body)

    with pytest.raises(ContractViolationError, match="status not in the document"):
        check(f"{MODELS}/status", 418, b'{"error": "teapot"}')
    with pytest.raises(ContractViolationError, match="GET /v1/organization/models -> 200"):
        check(MODELS, 200, b'{"models": [], "total": "0", "next_offset": null}')
    with pytest.raises(ContractViolationError, match="-> 404"):
        check(f"{MODELS}/1", 404, b'{"error": "not found", "detail": "x"}')
    with pytest.raises(ContractViolationError, match="a body where none is declared"):
        check(f"{MODELS}/1", 204, b"{}", method="DELETE")
    check(f"{MODELS}/1", 404, b'{"error": "model \'1\' not found"}')
    check("/healthz", 200, b"anything: not an operation of the document")


def test_the_documented_statuses_are_the_ones_the_filters_take() -> None:
    assert set(get_args(ModelStatus)) == set(listing.MODEL_STATUSES)
    assert set(get_args(Phase)) == set(listing.PHASES)


def test_the_document_names_each_operation_and_links_a_created_model_to_the_rest() -> None:
    operations = {
        operation["operationId"]: (method.upper(), path)
        for path, methods in CONTRACT.document["paths"].items()
        for method, operation in methods.items()
    }
    assert set(operations) == {
        "getClusterStatus",
        "listAllModels",
        "createModel",
        "listModels",
        "getModel",
        "updateModel",
        "deleteModel",
        "restartModel",
        "listModelEvents",
        "streamModelEvents",
    }
    created = CONTRACT.document["paths"][MODELS]["post"]["responses"]["201"]
    assert "Location" in created["headers"]
    links = created["links"]
    assert set(links) == {
        "getModel",
        "updateModel",
        "deleteModel",
        "restartModel",
        "listModelEvents",
    }
    for name, link in links.items():
        assert link == {
            "operationId": name,
            "parameters": {"model_id": "$response.body#/model/public_id"},
        }
    model_id = CONTRACT.document["paths"][f"{MODELS}/{{model_id}}"]["get"]["parameters"][0]
    assert [s.get("type") for s in model_id["schema"]["oneOf"]] == ["integer", "string"]
    for operation, (method, path) in operations.items():
        responses = CONTRACT.document["paths"][path][method.lower()]["responses"]
        for status, declared in responses.items():
            if status.startswith(("4", "5")):
                schema = declared["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (operation, status)
    assert not {"HTTPValidationError", "ValidationError"} & set(
        CONTRACT.document["components"]["schemas"]
    )
