"""Every list filter over HTTP, on 10,000 models seeded straight into MongoDB.

What each filter should answer is computed here from the seeded documents with plain
Python, independently of `services.api.listing`; the api answers from its in-memory
cache, and the MongoDB query it falls back on (before the cache is ready) is held to the
same answers.
"""

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from nats.js import JetStreamContext
from pymongo.asynchronous.database import AsyncDatabase

from services.api.adapters.registry import Registry
from services.api.app import running
from services.api.listing import model_filter
from services.api.settings import ApiSettings
from shared.database import INDEXES
from shared.names import Collection
from shared.queries import ModelsReply, WorkloadEntry
from shared.records import Document
from tests.api.conftest import FakeInventory, KeyFactory
from tests.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

MODELS = "/v1/organization/models"
ORG = 41
OTHER_ORG = 42
COUNT = 10_000
STATUSES = ("creating", "deploying", "running", "degraded", "failed", "deleting")
TYPES = ("completion", "embedding", "chat")
START = datetime(2026, 1, 1, tzinfo=UTC)


def seeded_model(index: int, *, organization_id: int = ORG) -> Document:
    tags = ["all"]
    if index % 2 == 0:
        tags.append("even")
    if index % 5 == 0:
        tags.append("five")
    name = f"m{organization_id}-{index:05d}"
    return {
        "id": organization_id * 100_000 + index,
        "public_id": f"mdl_{organization_id:02d}{index:010d}",
        "organization_id": organization_id,
        "name": name,
        "display_name": f"Llama Special {index}" if index % 1000 == 7 else f"Model {index}",
        "description": "",
        "model_type": TYPES[index % 3],
        "status": STATUSES[index % 6],
        "status_reason": None,
        "tags": tags,
        "is_public": index % 4 == 0,
        "namespace": "jan-models",
        "generation": 1,
        "event_generation": 0,
        "event_sequence": 0,
        "created_at": START + timedelta(seconds=index),
        "updated_at": START + timedelta(seconds=index),
    }


SEEDED = [seeded_model(i) for i in range(COUNT)]


@pytest.fixture
async def seeded(mongo_db: AsyncDatabase[Document]) -> AsyncDatabase[Document]:
    await mongo_db[Collection.MODELS].create_indexes(INDEXES[Collection.MODELS])
    await mongo_db[Collection.MODELS].insert_many([dict(d) for d in SEEDED])
    others = [seeded_model(i, organization_id=OTHER_ORG) for i in range(10)]
    await mongo_db[Collection.MODELS].insert_many(others)
    return mongo_db


@pytest.fixture
async def seeded_http(
    seeded: AsyncDatabase[Document],
    api_settings: ApiSettings,
    jetstream: JetStreamContext,
    inventory: FakeInventory,
) -> AsyncIterator[httpx.AsyncClient]:
    async with running(api_settings) as app:
        await _view_ready(app)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


async def _view_ready(app: FastAPI) -> None:
    async def ready() -> bool:
        return bool(app.state.runtime.cache.ready)

    await eventually(ready, within=120)


def expected(keep: Callable[[Document], bool]) -> list[str]:
    return [d["public_id"] for d in SEEDED if keep(d)]


CASES: list[tuple[dict[str, Any], Callable[[Document], bool]]] = [
    ({}, lambda d: True),
    ({"status": "running"}, lambda d: d["status"] == "running"),
    ({"status": "updating"}, lambda d: d["status"] == "updating"),
    ({"model_type": "embedding"}, lambda d: d["model_type"] == "embedding"),
    ({"model_type": "vision"}, lambda d: False),
    ({"tag": "even"}, lambda d: "even" in d["tags"]),
    ({"tag": ["even", "five"]}, lambda d: {"even", "five"} <= set(d["tags"])),
    ({"tag": ["five", "nope"]}, lambda d: False),
    ({"is_public": "true"}, lambda d: d["is_public"]),
    ({"is_public": "false"}, lambda d: not d["is_public"]),
    ({"q": "llama"}, lambda d: "llama" in d["display_name"].lower()),
    ({"q": "M41-0001"}, lambda d: "m41-0001" in d["name"]),
    (
        {"status": "failed", "model_type": "chat", "tag": "five", "is_public": "true"},
        lambda d: (
            d["status"] == "failed"
            and d["model_type"] == "chat"
            and "five" in d["tags"]
            and d["is_public"]
        ),
    ),
]


