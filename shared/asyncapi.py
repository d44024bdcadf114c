"""The event contract as an AsyncAPI 3.0 document, generated from the message models.

Commands, events and inventory queries are pydantic models in `shared`; this module turns
them, with the subject and stream names of `shared.names`, into one document that
subscribers and code generators can read. The repository keeps the rendered document at
`docs/asyncapi.yaml`; a test fails when it differs from what this module produces, so the
document cannot drift from the code.
"""

import copy
from importlib.metadata import version as installed_version
from typing import Any, Final

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.commands import CreateModel, DeleteModel
from shared.events import EVENT_CLASSES
from shared.messaging import MSG_ID_HEADER
from shared.names import (
    API_STATUS_DURABLE,
    CAPACITY_QUERY_SUBJECT,
    COMMANDS_STREAM,
    CREATE_SUBJECT,
    DELETE_SUBJECT,
    DEPLOYER_DURABLE,
    EVENTS_PREFIX,
    EVENTS_STREAM,
    INVENTORY_DURABLE,
    MODELS_QUERY_SUBJECT,
    STATUS_QUERY_SUBJECT,
    EventType,
    replica_models_subject,
)
from shared.queries import (
    CapacityQuery,
    CapacityReply,
    ModelsQuery,
    ModelsReply,
    QueryError,
    StatusQuery,
    StatusReply,
    Unchanged,
)

ASYNCAPI_VERSION: Final = "3.0.0"
_SCHEMAS: Final = "#/components/schemas/{model}"
_CONTENT_TYPE: Final = "application/json"


