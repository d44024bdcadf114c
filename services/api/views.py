"""Model records as the seed's response bodies, field for field."""

import hashlib
from datetime import UTC, datetime
from typing import Any

from services.api.conditions import initial
from services.api.documents import parsed_config
from services.api.records import ModelDetails, ModelRecord, secret_env_apart
from shared.queries import WorkloadEntry


def timestamp(value: datetime | None) -> str | None:
    """`2025-01-01T10:00:00Z`, the seed's form."""
    if value is None:
        return None
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(UTC)
    # isoformat, not strftime: `/all` formats 10,000 of these per request.
    return value.replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def created_view(model: ModelRecord) -> dict[str, Any]:
    return {
        "model": {
            "id": model.id,
            "public_id": model.public_id,
            "organization_id": model.organization_id,
            "name": model.name,
            "display_name": model.display_name,
            "model_type": model.model_type,
            "status": model.status,
            "huggingface_id": model.huggingface_id,
            "namespace": model.namespace,
            "created_at": timestamp(model.created_at),
        }
    }


def list_entry(model: ModelRecord) -> dict[str, Any]:
    return {
        "id": model.id,
        "public_id": model.public_id,
        "name": model.name,
        "display_name": model.display_name,
        "status": model.status,
        "model_type": model.model_type,
    }


def detail_view(details: ModelDetails) -> dict[str, Any]:
    model = details.model
    view: dict[str, Any] = {
        "id": model.id,
        "public_id": model.public_id,
        "organization_id": model.organization_id,
        "name": model.name,
        "display_name": model.display_name,
        "description": model.description,
        "model_type": model.model_type,
        "status": model.status,
        "huggingface_id": model.huggingface_id,
        "namespace": model.namespace,
        "deployment_name": model.deployment_name,
        "service_name": model.service_name,
        "endpoint_url": model.endpoint_url,
        "requirements": model.requirements,
        "tags": None if model.tags is None else list(model.tags),
        "is_public": model.is_public,
        "created_at": timestamp(model.created_at),
        "updated_at": timestamp(model.updated_at),
        "generation": model.generation,
    }
    if model.status_reason:
        view["status_reason"] = model.status_reason
    view["deployment_config"] = deployment_config_view(details.deployment_config)
    view.update(observed_state(model))
    return {"model": view}


def deployment_config_view(stored: dict[str, Any]) -> dict[str, Any]:
    """The desired deployment config as stored: every field (defaults for those a model
    stored by an older version lacks), whether a token is held, and the secret `extra_env`
    entries by name only (the record names any an older version stored in clear)."""
    config = parsed_config(stored).model_dump(mode="json")
    config["has_hugging_face_token"] = bool(stored.get("has_hugging_face_token"))
    config["secret_env_names"] = sorted(stored.get("secret_env_names") or [])
    return secret_env_apart(config)


def observed_state(model: ModelRecord) -> dict[str, Any]:
    """Day two's details: what the cluster made of the model, as its events told."""
    stored = model.conditions or initial(created=model.created_at, generation=model.generation)
    conditions = [
        {**c, "last_transition_time": timestamp(c["last_transition_time"])} for c in stored
    ]
    return {
        "observed_generation": model.observed_generation,
        "replicas": model.replicas,
        "ready_replicas": model.ready_replicas,
        "updated_replicas": model.updated_replicas or 0,
        "conditions": conditions,
    }


def etag(details: ModelDetails) -> str:
    """The details' entity tag: the generation, which `If-Match` on a PATCH names."""
    return f'"{details.model.generation}"'


def entity_tag(body: bytes) -> str:
    """A strong entity tag for a rendered body (`If-None-Match` on the lists and `/status`)."""
    return f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'


def all_entry(
    entry: WorkloadEntry, *, organization_id: int, own: dict[str, ModelRecord]
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
    model = own.get(entry.public_id or "")
    view["is_own"] = model is not None and entry.organization_id == organization_id
    if view["is_own"] and model is not None:
        view["model_type"] = model.model_type
        view["display_name"] = model.display_name
        view["description"] = model.description
    return view
