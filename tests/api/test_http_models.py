"""The seed's endpoints through HTTP, against real NATS and MongoDB: bodies to the letter."""

import asyncio
import copy
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.api.web.examples import SEED_CREATE_REQUEST, SEED_STORED_CONFIG
from shared.names import Collection
from shared.queries import ModelsReply, StatusReply, WorkloadEntry
from shared.records import Document
from tests.api.conftest import FakeInventory, KeyFactory, cluster_status
from tests.waiting import eventually, poll

pytestmark = pytest.mark.integration

MODELS = "/v1/organization/models"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def body(**changes: Any) -> dict[str, Any]:
    request = copy.deepcopy(SEED_CREATE_REQUEST)
    request.update(changes)
    return request


def named(name: str, **changes: Any) -> dict[str, Any]:
    request = body(name=name, **changes)
    args = request["deployment_config"]["args"]
    args[1] = args[1].replace("--served-model-name qwen3-coder-30b", f"--served-model-name {name}")
    return request


async def test_create_answers_201_with_the_seed_body(
    http: httpx.AsyncClient, key_for: KeyFactory
) -> None:
    response = await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=await key_for(123))

    assert response.status_code == 201
    model = response.json()["model"]
    assert list(model) == [
        "id", "public_id", "organization_id", "name", "display_name", "model_type",
        "status", "huggingface_id", "namespace", "created_at",
    ]  # fmt: skip
    assert model["id"] == 1
    assert re.fullmatch(r"mdl_[a-z0-9]{12}", model["public_id"])
    assert ISO.match(model["created_at"])
    assert {k: v for k, v in model.items() if k not in ("public_id", "created_at")} == {
        "id": 1,
        "organization_id": 123,
        "name": "qwen3-coder-30b",
        "display_name": "Qwen3 Coder 30B",
        "model_type": "completion",
        "status": "creating",
        "huggingface_id": "Qwen/Qwen3-Coder-30B-A3B-Instruct-FP8",
        "namespace": "jan-models",
    }


async def test_list_and_details_have_the_seed_shapes(
    http: httpx.AsyncClient, key_for: KeyFactory
) -> None:
    headers = await key_for(123)
    created = (await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=headers)).json()["model"]
    # the details read MongoDB: once the `accepted` event is consumed they hold still
    path = f"{MODELS}/{created['public_id']}"
    await poll(
        lambda: http.get(path, headers=headers),
        until=lambda r: r.json()["model"]["conditions"][3]["reason"] == "NewGeneration",
    )

    listed = (await http.get(MODELS, headers=headers)).json()
    by_public = (await http.get(path, headers=headers)).json()
    by_integer = (await http.get(f"{MODELS}/{created['id']}", headers=headers)).json()

    assert listed == {
        "models": [
            {
                "id": 1,
                "public_id": created["public_id"],
                "name": "qwen3-coder-30b",
                "display_name": "Qwen3 Coder 30B",
                "status": "creating",
                "model_type": "completion",
            }
        ],
        "total": 1,
        "next_offset": None,
    }
    assert by_public == by_integer
    detail = by_public["model"]
    assert ISO.match(detail.pop("updated_at"))
    accepted_at = detail["conditions"][3]["last_transition_time"]  # the event's time
    assert ISO.match(accepted_at)
    accepted = {"status": "True", "reason": "Accepted", "message": "generation 1 accepted"}
    pending = {"status": "Unknown", "reason": "Pending", "message": ""} | {
        "last_transition_time": created["created_at"]
    }
    assert detail == {
        "id": 1,
        "public_id": created["public_id"],
        "organization_id": 123,
        "name": "qwen3-coder-30b",
        "display_name": "Qwen3 Coder 30B",
        "description": "Qwen3 Coder model for code completion",
        "model_type": "completion",
        "status": "creating",
        "huggingface_id": "Qwen/Qwen3-Coder-30B-A3B-Instruct-FP8",
        "namespace": "jan-models",
        "deployment_name": "qwen3-coder-30b",
        "service_name": "qwen3-coder-30b",
        "endpoint_url": "http://qwen3-coder-30b.jan-models.svc.cluster.local:8000",
        "requirements": {
            "cpu": "2000m",
            "memory": "16Gi",
            "gpu": {"min_vram": "24Gi", "min_gpus": 1, "max_gpus": 1},
        },
        "tags": ["coding", "completion"],
        "is_public": False,
        "created_at": created["created_at"],
        "generation": 1,
        "deployment_config": SEED_STORED_CONFIG,
        "observed_generation": 0,
        "replicas": 0,
        "ready_replicas": 0,
        "updated_replicas": 0,
        "conditions": [
            {"type": "Accepted", **accepted, "last_transition_time": created["created_at"]},
            {"type": "Applied", **pending},
            {"type": "Available", **pending},
            {
                "type": "Progressing",
                **accepted,
                "reason": "NewGeneration",
                "last_transition_time": accepted_at,
            },
            {"type": "Degraded", **pending},
        ],
    }


