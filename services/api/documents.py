"""The registry document of a model and the outbox entries it carries.

Pure: building a document or an outbox entry touches no database. An outbox entry holds
the command to publish and, when there is one, the event announcing it; both are frozen
at write time so a re-publish carries the same `Nats-Msg-Id` and the same event id.
"""

from datetime import datetime
from typing import Any, Literal

from services.api import conditions
from services.api.records import ModelRecord, StoredModel
from services.api.requests import CreateModelRequest
from services.api.transitions import Status
from shared import tracing
from shared.commands import CreateModel, DeleteModel, ModelRef
from shared.events import (
    AcceptedData,
    CloudEvent,
    DeletingData,
    ModelAccepted,
    ModelDeleting,
    ModelUpdated,
    UpdatedData,
)
from shared.labels import SERVE_PORT
from shared.model_spec import DeploymentConfig, Requirements
from shared.names import DEFAULT_NAMESPACE
from shared.records import Document

EVENT_SOURCE = "/jan-models/api"
REGISTRY_ONLY_FIELDS = frozenset({"has_hugging_face_token", "secret_env_names"})
"""What the stored `deployment_config` says about the secrets in place of their values."""


def endpoint_url(name: str, namespace: str) -> str:
    return f"http://{name}.{namespace}.svc.cluster.local:{SERVE_PORT}"


def new_model_document(
    request: CreateModelRequest,
    *,
    model_id: int,
    public_id: str,
    organization_id: int,
    hf_token_encrypted: str | None,
    secret_env_encrypted: str | None = None,
    planned_nodes: list[str] | None = None,
    now: datetime,
    due_at: datetime,
    traceparent: str | None = None,
) -> Document:
    """`traceparent` is the creating request's (the document may be built in another
    request's task, by the admission batch that admits it)."""
    spec = request.deployment_config.spec()
    ref = ModelRef(
        organization_id=organization_id,
        model_id=model_id,
        public_id=public_id,
        name=request.name,
        namespace=DEFAULT_NAMESPACE,
        generation=1,
    )
    command = CreateModel(
        **ref.model_dump(),
        huggingface_id=request.huggingface_id,
        requirements=request.requirements,
        deployment_config=spec,
        hf_token_encrypted=hf_token_encrypted,
        secret_env_encrypted=secret_env_encrypted,
        planned_nodes=planned_nodes or [],
        issued_at=now,
    )
    accepted_event = ModelAccepted.of(
        AcceptedData(**ref.model_dump()), source=EVENT_SOURCE, time=now
    )
    deployment_config = spec.model_dump(mode="json")
    deployment_config["has_hugging_face_token"] = hf_token_encrypted is not None
    deployment_config["secret_env_names"] = sorted(request.deployment_config.secret_env())
    return {
        "id": model_id,
        "public_id": public_id,
        "organization_id": organization_id,
        "name": request.name,
        "display_name": request.effective_display_name,
        "description": request.description,
        "model_type": request.model_type,
        "huggingface_id": request.huggingface_id,
        "requirements": request.requirements.model_dump(mode="json", exclude_unset=True),
        "deployment_config": deployment_config,
        "hf_token_encrypted": hf_token_encrypted,
        "secret_env_encrypted": secret_env_encrypted,
        "tags": list(request.tags),
        "is_public": request.is_public,
        "status": Status.CREATING.value,
        "status_reason": None,
        "namespace": DEFAULT_NAMESPACE,
        "deployment_name": request.name,
        "service_name": request.name,
        "endpoint_url": endpoint_url(request.name, DEFAULT_NAMESPACE),
        "generation": 1,
        "event_generation": 0,
        "event_sequence": 0,
        "created_at": now,
        "updated_at": now,
        # what `accepted` says, with the write it announces: the event then changes nothing
        "conditions": conditions.accepted(
            conditions.initial(created=now, generation=1), generation=1, at=now
        ),
        "outbox": outbox_entry(command, accepted_event, due_at, traceparent=traceparent),
    }


def model_ref(model: ModelRecord, *, generation: int) -> ModelRef:
    return ModelRef(
        organization_id=model.organization_id,
        model_id=model.id,
        public_id=model.public_id,
        name=model.name,
        namespace=model.namespace,
        generation=generation,
    )


