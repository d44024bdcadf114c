"""`GET /models/{id}/events`: a model's CloudEvents from the real MODEL_EVENTS, paged.

A name is reused after a delete: the history is the public id's, never the name's.
"""

from typing import Any

import httpx
import pytest
from nats.js import JetStreamContext

from shared.events import (
    DeletedData,
    ModelDeleted,
    ModelScaled,
    ScaledData,
)
from tests.api.conftest import KeyFactory
from tests.api.test_status_events import MODELS, SOURCE, created_model, emit, ref, wait_status
from tests.waiting import poll

pytestmark = pytest.mark.integration


def scaled(model: dict[str, Any], replicas: int) -> ModelScaled:
    data = ScaledData(**ref(model), replicas=replicas, ready_replicas=0, previous_replicas=1)
    return ModelScaled.of(data, source=SOURCE)


async def history(
    http: httpx.AsyncClient, model: dict[str, Any], headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    """Every page, following `next_after`; checks each page's size on the way."""
    events: list[dict[str, Any]] = []
    after = params.pop("after", None)
    limit = params.get("limit", 100)
    while True:
        query = {**params, **({"after": after} if after is not None else {})}
        response = await http.get(
            f"{MODELS}/{model['public_id']}/events", params=query, headers=headers
        )
        assert response.status_code == 200, response.text
        page = response.json()
        assert list(page) == ["events", "next_after"]
        events += page["events"]
        if page["next_after"] is None:
            assert len(page["events"]) <= limit
            return events
        assert len(page["events"]) == limit
        after = page["next_after"]


async def test_events_page_through_one_models_history_never_another_of_its_name(
    http: httpx.AsyncClient, key_for: KeyFactory, jetstream: JetStreamContext
) -> None:
    headers = await key_for(123)
    first = await created_model(http, headers)
    for replicas in range(1, 6):
        await emit(jetstream, scaled(first, replicas))
    assert (await http.delete(f"{MODELS}/{first['id']}", headers=headers)).status_code == 204
    deleted = ModelDeleted.of(DeletedData(**ref(first, generation=2)), source=SOURCE)
    await emit(jetstream, deleted)
    await wait_status(http, first, headers, None)

    second = await created_model(http, headers)  # the same name, a new public id
    assert second["name"] == first["name"]
    assert second["public_id"] != first["public_id"]
    await poll(lambda: history(http, second, headers), until=lambda e: len(e) == 1)  # accepted
    for replicas in range(250):
        await emit(jetstream, scaled(second, replicas))
        if replicas % 50 == 0:  # the earlier model's late events, under the same name
            await emit(jetstream, scaled(first, 99))

    async def accepted_and_scaled() -> list[dict[str, Any]]:
        return await history(http, second, headers, limit=100)

    events = await poll(accepted_and_scaled, until=lambda e: len(e) >= 251)
    assert {e["subject"] for e in events} == {second["public_id"]}
    assert [e["type"] for e in events] == ["ai.jan.model.accepted"] + ["ai.jan.model.scaled"] * 250
    assert [e["data"]["replicas"] for e in events[1:]] == list(range(250))
    assert events[0]["data"]["public_id"] == second["public_id"]

    # From the stream's very start, the earlier model's events are read and left out.
    from_start = await history(http, second, headers, limit=7, after=0)
    assert from_start == events
    # The first model's history went with it.
    gone = await http.get(f"{MODELS}/{first['public_id']}/events", headers=headers)
    assert gone.status_code == 404


async def test_events_of_a_model_without_more_history_end_with_null(
    http: httpx.AsyncClient, key_for: KeyFactory, jetstream: JetStreamContext
) -> None:
    headers = await key_for(7)
    model = await created_model(http, headers)

    async def page() -> dict[str, Any]:
        response = await http.get(f"{MODELS}/{model['public_id']}/events", headers=headers)
        body: dict[str, Any] = response.json()
        return body

    body = await poll(page, until=lambda b: len(b["events"]) == 1)
    assert body["next_after"] is None
    assert body["events"][0]["type"] == "ai.jan.model.accepted"
    assert body["events"][0]["specversion"] == "1.0"
    other = await key_for(8)
    stranger = await http.get(f"{MODELS}/{model['public_id']}/events", headers=other)
    assert stranger.status_code == 404
    cases: list[tuple[dict[str, Any], str]] = [
        ({"limit": 0}, "limit: must be between 1 and 1000"),
        ({"limit": 1001}, "limit: must be between 1 and 1000"),
        ({"after": -1}, "after: must not be negative"),
        ({"after": "x"}, "after"),
    ]
    for params, words in cases:
        response = await http.get(
            f"{MODELS}/{model['public_id']}/events", params=params, headers=headers
        )
        assert response.status_code == 400, params
        assert words in response.json()["error"]
