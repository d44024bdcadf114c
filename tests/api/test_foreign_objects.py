"""A create whose objects would take the name of someone else's object is a 409 with
DESIGN 9's sentence (the first collision in apply order), after 400 and a taken name,
before the cluster gates; nothing is stored and nothing is published."""

import copy
from typing import Any

import httpx

from services.api.web.examples import SEED_CREATE_REQUEST
from tests.api.conftest import FakeInventory, KeyFactory, synced_status
from tests.api.test_http_models import MODELS

NAME = SEED_CREATE_REQUEST["name"]


def not_ours(kind: str, name: str) -> dict[str, str]:
    return {"error": f"{kind} jan-models/{name} already exists and is not managed by jan-models"}


async def listed(http: httpx.AsyncClient, headers: dict[str, str]) -> list[Any]:
    models: list[Any] = (await http.get(MODELS, headers=headers)).json()["models"]
    return models


async def test_someone_elses_service_of_the_models_name_is_a_409_and_nothing_is_stored(
    http: httpx.AsyncClient, key_for: KeyFactory, inventory: FakeInventory
) -> None:
    headers = await key_for(123)
    inventory.status = synced_status(foreign_objects={"Service": [NAME], "ConfigMap": [NAME]})

    response = await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=headers)

    assert response.status_code == 409
    assert response.json() == not_ours("Service", NAME)
    assert await listed(http, headers) == []
    inventory.status = synced_status()
    assert (await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=headers)).status_code == 201


async def test_the_first_collision_in_apply_order_is_named(
    http: httpx.AsyncClient, key_for: KeyFactory, inventory: FakeInventory
) -> None:
    foreign = {
        "PodAutoscaler": [NAME],
        "Service": [NAME],
        "PersistentVolumeClaim": [f"{NAME}-cache"],
        "Secret": [f"{NAME}-hf-token"],
    }
    inventory.status = synced_status(foreign_objects=foreign)
    headers = await key_for(123)
    first = await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=headers)
    assert first.json() == not_ours("Secret", f"{NAME}-hf-token")

    without_token = copy.deepcopy(SEED_CREATE_REQUEST)
    del without_token["deployment_config"]["hugging_face_token"]
    second = await http.post(MODELS, json=without_token, headers=headers)
    assert second.json() == not_ours("PersistentVolumeClaim", f"{NAME}-cache")

    # names of objects this model would not have are no collision
    plain = copy.deepcopy(without_token)
    plain["deployment_config"] |= {"enable_pvc": False}
    inventory.status = synced_status(foreign_objects={"PersistentVolumeClaim": [f"{NAME}-cache"]})
    assert (await http.post(MODELS, json=plain, headers=headers)).status_code == 201


async def test_the_order_400_then_taken_name_then_foreign_object_then_403(
    http: httpx.AsyncClient, key_for: KeyFactory, inventory: FakeInventory
) -> None:
    headers = await key_for(123)
    status = synced_status(foreign_objects={"Deployment": [NAME]})
    no_aibrix = status.cluster_status.model_copy(update={"aibrix_ok": False})
    inventory.status = status.model_copy(update={"cluster_status": no_aibrix})

    invalid = copy.deepcopy(SEED_CREATE_REQUEST)
    invalid["requirements"]["gpu"]["min_gpus"] = "many"
    assert (await http.post(MODELS, json=invalid, headers=headers)).status_code == 400
    refused = await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=headers)
    assert (refused.status_code, refused.json()) == (409, not_ours("Deployment", NAME))

    inventory.status = synced_status()
    assert (await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=headers)).status_code == 201
    inventory.status = status  # the model's own objects are not foreign; the name is taken
    taken = await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=await key_for(456))
    assert taken.status_code == 409
    assert taken.json() == {
        "error": f"a model named '{NAME}' already exists in namespace 'jan-models'"
    }
