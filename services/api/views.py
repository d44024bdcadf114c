"""Registry documents as the seed's response bodies, field for field."""

import hashlib
from datetime import UTC, datetime
from typing import Any

from services.api.conditions import conditions_of
from services.api.documents import secret_env_apart, stored_config
from shared.queries import WorkloadEntry
from shared.records import Document

CREATED_FIELDS = (
    "id",
    "public_id",
    "organization_id",
    "name",
    "display_name",
    "model_type",
    "status",
    "huggingface_id",
    "namespace",
    "created_at",
)
LIST_FIELDS = ("id", "public_id", "name", "display_name", "status", "model_type")
DETAIL_FIELDS = (
    "id",
    "public_id",
    "organization_id",
    "name",
    "display_name",
    "description",
    "model_type",
    "status",
    "huggingface_id",
    "namespace",
    "deployment_name",
    "service_name",
    "endpoint_url",
    "requirements",
    "tags",
    "is_public",
    "created_at",
    "updated_at",
    "generation",
)
REGISTRY_ALL_FIELDS = ("public_id", "model_type", "display_name", "description")


def timestamp(value: datetime | None) -> str | None:
    """`2025-01-01T10:00:00Z`, the seed's form."""
    if value is None:
        return None
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(UTC)
    # isoformat, not strftime: `/all` formats 10,000 of these per request.
    return value.replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def _pick(document: Document, fields: tuple[str, ...]) -> dict[str, Any]:
    view = {field: document.get(field) for field in fields}
    for field in ("created_at", "updated_at"):
        if field in view:
            view[field] = timestamp(view[field])
    return view


def created_view(document: Document) -> dict[str, Any]:
    return {"model": _pick(document, CREATED_FIELDS)}


def list_entry(document: Document) -> dict[str, Any]:
    return _pick(document, LIST_FIELDS)


def detail_view(document: Document) -> dict[str, Any]:
    view = _pick(document, DETAIL_FIELDS)
    if document.get("status_reason"):
        view["status_reason"] = document["status_reason"]
    view["deployment_config"] = deployment_config_view(document)
    view.update(observed_state(document))
    return {"model": view}


def deployment_config_view(document: Document) -> dict[str, Any]:
    """The desired deployment config as stored: every field (defaults for those a model
    stored by an older version lacks), whether a token is held, and the secret `extra_env`
    entries by name only. A model stored before secret entries were kept apart may still
    hold one in `extra_env`: it is shown by name too, never by value."""
    stored = document.get("deployment_config") or {}
    config = stored_config(document).model_dump(mode="json")
    config["has_hugging_face_token"] = bool(stored.get("has_hugging_face_token"))
    config["secret_env_names"] = sorted(stored.get("secret_env_names") or [])
    return secret_env_apart(config)


def observed_state(document: Document) -> dict[str, Any]:
    """Day two's details: what the cluster made of the model, as its events told."""
    conditions = [
        {**c, "last_transition_time": timestamp(c["last_transition_time"])}
        for c in conditions_of(document)
    ]
    return {
        "observed_generation": document.get("observed_generation", 0),
        "replicas": document.get("replicas", 0),
        "ready_replicas": document.get("ready_replicas", 0),
        "updated_replicas": document.get("updated_replicas", 0),
        "conditions": conditions,
    }


def etag(document: Document) -> str:
    """The details' entity tag: the generation, which `If-Match` on a PATCH names."""
    return f'"{document.get("generation", 1)}"'


def entity_tag(body: bytes) -> str:
    """A strong entity tag for a rendered body (`If-None-Match` on the lists and `/status`)."""
    return f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'


def all_entry(
    entry: WorkloadEntry, *, organization_id: int, own: dict[str, Document]
) -> dict[str, Any]:
    """One `/all` entry; the caller's own managed models carry `is_own` and registry fields."""
    view: dict[str, Any] = {
        "name": entry.name,
        "namespace": entry.namespace,
        "is_managed": entry.is_managed,
        "status": entry.status,
        "replicas": entry.replicas,
        "created_at": timestamp(entry.created_at),
    }
    if not entry.is_managed:
        return view
    document = own.get(entry.public_id or "")
    view["is_own"] = document is not None and entry.organization_id == organization_id
    if view["is_own"] and document is not None:
        view["model_type"] = document.get("model_type")
        view["display_name"] = document.get("display_name")
        view["description"] = document.get("description")
    return view
