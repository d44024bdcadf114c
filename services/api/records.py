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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any, Final

from shared.model_spec import is_secret_env_name

Json = dict[str, Any]
"""A JSON object as stored (the create body's `requirements`, a stored config)."""


@dataclass(frozen=True, slots=True)
class Reserved:
    """GPUs a model's admission planned on one node."""

    node: str
    gpus: int
    surge: bool = False
    """A rollout's extra pod, gone once the model runs at its generation."""


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
    updated_replicas: int | None = None
    """None until an event reported it (the views show 0), so that a first report of 0 is
    still a change to store."""
    conditions: tuple[Json, ...] = ()
    """As stored: a create stores them (its `accepted`'s); empty for a model an older
    version created, until an event changed one."""
    # the admission's reservation, as `/metrics` counts it
    reserved: bool = False
    reservation: tuple[Reserved, ...] = ()
    released_at: datetime | None = None

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> "ModelRecord":
        """The record of a registry document (whole or projected); its secrets, outbox,
        deployment config and unknown fields stay behind."""
        get = document.get
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
            tags=_tags(get("tags")),
            is_public=get("is_public"),
            huggingface_id=get("huggingface_id"),
            deployment_name=get("deployment_name"),
            service_name=get("service_name"),
            endpoint_url=get("endpoint_url"),
            created_at=get("created_at"),
            updated_at=get("updated_at"),
            requirements=get("requirements"),
            gpus_per_replica=_gpus(get("gpus_per_replica")),
            quota_gpus=_quota(get("quota_gpus")),
            status_reason=get("status_reason"),
            observed_generation=get("observed_generation", 0),
            replicas=get("replicas", 0),
            ready_replicas=get("ready_replicas", 0),
            updated_replicas=get("updated_replicas"),
            conditions=_conditions(get("conditions")),
            reserved=bool(get("reserved")),
            reservation=_reservation(get("reservation")),
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


@dataclass(frozen=True, slots=True)
class StoredModel:
    """A model as a write judges it: its record, and what the registry keeps beside it to
    apply, guard and publish a change — the document's key, the whole desired deployment
    config, the encrypted secrets (they stay encrypted here, and only a command carries
    them on), the pending outbox entry and the admission's planned nodes.

    Made by the registry adapter from the stored document (`editable`, `change`,
    `mark_deleting`, an insert or an admission, and `by_public_ids` for the status
    consumer); nothing past the writes reads one: routes get its `record` or its
    `details()`."""

    record: ModelRecord
    document_id: Any
    """The document's `_id`, opaque here: what a guarded write names the model by."""
    deployment_config: Json = field(repr=False)
    """As stored (with its registry-only fields, and any secret `extra_env` value an older
    version stored in clear); empty for a model stored without one."""
    hf_token_encrypted: str | None = field(default=None, repr=False)
    secret_env_encrypted: str | None = field(default=None, repr=False)
    outbox: Json | None = field(default=None, repr=False)
    """The command (and event) waiting for the relay; None once it went out. It carries
    the encrypted secrets on: like them and the config, it is left out of the `repr`, so
    a stored model logged by mistake shows no secret."""
    delete_attempt: int = 0
    planned_nodes: tuple[str, ...] = ()
    """Where the admission planned the replicas: the Deployment's preferred affinity."""
    restarted_at: datetime | None = None
    # how far the model's events have been applied: what the status consumer judges and
    # guards by, and no view shows
    event_generation: int = 0
    """The generation of the last event that changed the model."""
    event_sequence: int = 0
    """That event's stream sequence: an event of the same generation at or before it is
    stale, and a status write holds only while it is still the one read."""
    conditions_sequence: int = 0
    """The stream sequence of the last event that changed the conditions, the observed
    generation or the updated replicas: one at or before it changes none of them again."""
    repair_attempt: int = 0
    """How many repairs were asked for: the next one's command is a new message."""

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> "StoredModel":
        """The stored model of a registry document (whole, or a projection with its
        identity and `_id`)."""
        get = document.get
        return cls(
            record=ModelRecord.from_document(document),
            document_id=get("_id"),
            deployment_config=_config(get("deployment_config")),
            hf_token_encrypted=get("hf_token_encrypted"),
            secret_env_encrypted=get("secret_env_encrypted"),
            outbox=_outbox(get("outbox")),
            delete_attempt=get("delete_attempt", 0),
            planned_nodes=_nodes(get("planned_nodes")),
            restarted_at=get("restarted_at"),
            event_generation=get("event_generation", 0),
            event_sequence=get("event_sequence", 0),
            conditions_sequence=get("conditions_sequence", 0),
            repair_attempt=get("repair_attempt", 0),
        )

    def changed(self, changes: Mapping[str, Any]) -> "StoredModel":
        """The model as a `$set` of `changes` (registry fields, as a write stores them)
        leaves it; a field neither a record nor a stored model holds is a `KeyError`."""
        on_record: dict[str, Any] = {}
        own: dict[str, Any] = {}
        for key, value in changes.items():
            if key in _RECORD_FIELDS:
                on_record[key] = _RECORD_VALUE.get(key, _as_is)(value)
            elif key in _STORED_FIELDS:
                own[key] = _STORED_VALUE.get(key, _as_is)(value)
            else:
                raise KeyError(key)
        record = replace(self.record, **on_record) if on_record else self.record
        return replace(self, record=record, **own)

    def details(self) -> ModelDetails:
        """The model as its details show it (no secret value)."""
        return ModelDetails(self.record, secret_env_apart(self.deployment_config))


