"""Label keys every managed Kubernetes object carries."""

from typing import Final

MODEL_NAME: Final = "model.aibrix.ai/name"
MODEL_PORT: Final = "model.aibrix.ai/port"
MANAGED: Final = "jan-server.menlo.ai/managed"
ORGANIZATION_ID: Final = "jan-server.menlo.ai/organization-id"
MODEL_ID: Final = "jan-server.menlo.ai/model-id"
MANAGED_BY: Final = "app.kubernetes.io/managed-by"

MANAGED_BY_VALUE: Final = "jan-models"
SERVE_PORT: Final = 8000
SERVE_PORT_NAME: Final = "serve"

GPU_RESOURCE: Final = "nvidia.com/gpu"
MODEL_CONTAINER: Final = "vllm-openai"
"""The model server's container in every model pod."""
GPU_PRODUCT_LABEL: Final = "nvidia.com/gpu.product"
GPU_MEMORY_LABEL: Final = "nvidia.com/gpu.memory"
GPU_COUNT_LABEL: Final = "nvidia.com/gpu.count"

SCALE_DOWN_DELAY_ANNOTATION: Final = "kpa.autoscaling.aibrix.ai/scale-down-delay"

# Annotations (not labels: nobody selects on them) that let the inventory name the model
# in its events without asking the api's registry.
MODEL_DB_ID_ANNOTATION: Final = "jan-server.menlo.ai/model-db-id"
GENERATION_ANNOTATION: Final = "jan-server.menlo.ai/generation"
RESTARTED_AT_ANNOTATION: Final = "jan-models/restarted-at"
"""On the pod template only: a restart changes it, so the Deployment rolls its pods."""


def model_labels(*, name: str, organization_id: int, public_id: str) -> dict[str, str]:
    """The labels of every object the deployer applies for one model."""
    return {
        MODEL_NAME: name,
        MODEL_PORT: str(SERVE_PORT),
        MANAGED: "true",
        ORGANIZATION_ID: str(organization_id),
        MODEL_ID: public_id,
        MANAGED_BY: MANAGED_BY_VALUE,
    }


def model_annotations(*, model_id: int, generation: int) -> dict[str, str]:
    """Annotations on every managed object (not the pod template: a new generation that
    changes nothing the pods run, such as a replica count, must not roll them)."""
    return {MODEL_DB_ID_ANNOTATION: str(model_id), GENERATION_ANNOTATION: str(generation)}


def model_selector(public_id: str) -> str:
    """Label selector matching every object of one model, however far its apply got."""
    return f"{MODEL_ID}={public_id}"
