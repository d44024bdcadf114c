"""A model as the api reads it: a typed, frozen record, made from a registry document at
the registry adapter's edge and read by everything past it.

`ModelRecord` holds no secret by construction: it has no field for the encrypted token,
the encrypted secret `extra_env` values or the outbox (whose command carries both).
`ModelDetails` adds the desired deployment config, with any secret-named `extra_env`
entry an older version stored in clear named in `secret_env_names` only. The config is
kept apart from the record because the registry's cache keeps it apart (as bytes, a
quarter of its size decoded), and details read from it pair the two without a copy.

Fields every writer sets are required; those a model stored by an older version (or a
projection) may lack take the value the views have always shown for them. Fields the
api does not read are not kept.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.api.documents import secret_env_apart

Json = dict[str, Any]
"""A JSON object as stored (the create body's `requirements`, a stored config)."""


@dataclass(frozen=True, slots=True)
class Reserved:
    """GPUs a model's admission planned on one node."""

    node: str
    gpus: int


@dataclass(frozen=True, slots=True)
class ModelRecord:
    # identity
    id: int
    public_id: str
    organization_id: int
    name: str
    namespace: str
    status: str
    generation: int = 1
    # metadata
    display_name: str | None = None
    description: str | None = None
    model_type: str | None = None
    tags: tuple[str, ...] | None = None
    is_public: bool | None = None
    huggingface_id: str | None = None
    deployment_name: str | None = None
    service_name: str | None = None
    endpoint_url: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # desired state
    requirements: Json | None = None
    gpus_per_replica: int = 0
    quota_gpus: int = 0
    # what the cluster made of it, as its events told
    status_reason: str | None = None
    observed_generation: int = 0
    replicas: int = 0
    ready_replicas: int = 0
    updated_replicas: int = 0
    conditions: tuple[Json, ...] = ()
    """As stored; empty before the first event that changed one."""
    # the admission's reservation, as `/metrics` counts it
    reserved: bool = False
    reservation: tuple[Reserved, ...] = ()
    released_at: datetime | None = None

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> "ModelRecord":
        """The record of a registry document (whole or projected); its secrets, outbox,
        deployment config and unknown fields stay behind."""
        get = document.get
        tags = get("tags")
        conditions = get("conditions")
        reservation = get("reservation")
        return cls(
            id=document["id"],
            public_id=document["public_id"],
            organization_id=document["organization_id"],
            name=document["name"],
            namespace=document["namespace"],
            status=document["status"],
            generation=get("generation", 1),
            display_name=get("display_name"),
            description=get("description"),
            model_type=get("model_type"),
            tags=None if tags is None else tuple(tags),
            is_public=get("is_public"),
            huggingface_id=get("huggingface_id"),
            deployment_name=get("deployment_name"),
            service_name=get("service_name"),
            endpoint_url=get("endpoint_url"),
            created_at=get("created_at"),
            updated_at=get("updated_at"),
            requirements=get("requirements"),
            gpus_per_replica=get("gpus_per_replica") or 0,
            quota_gpus=int(get("quota_gpus") or 0),
            status_reason=get("status_reason"),
            observed_generation=get("observed_generation", 0),
            replicas=get("replicas", 0),
            ready_replicas=get("ready_replicas", 0),
            updated_replicas=get("updated_replicas", 0),
            conditions=tuple(conditions) if isinstance(conditions, list) else (),
            reserved=bool(get("reserved")),
            reservation=tuple(Reserved(e["node"], int(e["gpus"])) for e in reservation or ()),
            released_at=get("released_at"),
        )


@dataclass(frozen=True, slots=True)
class ModelDetails:
    """A model as its details show it: the record and its desired deployment config."""

    model: ModelRecord
    deployment_config: Json
    """As stored, without a secret value; empty for a model stored without one."""

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> "ModelDetails":
        config = document.get("deployment_config")
        return cls(
            ModelRecord.from_document(document),
            secret_env_apart(config) if isinstance(config, dict) else {},
        )