def _as_is(value: Any) -> Any:
    return value


def _tags(tags: Any) -> tuple[str, ...] | None:
    return None if tags is None else tuple(tags)


def _gpus(gpus: int | None) -> int:
    return gpus or 0


def _quota(gpus: Any) -> int:
    return int(gpus or 0)


def _conditions(conditions: Any) -> tuple[Json, ...]:
    return tuple(conditions) if isinstance(conditions, list) else ()


def _reservation(plan: Any) -> tuple[Reserved, ...]:
    return tuple(
        Reserved(entry["node"], int(entry["gpus"]), bool(entry.get("surge")))
        for entry in plan or ()
    )


def _config(config: Json | None) -> Json:
    return config or {}


def _outbox(outbox: Json | None) -> Json | None:
    return outbox or None


def _nodes(nodes: Any) -> tuple[str, ...]:
    return tuple(nodes or ())


_RECORD_FIELDS: Final = frozenset(each.name for each in fields(ModelRecord))
_STORED_FIELDS: Final = frozenset(each.name for each in fields(StoredModel)) - {
    "record",
    "document_id",
}
_RECORD_VALUE: Final[dict[str, Callable[[Any], Any]]] = {
    "tags": _tags,
    "gpus_per_replica": _gpus,
    "quota_gpus": _quota,
    "conditions": _conditions,
    "reserved": bool,
    "reservation": _reservation,
}
"""How `from_document` types a stored value, where that is not as is (so `changed` types
a change the same way)."""
_STORED_VALUE: Final[dict[str, Callable[[Any], Any]]] = {
    "deployment_config": _config,
    "outbox": _outbox,
    "planned_nodes": _nodes,
}


def secret_env_apart(config: dict[str, Any]) -> dict[str, Any]:
    """A stored deployment config whose secret-named `extra_env` entries (an older version
    stored them in clear) are named in `secret_env_names` only, never kept by value."""
    extra_env = config.get("extra_env")
    if not isinstance(extra_env, list):
        return config
    secret = [e for e in extra_env if is_secret_env_name(str(e.get("name", "")))]
    if not secret:
        return config
    names = set(config.get("secret_env_names") or []) | {str(e["name"]) for e in secret}
    kept = [e for e in extra_env if e not in secret]
    return {**config, "extra_env": kept, "secret_env_names": sorted(names)}
