"""Model events: CloudEvents 1.0 structured JSON on `model.events.<org>.<name>.<type>`.

One class per event type, named in the past tense, each with its own typed `data`.
`parse_event` reads any of them back from the wire, choosing the class by `type`.
"""

from datetime import datetime
from typing import Annotated, ClassVar, Literal, Self
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from shared.commands import ModelRef, utcnow
from shared.names import EventType, event_subject
from shared.tracing import TRACEPARENT_PATTERN


class ObjectRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    api_version: str = Field(examples=["apps/v1"])
    kind: str = Field(examples=["Deployment"])
    name: str = Field(examples=["qwen3-coder-30b"])


class ModelEventData(ModelRef):
    """Identity of the model an event is about; every event's data starts with it."""


class AcceptedData(ModelEventData):
    pass


class AppliedData(ModelEventData):
    objects: list[ObjectRef] = Field(description="Every object applied, in apply order")


class ReplicaCounts(ModelEventData):
    replicas: int = Field(ge=0, description="Desired replicas of the Deployment")
    ready_replicas: int = Field(ge=0)
    updated_replicas: int | None = Field(
        default=None, ge=0, description="Replicas already of the Deployment's current template"
    )


class RunningData(ReplicaCounts):
    pass


class DegradedData(ReplicaCounts):
    reason: str = Field(examples=["NoReadyReplica", "CrashLoopBackOff"])
    message: str = ""


class FailedData(ModelEventData):
    stage: Literal["command", "apply", "delete", "runtime"] = Field(
        description="Where it failed: a malformed command, the apply, the delete, or the running pods"
    )
    reason: str = Field(examples=["Invalid", "ImagePullBackOff", "Unschedulable"])
    message: str = ""
    replicas: int | None = Field(
        default=None, ge=0, description="Desired replicas, when the running pods failed"
    )
    ready_replicas: int | None = Field(
        default=None,
        ge=0,
        description="Pods still ready when the running pods failed (old ones under RollingUpdate)",
    )


class DeletingData(ModelEventData):
    pass


class DeletedData(ModelEventData):
    objects: list[ObjectRef] = Field(default=[], description="Every object that was removed")


class ScaledData(ReplicaCounts):
    previous_replicas: int = Field(ge=0)


class DriftedData(ModelEventData):
    missing: list[ObjectRef] = Field(description="Managed objects that vanished from the cluster")
    reason: str = "DeploymentMissing"


class RepairedData(ModelEventData):
    objects: list[ObjectRef] = []


class UpdatedData(ModelEventData):
    changed: list[str] = Field(
        default=[],
        description="The create body's fields the change touched (`restart` for a restart); "
        "a token's or a secret's new value is never shown, only its field's name",
        examples=[["deployment_config.image"]],
    )


class CloudEvent(BaseModel):
    """The CloudEvents 1.0 envelope; subclasses pin `type` and `data`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    event_type: ClassVar[EventType]

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: str(uuid4()))
    source: str = Field(examples=["/jan-models/deployer"])
    type: str
    subject: str = Field(description="The model's public id", examples=["mdl_abc123def456"])
    time: datetime = Field(default_factory=utcnow)
    datacontenttype: Literal["application/json"] = "application/json"
    traceparent: str | None = Field(
        default=None,
        pattern=TRACEPARENT_PATTERN,
        description="CloudEvents distributed-tracing extension: the W3C trace context of "
        "the request the event follows from; absent when none caused it",
        exclude_if=lambda value: value is None,  # an extension attribute is absent, never null
    )
    data: ModelEventData

    @classmethod
    def of(cls, data: ModelEventData, *, source: str, time: datetime | None = None) -> Self:
        """`time`: when it happened, if not now (the write it announces holds the same)."""
        return cls(
            source=source,
            type=cls.event_type.cloudevent_type,
            subject=data.public_id,
            data=data,
            time=time or utcnow(),
        )

    @property
    def nats_subject(self) -> str:
        return event_subject(self.data.organization_id, self.data.name, self.event_type)


class ModelAccepted(CloudEvent):
    event_type = EventType.ACCEPTED
    type: Literal["ai.jan.model.accepted"]
    data: AcceptedData


class ModelApplied(CloudEvent):
    event_type = EventType.APPLIED
    type: Literal["ai.jan.model.applied"]
    data: AppliedData


class ModelRunning(CloudEvent):
    event_type = EventType.RUNNING
    type: Literal["ai.jan.model.running"]
    data: RunningData


class ModelDegraded(CloudEvent):
    event_type = EventType.DEGRADED
    type: Literal["ai.jan.model.degraded"]
    data: DegradedData


class ModelFailed(CloudEvent):
    event_type = EventType.FAILED
    type: Literal["ai.jan.model.failed"]
    data: FailedData


class ModelDeleting(CloudEvent):
    event_type = EventType.DELETING
    type: Literal["ai.jan.model.deleting"]
    data: DeletingData


class ModelDeleted(CloudEvent):
    event_type = EventType.DELETED
    type: Literal["ai.jan.model.deleted"]
    data: DeletedData


class ModelScaled(CloudEvent):
    event_type = EventType.SCALED
    type: Literal["ai.jan.model.scaled"]
    data: ScaledData


class ModelDrifted(CloudEvent):
    event_type = EventType.DRIFTED
    type: Literal["ai.jan.model.drifted"]
    data: DriftedData


class ModelRepaired(CloudEvent):
    event_type = EventType.REPAIRED
    type: Literal["ai.jan.model.repaired"]
    data: RepairedData


class ModelUpdated(CloudEvent):
    """The api accepted generation N of a model that already runs (a PATCH or a restart)."""

    event_type = EventType.UPDATED
    type: Literal["ai.jan.model.updated"]
    data: UpdatedData


ModelEvent = Annotated[
    ModelAccepted
    | ModelApplied
    | ModelRunning
    | ModelDegraded
    | ModelFailed
    | ModelDeleting
    | ModelDeleted
    | ModelScaled
    | ModelDrifted
    | ModelRepaired
    | ModelUpdated,
    Field(discriminator="type"),
]
EVENT_CLASSES: tuple[type[CloudEvent], ...] = (
    ModelAccepted,
    ModelApplied,
    ModelRunning,
    ModelDegraded,
    ModelFailed,
    ModelDeleting,
    ModelDeleted,
    ModelScaled,
    ModelDrifted,
    ModelRepaired,
    ModelUpdated,
)
_EVENT_ADAPTER: TypeAdapter[ModelEvent] = TypeAdapter(ModelEvent)


def parse_event(raw: bytes | str) -> ModelEvent:
    """Any model event from its JSON; raises pydantic.ValidationError when it is not one."""
    return _EVENT_ADAPTER.validate_json(raw)
