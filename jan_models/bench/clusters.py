"""The simulated clusters and the registry the scenarios run against.

Scenarios are kubesim scenario documents (the default scenario's CRDs, storage class and
nodes, plus generated nodes and model Deployments). Managed Deployments carry the labels
and annotations the deployer puts on them, so the inventory and the api treat them as
theirs; their pods request one GPU each, so some GPUs are in use.
"""

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import yaml

from kubesim import default_scenario
from services.api.adapters.api_keys import ApiKeys
from services.api.documents import new_model_document
from services.api.requests import CreateModelRequest
from services.api.web.examples import SEED_CREATE_REQUEST
from shared import database, labels
from shared.names import DEFAULT_DATABASE, DEFAULT_NAMESPACE, Collection

Obj = dict[str, Any]
H100: Final = {"product": "NVIDIA-H100-80GB-HBM3", "count": 8, "memory_mib": 81559}
INSERT_BATCH: Final = 1000


def model_name(index: int) -> str:
    return f"bench-{index:05d}"


def public_id(index: int) -> str:
    return f"mdl_{index:012d}"


def model_deployment(
    index: int, *, organization_id: int | None, replicas: int, gpus: int = 1
) -> Obj:
    """A model Deployment; managed (deployer labels) when `organization_id` is given."""
    name = model_name(index)
    managed = organization_id is not None
    meta_labels = (
        labels.model_labels(name=name, organization_id=organization_id, public_id=public_id(index))
        if organization_id is not None
        else {labels.MODEL_NAME: name}
    )
    annotations = labels.model_annotations(model_id=index, generation=1) if managed else {}
    container: Obj = {"name": "vllm-openai", "image": "vllm/vllm-openai:v0.10.2"}
    if replicas and gpus:
        container["resources"] = {
            "requests": {labels.GPU_RESOURCE: str(gpus)},
            "limits": {labels.GPU_RESOURCE: str(gpus)},
        }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": DEFAULT_NAMESPACE if managed else "default",
            "labels": meta_labels,
            "annotations": annotations,
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {labels.MODEL_NAME: name}},
            "template": {
                "metadata": {"labels": meta_labels, "annotations": annotations},
                "spec": {"containers": [container]},
            },
        },
    }


def _base() -> Obj:
    data: Obj = default_scenario().model_dump(mode="json", exclude_none=True)
    data["name"] = "bench"
    data["namespaces"] = sorted({*data["namespaces"], DEFAULT_NAMESPACE})
    return data


def reads_scenario(
    *, nodes: int, gpu_share: float, deployments: int, managed: int, organization_id: int
) -> Obj:
    """Scenarios 1-4: `nodes` generated nodes, `deployments` model Deployments of which the
    first `managed` are the organization's, one ready pod with one GPU each."""
    data = _base()
    data["generate"] = {"count": nodes, "gpu_share": gpu_share, "prefix": "node"}
    data["objects"] = [
        model_deployment(
            i,
            organization_id=organization_id if i <= managed else None,
            replicas=1 if i <= managed else 0,
        )
        for i in range(1, deployments + 1)
    ]
    return data


def create_scenario(*, gpu_nodes: int) -> Obj:
    """Scenario 5: enough 8 x H100 nodes that every created model gets its GPU."""
    data = _base()
    data["generate"] = {"count": gpu_nodes, "gpu_share": 1.0, "prefix": "h100", "gpus": [H100]}
    return data


def scale_scenario(*, nodes: int, deployments: int) -> Obj:
    """Scenario 6: half the nodes with GPUs, Deployments at 0 replicas."""
    data = _base()
    data["generate"] = {"count": nodes, "gpu_share": 0.5, "prefix": "node"}
    data["objects"] = [
        model_deployment(i, organization_id=None, replicas=0) for i in range(1, deployments + 1)
    ]
    return data


def write_scenario(data: Obj, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def create_template() -> Obj:
    """The seed's create body, without the token (the bench must not need a real one)."""
    body = copy.deepcopy(SEED_CREATE_REQUEST)
    del body["deployment_config"]["hugging_face_token"]
    return body


async def seed_registry(
    mongodb_url: str, *, organization_id: int, count: int, database_name: str = DEFAULT_DATABASE
) -> None:
    """`count` models of the organization in the api's document shape, `bench-00001`
    (`mdl_000000000001`) onwards, as the api writes them, with nothing left to publish."""
    client = database.connect(mongodb_url, app_name="jan-models-bench")
    try:
        db = client[database_name]
        await database.ensure_indexes(db, (Collection.MODELS, Collection.API_KEYS))
        template = CreateModelRequest.model_validate(create_template())
        now = datetime.now(UTC)
        batch = []
        for index in range(1, count + 1):
            request = template.model_copy(update={"name": model_name(index)})
            document = new_model_document(
                request,
                model_id=index,
                public_id=public_id(index),
                organization_id=organization_id,
                hf_token_encrypted=None,
                now=now,
                due_at=now,
            )
            document.pop("outbox")
            batch.append(document)
            if len(batch) == INSERT_BATCH:
                await db[Collection.MODELS].insert_many(batch)
                batch = []
        if batch:
            await db[Collection.MODELS].insert_many(batch)
        await db[Collection.COUNTERS].update_one(
            {"_id": "models"}, {"$set": {"seq": count}}, upsert=True
        )
    finally:
        await client.close()


async def register_key(
    mongodb_url: str, *, organization_id: int, key: str, database_name: str = DEFAULT_DATABASE
) -> None:
    client = database.connect(mongodb_url, app_name="jan-models-bench")
    try:
        await ApiKeys(client[database_name]).register(
            key, organization_id=organization_id, name="bench", now=datetime.now(UTC)
        )
    finally:
        await client.close()