async def test_list_pages_with_limit_and_offset(
    http: httpx.AsyncClient, key_for: KeyFactory
) -> None:
    headers = await key_for(7)
    for index in range(3):
        assert (
            await http.post(MODELS, json=named(f"m{index}"), headers=headers)
        ).status_code == 201

    page = (await http.get(MODELS, params={"limit": 2, "offset": 1}, headers=headers)).json()

    assert [m["name"] for m in page["models"]] == ["m1", "m2"]
    assert page["total"] == 3
    assert page["next_offset"] is None
    first = (await http.get(MODELS, params={"limit": 2}, headers=headers)).json()
    assert [m["name"] for m in first["models"]] == ["m0", "m1"]
    assert first["next_offset"] == 2
    for bad in ({"limit": 1001}, {"limit": -1}, {"offset": -1}, {"limit": "many"}):
        response = await http.get(MODELS, params=bad, headers=headers)
        assert response.status_code == 400
        assert next(iter(bad)) in response.json()["error"]


async def test_delete_answers_204_and_again_204_while_deleting(
    http: httpx.AsyncClient, key_for: KeyFactory
) -> None:
    headers = await key_for(123)
    created = (await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=headers)).json()["model"]

    first = await http.delete(f"{MODELS}/{created['public_id']}", headers=headers)
    second = await http.delete(f"{MODELS}/{created['id']}", headers=headers)
    detail = (await http.get(f"{MODELS}/{created['id']}", headers=headers)).json()

    assert (first.status_code, first.content) == (204, b"")
    assert (second.status_code, second.content) == (204, b"")
    assert detail["model"]["status"] == "deleting"


async def test_status_has_the_seed_shape(
    http: httpx.AsyncClient, key_for: KeyFactory, inventory: FakeInventory
) -> None:
    response = await http.get(f"{MODELS}/status", headers=await key_for(123))

    assert response.status_code == 200
    assert response.json() == {
        "organization_id": 123,
        "cluster_status": {
            "has_gpus": True,
            "total_nodes": 3,
            "gpu_nodes": [
                {
                    "node_name": "gpu-a100-1",
                    "gpu_count": 2,
                    "gpu_type": "NVIDIA-A100-SXM4-40GB",
                    "total_vram": "80Gi",
                    "available_vram": "80Gi",
                    "allocated_gpus": 0,
                    "reserved_gpus": 0,
                    "free_gpus": 2,
                    "schedulable": True,
                    "unschedulable_reason": None,
                }
            ],
            "total_gpus": 2,
            "gpu_operator_ok": True,
            "aibrix_ok": True,
            "kuberay_ok": True,
            "envoy_gateway_ok": True,
        },
        "quota": {"gpus": {"limit": None, "used": 0}},
    }