async def _all_pages(
    http: httpx.AsyncClient, headers: dict[str, str], params: dict[str, Any]
) -> list[str]:
    """Every page, followed through `next_offset`."""
    found: list[str] = []
    offset: int | None = 0
    while offset is not None:
        response = await http.get(
            MODELS, params={**params, "limit": 1000, "offset": offset}, headers=headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        found += [m["public_id"] for m in body["models"]]
        assert body["total"] >= len(found)
        offset = body["next_offset"]
    return found


async def test_each_filter_of_the_list_answers_exactly_its_models(
    seeded_http: httpx.AsyncClient, key_for: KeyFactory
) -> None:
    headers = await key_for(ORG)
    for params, keep in CASES:
        want = expected(keep)

        first = (await seeded_http.get(MODELS, params=params, headers=headers)).json()

        assert first["total"] == len(want), params
        assert [m["public_id"] for m in first["models"]] == want[:100], params
        assert first["next_offset"] == (100 if len(want) > 100 else None), params
        assert await _all_pages(seeded_http, headers, params) == want, params
    other = (await seeded_http.get(MODELS, headers=await key_for(OTHER_ORG))).json()
    assert other["total"] == 10  # another organization's models never show


async def test_the_mongodb_fallback_answers_what_the_view_answers(
    seeded: AsyncDatabase[Document],
) -> None:
    registry = Registry(seeded)  # no cache: every read is a MongoDB query
    for params, keep in CASES:
        tags = params.get("tag")
        where = model_filter(
            status=params.get("status"),
            model_type=params.get("model_type"),
            tags=[tags] if isinstance(tags, str) else tags,
            is_public=params.get("is_public"),
            q=params.get("q"),
        )
        want = expected(keep)
        models, total = await registry.page(ORG, limit=50, offset=20, where=where)
        assert total == len(want), params
        assert [m.public_id for m in models] == want[20:70], params


async def test_an_unknown_filter_value_is_a_400_that_names_it(
    seeded_http: httpx.AsyncClient, key_for: KeyFactory
) -> None:
    await _refused(
        seeded_http,
        MODELS,
        await key_for(ORG),
        [
            ({"status": "Running"}, "status: 'Running' is not one of 'creating'"),
            ({"status": "bogus"}, "status: 'bogus'"),
            ({"is_public": "yes"}, "is_public: 'yes' is not 'true' or 'false'"),
            ({"model_type": "Not A Type"}, "model_type: 'Not A Type' is not a model type"),
            ({"q": "x" * 300}, "q: longer than 256 characters"),
            ({"limit": 1001}, "limit: must be between 0 and 1000"),
            ({"offset": -1}, "offset: must not be negative"),
        ],
    )


async def _refused(
    http: httpx.AsyncClient,
    path: str,
    headers: dict[str, str],
    cases: list[tuple[dict[str, Any], str]],
) -> None:
    """Each query is a 400 whose message holds the words given with it."""
    for params, words in cases:
        response = await http.get(path, params=params, headers=headers)
        assert response.status_code == 400, params
        assert words in response.json()["error"]


def workloads() -> list[WorkloadEntry]:
    """10,000 workloads: the caller's, another organization's, and unmanaged ones."""
    entries = []
    for index in range(COUNT):
        managed = index % 3 != 0
        organization = ORG if index % 3 == 1 else OTHER_ORG
        entries.append(
            WorkloadEntry(
                name=f"w-{index:05d}",
                namespace="jan-models" if managed else ("default", "ml")[index % 2],
                is_managed=managed,
                status=("Running", "Pending", "Failed", "Unknown")[index % 4],
                replicas=1,
                created_at=START,
                organization_id=organization if managed else None,
                public_id=f"mdl_{organization:02d}{index:010d}" if managed else None,
            )
        )
    return entries


@pytest.fixture
async def all_http(
    seeded: AsyncDatabase[Document],
    api_settings: ApiSettings,
    jetstream: JetStreamContext,
    inventory: FakeInventory,
) -> AsyncIterator[tuple[httpx.AsyncClient, list[WorkloadEntry], set[str]]]:
    """The caller owns the managed workloads whose public id its registry holds."""
    entries = workloads()
    inventory.models = ModelsReply(models=entries, total=len(entries), version="v1")
    inventory.models_page_size = 2_000
    own_ids = {d["public_id"] for d in SEEDED}
    async with running(api_settings) as app:
        await _view_ready(app)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client, entries, own_ids


async def test_each_filter_of_all_answers_exactly_its_workloads(
    all_http: tuple[httpx.AsyncClient, list[WorkloadEntry], set[str]], key_for: KeyFactory
) -> None:
    http, entries, own_ids = all_http
    # The registry seeded org 41 with public ids mdl_41<index>; a workload of org 41 is
    # the caller's own when that id is in its registry.
    headers = await key_for(ORG)

    def mine(entry: WorkloadEntry) -> bool:
        return entry.is_managed and entry.organization_id == ORG and entry.public_id in own_ids

    cases: list[tuple[dict[str, Any], Callable[[WorkloadEntry], bool]]] = [
        ({}, lambda e: True),
        ({"managed": "true"}, lambda e: e.is_managed),
        ({"managed": "false"}, lambda e: not e.is_managed),
        ({"namespace": "ml"}, lambda e: e.namespace == "ml"),
        ({"namespace": "nowhere"}, lambda e: False),
        ({"status": "Failed"}, lambda e: e.status == "Failed"),
        ({"organization": "mine"}, mine),
        (
            {"organization": "mine", "status": "Running", "managed": "true"},
            lambda e: mine(e) and e.status == "Running",
        ),
    ]
    for params, keep in cases:
        want = [e.name for e in entries if keep(e)]
        everything = (await http.get(f"{MODELS}/all", params=params, headers=headers)).json()
        assert [m["name"] for m in everything["models"]] == want, params
        assert everything["total"] == len(want)
        assert everything["next_offset"] is None
        paged = (
            await http.get(
                f"{MODELS}/all", params={**params, "limit": 10, "offset": 5}, headers=headers
            )
        ).json()
        assert [m["name"] for m in paged["models"]] == want[5:15], params
        assert paged["total"] == len(want)
        assert paged["next_offset"] == (15 if len(want) > 15 else None)
    assert any(mine(e) for e in entries)  # the "mine" cases were not vacuous


async def test_an_unknown_all_filter_value_is_a_400(
    all_http: tuple[httpx.AsyncClient, list[WorkloadEntry], set[str]], key_for: KeyFactory
) -> None:
    await _refused(
        all_http[0],
        f"{MODELS}/all",
        await key_for(ORG),
        [
            ({"status": "running"}, "status: 'running' is not one of 'Running'"),
            ({"managed": "1"}, "managed: '1' is not 'true' or 'false'"),
            ({"organization": "theirs"}, "organization: 'theirs' is not one of 'mine'"),
            ({"namespace": "Not_A_Namespace"}, "namespace: 'Not_A_Namespace' is not a namespace"),
            ({"limit": 5000}, "limit: must be between 0 and 1000"),
        ],
    )