def _ref(section: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/{section}/{name}"}


def _message(model: type[BaseModel], *, summary: str, headers: bool) -> dict[str, Any]:
    message: dict[str, Any] = {
        "name": model.__name__,
        "title": model.__name__,
        "summary": summary,
        "contentType": _CONTENT_TYPE,
        "payload": {"$ref": _SCHEMAS.format(model=model.__name__)},
    }
    if headers:
        message["headers"] = {
            "type": "object",
            "properties": {
                MSG_ID_HEADER: {
                    "type": "string",
                    "description": "JetStream de-duplication id; a re-publish with it is dropped",
                }
            },
            "required": [MSG_ID_HEADER],
        }
    return message


def _summary(model: type[BaseModel]) -> str:
    doc = (model.__doc__ or model.__name__).strip()
    return doc.splitlines()[0]


_EVENT_SUMMARIES: Final[dict[EventType, str]] = {
    EventType.ACCEPTED: "The api accepted a create; its command is queued",
    EventType.APPLIED: "The deployer applied every object of a generation",
    EventType.RUNNING: "At least one replica is ready",
    EventType.DEGRADED: "Was running, now has no ready replica or is crash-looping",
    EventType.FAILED: "The command, the apply, the delete or the running pods failed",
    EventType.DELETING: "The api accepted a delete; its command is queued",
    EventType.DELETED: "Every object of the model is gone from the cluster",
    EventType.SCALED: "The number of desired replicas changed",
    EventType.DRIFTED: "A managed object vanished or changed by hand",
    EventType.REPAIRED: "The deployer re-applied the model's desired state after drift",
    EventType.UPDATED: "The api accepted a new generation of a running model (a change or a restart)",
}

# (channel id, subject, request model, reply models)
_QUERIES: Final[tuple[tuple[str, str, type[BaseModel], tuple[type[BaseModel], ...]], ...]] = (
    ("inventoryStatus", STATUS_QUERY_SUBJECT, StatusQuery, (StatusReply, Unchanged, QueryError)),
    ("inventoryModels", MODELS_QUERY_SUBJECT, ModelsQuery, (ModelsReply, Unchanged, QueryError)),
    ("inventoryCapacity", CAPACITY_QUERY_SUBJECT, CapacityQuery, (CapacityReply, QueryError)),
)


def _schemas(models: list[type[BaseModel]]) -> dict[str, Any]:
    _, definitions = models_json_schema(
        [(model, "validation") for model in models], ref_template=_SCHEMAS
    )
    schemas: dict[str, Any] = definitions.get("$defs", {})
    return dict(sorted(schemas.items()))


def build_document(*, version: str | None = None) -> dict[str, Any]:
    """The whole AsyncAPI 3.0 document for jan-models' NATS contract.

    `version` defaults to the installed package's, the one the api's OpenAPI shows too.
    """
    commands: tuple[type[BaseModel], ...] = (CreateModel, DeleteModel)
    query_models = [model for _, _, request, replies in _QUERIES for model in (request, *replies)]
    schemas = _schemas([*commands, *EVENT_CLASSES, *dict.fromkeys(query_models)])

    messages: dict[str, Any] = {}
    for command in commands:
        messages[command.__name__] = _message(command, summary=_summary(command), headers=True)
    for event in EVENT_CLASSES:
        messages[event.__name__] = _message(
            event, summary=_EVENT_SUMMARIES[event.event_type], headers=True
        )
    for model in dict.fromkeys(query_models):
        messages[model.__name__] = _message(model, summary=_summary(model), headers=False)

    channels: dict[str, Any] = {
        "modelCreate": {
            "address": CREATE_SUBJECT,
            "description": f"Stream {COMMANDS_STREAM} (work queue). Apply every object of a model.",
            "messages": {"CreateModel": _ref("components/messages", "CreateModel")},
        },
        "modelDelete": {
            "address": DELETE_SUBJECT,
            "description": f"Stream {COMMANDS_STREAM} (work queue). Remove every labelled object.",
            "messages": {"DeleteModel": _ref("components/messages", "DeleteModel")},
        },
        "modelEvents": {
            "address": f"{EVENTS_PREFIX}.{{organization_id}}.{{model_name}}.{{type}}",
            "description": (
                f"Stream {EVENTS_STREAM} (limits, 7 days). CloudEvents 1.0 structured JSON; "
                f"filter with wildcards, e.g. `{EVENTS_PREFIX}.123.>` for one organization."
            ),
            "parameters": {
                "organization_id": {"description": "The owning organization's id"},
                "model_name": {"description": "The model's name (a DNS-1035 label)"},
                "type": {
                    "description": "The event type; `ai.jan.model.<type>` in the CloudEvent",
                    "enum": [event_type.value for event_type in EventType],
                },
            },
            "messages": {
                event.__name__: _ref("components/messages", event.__name__)
                for event in EVENT_CLASSES
            },
        },
    }
    for channel_id, subject, request, replies in _QUERIES:
        channels[channel_id] = {
            "address": subject,
            "description": "Core NATS request-reply; an error is an explicit reply.",
            "messages": {request.__name__: _ref("components/messages", request.__name__)},
        }
        channels[f"{channel_id}Reply"] = {
            "address": None,
            "description": "The requester's inbox (the request's reply subject).",
            "messages": {
                reply.__name__: _ref("components/messages", reply.__name__) for reply in replies
            },
        }

    operations: dict[str, Any] = {
        "sendCreateModel": _operation("send", "modelCreate", ["CreateModel"], "api (outbox relay)"),
        "sendDeleteModel": _operation("send", "modelDelete", ["DeleteModel"], "api (outbox relay)"),
        "receiveCreateModel": _operation(
            "receive", "modelCreate", ["CreateModel"], f"deployer (durable `{DEPLOYER_DURABLE}`)"
        ),
        "receiveDeleteModel": _operation(
            "receive", "modelDelete", ["DeleteModel"], f"deployer (durable `{DEPLOYER_DURABLE}`)"
        ),
        "sendModelEvent": _operation(
            "send",
            "modelEvents",
            [event.__name__ for event in EVENT_CLASSES],
            "deployer, inventory and api",
        ),
        "receiveModelEvent": _operation(
            "receive",
            "modelEvents",
            [event.__name__ for event in EVENT_CLASSES],
            f"api (durable `{API_STATUS_DURABLE}`), inventory (durable `{INVENTORY_DURABLE}`), "
            "and any external subscriber",
        ),
    }
    for channel_id, _, request, replies in _QUERIES:
        name = request.__name__
        operation = _operation("send", channel_id, [name], "api asks, the inventory answers")
        operation["reply"] = {
            "channel": _ref("channels", f"{channel_id}Reply"),
            "messages": [
                _ref(f"channels/{channel_id}Reply/messages", reply.__name__) for reply in replies
            ],
        }
        operations[f"ask{name.removesuffix('Query')}"] = operation
    channels["inventoryModelsPages"] = {
        "address": replica_models_subject("{replica}"),
        "description": (
            "Core NATS request-reply, one inventory replica alone: the pages after a list's "
            "first, asked where its `pages_subject` says."
        ),
        "parameters": {"replica": {"description": "The replica that answered the first page"}},
        "messages": {"ModelsQuery": _ref("components/messages", "ModelsQuery")},
    }
    pages = _operation("send", "inventoryModelsPages", ["ModelsQuery"], "api asks, one replica")
    pages["reply"] = copy.deepcopy(operations["askModels"]["reply"])  # no YAML anchor
    operations["askModelsPage"] = pages

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "jan-models events, commands and queries",
            "version": version or installed_version("jan-models"),
            "description": (
                "The NATS contract of jan-models: commands on JetStream stream "
                f"{COMMANDS_STREAM}, CloudEvents on {EVENTS_STREAM}, and the inventory's "
                "request-reply queries. Secrets never travel in clear."
            ),
        },
        "defaultContentType": _CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def _operation(action: str, channel: str, messages: list[str], who: str) -> dict[str, Any]:
    return {
        "action": action,
        "channel": _ref("channels", channel),
        "summary": who,
        "messages": [_ref(f"channels/{channel}/messages", message) for message in messages],
    }


def render_yaml(document: dict[str, Any]) -> str:
    """The document as the repository keeps it (`docs/asyncapi.yaml`)."""
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
