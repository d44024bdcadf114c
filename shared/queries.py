"""Inventory queries over NATS request-reply, and their replies.

The api asks; the inventory answers from its MongoDB projections, never from the
cluster. A reply is either the answer or an explicit `QueryError`, never silence.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter

from shared.model_spec import Quantity

# The order is the order of precedence (a node that is down matters before one that was
# drained). Declared once: pydantic caches equal Literals, so a second spelling in another
# order made the published schema's enum order depend on which module loaded first.
UnschedulableReason = Literal["not_ready", "cordoned", "tainted"]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QueryError(Message):
    ok: Literal[False] = False
    error: str


# A reply's version names its content: equal versions mean byte-identical replies. A
# query that carries the version it holds (`if_none_match`) is answered `Unchanged` while
# that is still the answer, so an unchanged 60 KB status or 1 MiB page is not sent,
# parsed and rendered again on every request.
VERSION_DESCRIPTION = "Names the reply's content: equal versions mean identical replies"
IF_NONE_MATCH_DESCRIPTION = "A version the asker holds; answered `Unchanged` while still current"


class Unchanged(Message):
    """The answer is still the one the asker holds (the query's `if_none_match`)."""

    ok: Literal[True] = True
    unchanged: Literal[True] = True
    version: str


# --- inventory.query.status -------------------------------------------------------------


class StatusQuery(Message):
    if_none_match: str | None = Field(default=None, description=IF_NONE_MATCH_DESCRIPTION)


class GpuNode(Message):
    """One entry of the seed's `cluster_status.gpu_nodes`, with the admission fields."""

    node_name: str = Field(examples=["gpu-node-1"])
    gpu_count: int = Field(examples=[2])
    gpu_type: str = Field(examples=["nvidia-a100"])
    total_vram: str = Field(examples=["40Gi"], description="Whole Gi, rounded down")
    available_vram: str = Field(examples=["38Gi"], description="Free GPUs' memory, whole Gi")
    allocated_gpus: int = Field(default=0, description="Requested by non-terminated bound pods")
    reserved_gpus: int = Field(default=0, description="Planned for admitted models not yet bound")
    free_gpus: int = Field(
        default=0, description="Allocatable - allocated - reserved; 0 if unschedulable"
    )
    schedulable: bool = True
    unschedulable_reason: UnschedulableReason | None = None


class NodeGpus(Message):
    """What admission plans with, per GPU node (not part of `/status`)."""

    node_name: str
    gpu_type: str
    gpu_memory_mib: int
    allocatable: int
    allocated: int
    schedulable: bool


class ClusterStatus(Message):
    """Exactly the seed's `cluster_status` object."""

    has_gpus: bool
    total_nodes: int
    gpu_nodes: list[GpuNode]
    total_gpus: int
    gpu_operator_ok: bool
    aibrix_ok: bool
    kuberay_ok: bool
    envoy_gateway_ok: bool


class StatusReply(Message):
    ok: Literal[True] = True
    connected: bool = Field(description="Whether the inventory has synced with a cluster at all")
    cluster_status: ClusterStatus
    storage_classes: list[str] = []
    default_storage_class: str | None = None
    service_monitor_ok: bool = False
    missing: list[str] = Field(default=[], description="Required CRDs and parts that are absent")
    synced_at: datetime | None = None
    version: str | None = Field(default=None, description=VERSION_DESCRIPTION)
    in_cluster: bool = Field(
        default=True,
        description="False when the inventory has no cluster to reach (no kubeconfig, not in a pod)",
    )
    placement: list[NodeGpus] = Field(default=[], description="Every GPU node, for admission")
    bound_gpus: dict[str, dict[str, int]] = Field(
        default={},
        description="GPUs held by each managed model's bound pods: public id -> node -> GPUs",
    )
    foreign_objects: dict[str, list[str]] = Field(
        default={},
        description=(
            "Objects in the models' namespace, of the kinds a model owns, that carry no"
            " model id (so are not jan-models'): kind -> names. A model cannot take these names"
        ),
        examples=[{"Service": ["qwen3-coder-30b"]}],
    )


# --- inventory.query.models -------------------------------------------------------------


class ModelsQuery(Message):
    """A page of the list: a reply must fit NATS's max_payload (1 MiB by default).

    Without `limit` the inventory answers as many entries as fit; follow `next_offset`.
    """

    offset: int = Field(default=0, ge=0)
    limit: int | None = Field(default=None, ge=1)
    if_none_match: str | None = Field(
        default=None, description=f"{IF_NONE_MATCH_DESCRIPTION} (the whole list's version)"
    )


class WorkloadEntry(Message):
    """One entry of the seed's `/all` list, plus the labels the api needs to mark its own."""

    name: str
    namespace: str
    is_managed: bool
    status: Literal["Running", "Pending", "Failed", "Unknown"]
    replicas: int
    ready_replicas: int = 0
    created_at: datetime | None = None
    organization_id: int | None = None
    public_id: str | None = None


class ModelsReply(Message):
    ok: Literal[True] = True
    models: list[WorkloadEntry]
    total: int
    next_offset: int | None = Field(
        default=None, description="Offset of the next page; None when this page is the last"
    )
    version: str | None = Field(
        default=None,
        description=f"{VERSION_DESCRIPTION}; of the whole list, so pages of one version agree",
    )
    pages_subject: str | None = Field(
        default=None,
        description="Where to ask this list's other pages, when it has more than one: the "
        "replica that answered this one (each replica numbers its own versions; the shared "
        "subject may reach another). Absent from a list of one page",
        # absent, not null: an api from before it reads every one-page list as it did
        exclude_if=lambda value: value is None,
    )


# --- inventory.query.capacity -----------------------------------------------------------


class CapacityQuery(Message):
    min_gpus: int = Field(ge=0, le=64)
    min_vram: Quantity | None = None
    gpu_type: str | None = None


class CapacityReply(Message):
    ok: Literal[True] = True
    fits: bool
    node_name: str | None = Field(default=None, description="A node that can host it, when one can")
    message: str = Field(default="", description="The seed's text when no node fits")


def _answer_kind(value: Any) -> str:
    """Which of reply, `Unchanged` or `QueryError` an answer is (parsed JSON or a model)."""
    if isinstance(value, dict):
        ok, unchanged = value.get("ok"), value.get("unchanged")
    else:
        ok, unchanged = getattr(value, "ok", None), getattr(value, "unchanged", None)
    if ok is False:
        return "error"
    return "unchanged" if unchanged is True else "reply"


StatusAnswer = Annotated[
    Annotated[StatusReply, Tag("reply")]
    | Annotated[Unchanged, Tag("unchanged")]
    | Annotated[QueryError, Tag("error")],
    Discriminator(_answer_kind),
]
ModelsAnswer = Annotated[
    Annotated[ModelsReply, Tag("reply")]
    | Annotated[Unchanged, Tag("unchanged")]
    | Annotated[QueryError, Tag("error")],
    Discriminator(_answer_kind),
]
CapacityAnswer = Annotated[CapacityReply | QueryError, Field(discriminator="ok")]

STATUS_ANSWER: TypeAdapter[StatusReply | Unchanged | QueryError] = TypeAdapter(StatusAnswer)
MODELS_ANSWER: TypeAdapter[ModelsReply | Unchanged | QueryError] = TypeAdapter(ModelsAnswer)
CAPACITY_ANSWER: TypeAdapter[CapacityReply | QueryError] = TypeAdapter(CapacityAnswer)
