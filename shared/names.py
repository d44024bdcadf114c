"""Stream, subject, durable and collection names; the contract every service reads.

Every other module takes these names from here; nothing re-declares a subject string.
"""

from enum import StrEnum
from typing import Final

COMMANDS_STREAM: Final = "MODEL_COMMANDS"
EVENTS_STREAM: Final = "MODEL_EVENTS"

CREATE_SUBJECT: Final = "model.create"
DELETE_SUBJECT: Final = "model.delete"
COMMAND_SUBJECTS: Final = (CREATE_SUBJECT, DELETE_SUBJECT)

EVENTS_PREFIX: Final = "model.events"
EVENTS_WILDCARD: Final = f"{EVENTS_PREFIX}.>"

DEPLOYER_DURABLE: Final = "deployer"
API_STATUS_DURABLE: Final = "api-status"
INVENTORY_DURABLE: Final = "inventory"

STATUS_QUERY_SUBJECT: Final = "inventory.query.status"
MODELS_QUERY_SUBJECT: Final = "inventory.query.models"
CAPACITY_QUERY_SUBJECT: Final = "inventory.query.capacity"


def replica_models_subject(replica: str) -> str:
    """Where one inventory replica alone answers models queries: a list's pages after the
    first are asked there, since each replica numbers its own list versions."""
    return f"{MODELS_QUERY_SUBJECT}.{replica}"


DEFAULT_DATABASE: Final = "jan_models"
DEFAULT_NAMESPACE: Final = "jan-models"
FIELD_MANAGER: Final = "jan-models"
HANDOVER_MANAGER: Final = "jan-models-handover"
"""Co-owns a Deployment's `spec.replicas` while the deployer hands the count to an
autoscaler, so dropping the field from the applied configuration keeps its value."""


class EventType(StrEnum):
    """The last token of an event subject; `ai.jan.model.<type>` is its CloudEvents type."""

    ACCEPTED = "accepted"
    APPLIED = "applied"
    RUNNING = "running"
    DEGRADED = "degraded"
    FAILED = "failed"
    DELETING = "deleting"
    DELETED = "deleted"
    SCALED = "scaled"
    DRIFTED = "drifted"
    REPAIRED = "repaired"
    UPDATED = "updated"

    @property
    def cloudevent_type(self) -> str:
        return f"ai.jan.model.{self.value}"


def event_subject(organization_id: int, name: str, event_type: EventType) -> str:
    """`model.events.<organization_id>.<model_name>.<type>`; names are DNS labels, never dots."""
    return f"{EVENTS_PREFIX}.{organization_id}.{name}.{event_type.value}"


class Collection(StrEnum):
    MODELS = "models"
    COUNTERS = "counters"
    API_KEYS = "api_keys"
    INVENTORY_NODES = "inventory_nodes"
    INVENTORY_PODS = "inventory_pods"
    INVENTORY_CRDS = "inventory_crds"
    INVENTORY_STORAGE_CLASSES = "inventory_storage_classes"
    INVENTORY_WORKLOADS = "inventory_workloads"
    INVENTORY_AUTOSCALERS = "inventory_autoscalers"
    INVENTORY_SYNC = "inventory_sync"
    INVENTORY_MODELS = "inventory_models"  # per-model lifecycle memory of the inventory
    TRANSACTION_SESSIONS = "transaction_sessions"  # shared/transactions.py
    ORGANIZATION_QUOTAS = "organization_quotas"  # api: GPU limit per organization
    ADMISSIONS = "admissions"  # api: the one document every GPU admission writes