async def test_status_answers_for_a_synced_cluster_without_nodes(
    http: httpx.AsyncClient, key_for: KeyFactory, inventory: FakeInventory
) -> None:
    empty = cluster_status(has_gpus=False, total_nodes=0, gpu_nodes=[], total_gpus=0)
    inventory.status = StatusReply(connected=True, cluster_status=empty)

    response = await http.get(f"{MODELS}/status", headers=await key_for(5))

    assert response.status_code == 200
    assert response.json()["cluster_status"]["total_nodes"] == 0


async def test_all_lists_the_cluster_and_marks_the_callers_own(
    http: httpx.AsyncClient, key_for: KeyFactory, inventory: FakeInventory
) -> None:
    mine = await key_for(123)
    theirs = await key_for(456)
    own = (await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=mine)).json()["model"]
    other = (await http.post(MODELS, json=named("other-org"), headers=theirs)).json()["model"]
    created = datetime(2025, 1, 1, 10, tzinfo=UTC)
    inventory.models = ModelsReply(
        models=[
            WorkloadEntry(
                name="qwen3-coder-30b",
                namespace="jan-models",
                is_managed=True,
                status="Running",
                replicas=2,
                ready_replicas=2,
                created_at=created,
                organization_id=123,
                public_id=own["public_id"],
            ),
            WorkloadEntry(
                name="other-org",
                namespace="jan-models",
                is_managed=True,
                status="Pending",
                replicas=1,
                created_at=created,
                organization_id=456,
                public_id=other["public_id"],
            ),
            WorkloadEntry(
                name="external-model",
                namespace="default",
                is_managed=False,
                status="Running",
                replicas=1,
                created_at=datetime(2025, 1, 1, 9, tzinfo=UTC),
            ),
        ],
        total=3,
    )

    response = await http.get(f"{MODELS}/all", headers=mine)

    assert response.status_code == 200
    assert response.json() == {
        "models": [
            {
                "name": "qwen3-coder-30b",
                "namespace": "jan-models",
                "is_managed": True,
                "status": "Running",
                "replicas": 2,
                "created_at": "2025-01-01T10:00:00Z",
                "is_own": True,
                "model_type": "completion",
                "display_name": "Qwen3 Coder 30B",
                "description": "Qwen3 Coder model for code completion",
            },
            {
                "name": "other-org",
                "namespace": "jan-models",
                "is_managed": True,
                "status": "Pending",
                "replicas": 1,
                "created_at": "2025-01-01T10:00:00Z",
                "is_own": False,
            },
            {
                "name": "external-model",
                "namespace": "default",
                "is_managed": False,
                "status": "Running",
                "replicas": 1,
                "created_at": "2025-01-01T09:00:00Z",
            },
        ],
        "total": 3,
        "next_offset": None,
    }


async def test_all_follows_the_inventory_and_the_registry_without_serving_a_stale_answer(
    http: httpx.AsyncClient, key_for: KeyFactory, inventory: FakeInventory
) -> None:
    headers = await key_for(77)
    external = WorkloadEntry(
        name="external-model", namespace="default", is_managed=False, status="Running", replicas=1
    )
    inventory.models = ModelsReply(models=[external], total=1)
    first = await http.get(f"{MODELS}/all", headers=headers)
    again = await http.get(f"{MODELS}/all", headers=headers)
    assert first.content == again.content

    inventory.models = ModelsReply(
        models=[external.model_copy(update={"status": "Failed"})], total=1
    )
    changed = (await http.get(f"{MODELS}/all", headers=headers)).json()
    assert changed["models"][0]["status"] == "Failed"

    created = (await http.post(MODELS, json=named("cached-model"), headers=headers)).json()["model"]
    mine = WorkloadEntry(
        name="cached-model",
        namespace="jan-models",
        is_managed=True,
        status="Running",
        replicas=1,
        organization_id=77,
        public_id=created["public_id"],
    )
    inventory.models = ModelsReply(models=[external, mine], total=2)

    async def own_fields_shown() -> bool:
        listed = (await http.get(f"{MODELS}/all", headers=headers)).json()["models"]
        return bool(listed[-1].get("display_name") == created["display_name"])

    await eventually(own_fields_shown, within=10)