def delete_entry(
    model: StoredModel, *, generation: int, now: datetime, attempt: int = 0
) -> dict[str, Any]:
    """The delete command, with the `deleting` event for the first attempt only."""
    ref = model_ref(model.record, generation=generation)
    command = DeleteModel(**ref.model_dump(), attempt=attempt, issued_at=now)
    event = ModelDeleting.of(DeletingData(**ref.model_dump()), source=EVENT_SOURCE)
    return outbox_entry(command, None if attempt else event, now)


def repair_entry(
    model: StoredModel, *, generation: int, now: datetime, attempt: int
) -> dict[str, Any]:
    """Re-apply the registry's desired state of the same generation (a repair changes
    nothing that runs); the deployer answers with applied + repaired."""
    command = apply_command(model, generation=generation, cause="repair", now=now)
    return outbox_entry(command.model_copy(update={"attempt": attempt}), None, now)


def update_entry(
    model: StoredModel, *, generation: int, changed: list[str], now: datetime, due_at: datetime
) -> dict[str, Any]:
    """Apply the desired state `model` now holds as generation `generation`, announced
    by `updated` (the api accepted it at `now`). Its conditions but `Accepted` (see
    `accepted_condition`) are the event's to write: the write of a change is guarded by
    the generation alone, and events of the old one may move them between its read and
    its write."""
    command = apply_command(model, generation=generation, cause="update", now=now)
    ref = model_ref(model.record, generation=generation)
    data = UpdatedData(**ref.model_dump(), changed=changed)
    event = ModelUpdated.of(data, source=EVENT_SOURCE, time=now)
    return outbox_entry(command, event, due_at)


_ACCEPTED = conditions.TYPES.index("Accepted")
ACCEPTED_CONDITION = f"conditions.{_ACCEPTED}"
"""Where a change sets the `Accepted` condition in place (see `accepted_condition`)."""


def accepted_condition(model: StoredModel, *, generation: int, now: datetime) -> Any:
    """The model's `Accepted` condition once `generation` is accepted at `now`, for a
    change to set in place (`ACCEPTED_CONDITION`) with the generation itself. Only
    `accepted`/`updated` ever move it, so setting it alone overwrites nothing an event of
    the old generation wrote meanwhile; and the change's `updated`, settled late (after a
    redelivery) and so ignored, cannot leave it naming the old generation. None for a model
    an older version stored without conditions: its `updated` writes them all."""
    stored = list(model.record.conditions)
    if not stored or stored[_ACCEPTED].get("type") != "Accepted":
        return None
    return conditions.accepted(stored, generation=generation, at=now)[_ACCEPTED]


def stored_config(model: StoredModel) -> DeploymentConfig:
    """The desired deployment config as the registry holds it, with the defaults of fields
    a model stored by an older version lacks (`replicas`, `rollout`) filled in."""
    return parsed_config(model.deployment_config)


def parsed_config(config: dict[str, Any]) -> DeploymentConfig:
    """A stored `deployment_config` (see `stored_config`) without its registry-only fields."""
    return DeploymentConfig.model_validate(
        {key: value for key, value in config.items() if key not in REGISTRY_ONLY_FIELDS}
    )


def apply_command(
    model: StoredModel, *, generation: int, cause: Literal["update", "repair"], now: datetime
) -> CreateModel:
    """The command that applies the registry's desired state of the model."""
    record = model.record
    return CreateModel(
        **model_ref(record, generation=generation).model_dump(),
        huggingface_id=record.huggingface_id or "",
        requirements=Requirements.model_validate(record.requirements or {}),
        deployment_config=stored_config(model),
        cause=cause,
        hf_token_encrypted=model.hf_token_encrypted,
        secret_env_encrypted=model.secret_env_encrypted,
        planned_nodes=list(model.planned_nodes),
        restarted_at=model.restarted_at,
        issued_at=now,
    )


def outbox_entry(
    command: CreateModel | DeleteModel,
    event: CloudEvent | None,
    due_at: datetime,
    *,
    traceparent: str | None = None,
) -> dict[str, Any]:
    """What the relay publishes, in the request's trace: the one given, else the current."""
    traceparent = traceparent or tracing.current.get()
    if traceparent is not None:
        command = command.model_copy(update={"traceparent": traceparent})
        event = event.model_copy(update={"traceparent": traceparent}) if event else None
    return {
        "msg_id": command.msg_id,
        "command": command.model_dump(mode="json"),
        "event": event.model_dump(mode="json") if event is not None else None,
        "due_at": due_at,
        "attempts": 0,
    }
