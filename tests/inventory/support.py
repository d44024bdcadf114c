"""Helpers the inventory tests share: polling with a deadline, queries, manifests."""

from typing import Any, TypeVar

from nats.aio.client import Client
from pydantic import TypeAdapter

from shared import labels

T = TypeVar("T")


async def ask(nc: Client, subject: str, adapter: TypeAdapter[T], body: bytes = b"") -> T:
    reply = await nc.request(subject, body, timeout=5)
    return adapter.validate_json(reply.data)


def deployment(
    name: str,
    *,
    namespace: str = "default",
    image: str = "vllm/vllm-openai:v0.10.2",
    gpus: int = 1,
    replicas: int = 1,
    managed: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A model Deployment; `managed` = {organization_id, public_id, model_id, generation}."""
    meta_labels = {labels.MODEL_NAME: name}
    annotations: dict[str, str] = {}
    if managed is not None:
        meta_labels = labels.model_labels(
            name=name, organization_id=managed["organization_id"], public_id=managed["public_id"]
        )
        annotations = labels.model_annotations(
            model_id=managed["model_id"], generation=managed["generation"]
        )
    pod_labels = {labels.MODEL_NAME: name}
    if managed is not None:
        pod_labels[labels.MODEL_ID] = managed["public_id"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": meta_labels,
            "annotations": annotations,
        },
        "spec": {
            "replicas": replicas,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": {labels.MODEL_NAME: name}},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": annotations},
                "spec": {
                    "containers": [
                        {
                            "name": "vllm-openai",
                            "image": image,
                            "resources": {
                                "requests": {labels.GPU_RESOURCE: str(gpus)},
                                "limits": {labels.GPU_RESOURCE: str(gpus)},
                            },
                        }
                    ]
                },
            },
        },
    }
