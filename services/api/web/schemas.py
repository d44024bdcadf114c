"""The response bodies as the OpenAPI document declares them, one pydantic model each.

The routes render their bodies with orjson from the registry's documents (`/all` can be
megabytes); these models are the contract those bodies keep, declared per status code so
a generated client types them, and checked against real responses by the api's tests.
"""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events import ModelEvent
from shared.model_spec import Requirements
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
