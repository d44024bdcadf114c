"""The response bodies as the OpenAPI document declares them, one pydantic model each.

The routes render their bodies with orjson from the registry's records (`/all` can be
megabytes); these models are the contract those bodies keep, declared per status code so
a generated client types them, and checked against real responses by the api's tests.
"""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events import ModelEvent
from shared.model_spec import AutoscalingConfig, DeploymentConfig, Requirements
from shared.queries import ClusterStatus

#: `listing.MODEL_STATUSES` and `listing.PHASES` as types (a test keeps them equal)
ModelStatus = Literal[
    "creating", "deploying", "running", "degraded", "failed", "deleting", "updating"
]
Phase = Literal["Running", "Pending", "Failed", "Unknown"]
Timestamp = Annotated[str, Field(examples=["2025-01-01T10:00:00Z"], description="UTC, RFC 3339")]
NextOffset = Annotated[
    int | None, Field(ge=0, description="Where the next page starts; null on the last page")
]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorBody(Body):
    """Every 4xx and 5xx: one readable sentence."""

    error: str = Field(examples=["model 'mdl_abc123def456' not found"])


class GpuQuota(Body):
    limit: int | None = Field(description="GPUs the organization may hold; null: unlimited")
    used: int = Field(ge=0, description="GPUs its models hold, counted at their most replicas")


class Quota(Body):
    gpus: GpuQuota


class StatusBody(Body):
    organization_id: int
    cluster_status: ClusterStatus
    quota: Quota


class AllModelsEntry(Body):
    """A model Deployment in the cluster; the caller's own carry `is_own` and registry
    fields, other managed ones `is_own` only, unmanaged ones neither."""

    name: str
    namespace: str
    is_managed: bool
    status: Phase
    replicas: int
    created_at: Timestamp | None
    is_own: bool | None = None
    model_type: str | None = None
    display_name: str | None = None
    description: str | None = None


class AllModelsBody(Body):
    models: list[AllModelsEntry]
    total: int = Field(ge=0)
    next_offset: NextOffset


PublicId = Annotated[str, Field(pattern=r"^mdl_[a-z0-9]{12}$", examples=["mdl_abc123def456"])]


class ListedModel(Body):
    id: int = Field(ge=1, examples=[1])
    public_id: PublicId
    name: str
    display_name: str
    status: ModelStatus
    model_type: str


class CreatedModel(ListedModel):
    organization_id: int
    huggingface_id: str
    namespace: str
    created_at: Timestamp


class CreatedBody(Body):
    model: CreatedModel


class ModelListBody(Body):
    models: list[ListedModel]
    total: int = Field(ge=0)
    next_offset: NextOffset


class Condition(Body):
    type: Literal["Accepted", "Applied", "Available", "Progressing", "Degraded"]
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str
    last_transition_time: Timestamp | None


class AutoscalingConfigDetails(AutoscalingConfig):
    """`autoscaling_config` as the details show it: every field, `target_value` a string."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    target_value: str = Field(description="A positive number, as a string", examples=["40"])


class DeploymentConfigDetails(DeploymentConfig):
    """`deployment_config` as the registry stores it: every field of the create body's but
    the token, and no secret `extra_env` entry (the ones named like a secret, e.g.
    `HF_TOKEN`, `*_KEY`, `*PASSWORD*`), which are named in `secret_env_names` instead."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    autoscaling_config: AutoscalingConfigDetails | None = Field(
        description="The autoscaler's bounds and target; null: the defaults (1 to 10 "
        "replicas) when `enable_autoscaling` is true"
    )
    has_hugging_face_token: bool = Field(
        description="A Hugging Face token is held (encrypted; never shown)"
    )
    secret_env_names: list[str] = Field(
        description="The `extra_env` entries held as secrets (encrypted), by name only",
        examples=[["HF_TOKEN"]],
    )


class ModelDetails(CreatedModel):
    description: str
    status_reason: str | None = Field(
        default=None, description="Why the model is failed, degraded or still deleting"
    )
    deployment_name: str
    service_name: str
    endpoint_url: str
    requirements: Requirements
    tags: list[str]
    is_public: bool
    updated_at: Timestamp
    deployment_config: DeploymentConfigDetails
    generation: int = Field(ge=1, description="Bumped by each change to what runs")
    observed_generation: int = Field(ge=0)
    replicas: int = Field(ge=0)
    ready_replicas: int = Field(ge=0)
    updated_replicas: int = Field(ge=0)
    conditions: list[Condition]


class DetailsBody(Body):
    model: ModelDetails


class ModelEventsBody(Body):
    events: list[ModelEvent] = Field(description="CloudEvents as published, oldest first")
    next_after: int | None = Field(
        ge=0, description="The stream sequence to pass as `after`; null when none follows"
    )