async def test_an_organization_sees_only_its_own_models_both_ways(
    http: httpx.AsyncClient, key_for: KeyFactory
) -> None:
    alice, bob = await key_for(1), await key_for(2)
    a = (await http.post(MODELS, json=named("alice-model"), headers=alice)).json()["model"]
    b = (await http.post(MODELS, json=named("bob-model"), headers=bob)).json()["model"]

    for headers, own, foreign in ((alice, a, b), (bob, b, a)):
        listed = (await http.get(MODELS, headers=headers)).json()
        assert [m["public_id"] for m in listed["models"]] == [own["public_id"]]
        assert listed["total"] == 1
        for ref in (foreign["public_id"], str(foreign["id"])):
            got = await http.get(f"{MODELS}/{ref}", headers=headers)
            deleted = await http.delete(f"{MODELS}/{ref}", headers=headers)
            assert (got.status_code, deleted.status_code) == (404, 404)
            assert got.json() == {"error": f"model '{ref}' not found"}
        assert (await http.get(f"{MODELS}/{own['public_id']}", headers=headers)).status_code == 200
    assert (await http.get(f"{MODELS}/{b['id']}", headers=bob)).json()["model"][
        "status"
    ] == "creating"


async def test_unknown_model_is_404(http: httpx.AsyncClient, key_for: KeyFactory) -> None:
    headers = await key_for(1)
    for ref in ("mdl_000000000000", "999", "not-an-id"):
        response = await http.get(f"{MODELS}/{ref}", headers=headers)
        assert response.status_code == 404
        assert "error" in response.json()


async def test_two_concurrent_creates_of_one_name_give_201_and_409(
    http: httpx.AsyncClient, key_for: KeyFactory
) -> None:
    one, two = await key_for(1), await key_for(2)

    responses = await asyncio.gather(
        http.post(MODELS, json=SEED_CREATE_REQUEST, headers=one),
        http.post(MODELS, json=SEED_CREATE_REQUEST, headers=two),
    )

    assert sorted(r.status_code for r in responses) == [201, 409]
    conflict = next(r for r in responses if r.status_code == 409)
    assert conflict.json() == {
        "error": "a model named 'qwen3-coder-30b' already exists in namespace 'jan-models'"
    }


async def test_a_name_is_taken_across_organizations_and_while_deleting(
    http: httpx.AsyncClient, key_for: KeyFactory
) -> None:
    one, two = await key_for(1), await key_for(2)
    created = (await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=one)).json()["model"]
    assert (await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=two)).status_code == 409
    assert (await http.delete(f"{MODELS}/{created['id']}", headers=one)).status_code == 204
    assert (await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=one)).status_code == 409


async def test_ids_come_from_a_counter(
    http: httpx.AsyncClient, key_for: KeyFactory, mongo_db: AsyncDatabase[Document]
) -> None:
    headers = await key_for(1)
    ids = [
        (await http.post(MODELS, json=named(f"n{i}"), headers=headers)).json()["model"]["id"]
        for i in range(3)
    ]
    assert ids == [1, 2, 3]
    assert await mongo_db[Collection.COUNTERS].count_documents({}) == 1


async def test_all_follows_the_inventorys_pages(
    http: httpx.AsyncClient, key_for: KeyFactory, inventory: FakeInventory
) -> None:
    entries = [
        WorkloadEntry(
            name=f"ext-{index}", namespace="default", is_managed=False, status="Running", replicas=1
        )
        for index in range(7)
    ]
    inventory.models = ModelsReply(models=entries, total=7)
    inventory.models_page_size = 3

    listed = (await http.get(f"{MODELS}/all", headers=await key_for(1))).json()

    assert [m["name"] for m in listed["models"]] == [f"ext-{index}" for index in range(7)]
    assert listed["total"] == 7
