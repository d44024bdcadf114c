"""The committed AsyncAPI document is what the code generates, and is valid AsyncAPI 3.0."""

import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml
from pydantic import BaseModel

from shared.asyncapi import build_document, render_yaml
from shared.commands import CreateModel, DeleteModel
from shared.events import EVENT_CLASSES
from shared.names import EventType

ROOT = Path(__file__).parents[2]
COMMITTED = ROOT / "docs" / "asyncapi.yaml"
# The official AsyncAPI 3.0.0 JSON Schema, from the @asyncapi/specs package (Apache-2.0).
SPEC_SCHEMA = Path(__file__).parents[1] / "data" / "asyncapi-3.0.0.schema.json"


def _resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_committed_document_equals_what_the_code_generates() -> None:
    assert COMMITTED.read_text() == render_yaml(build_document()), (
        "docs/asyncapi.yaml is stale: run `.venv/bin/jan-models asyncapi -o docs/asyncapi.yaml`"
    )


def test_document_is_valid_asyncapi_3() -> None:
    validator = jsonschema_rs.validator_for(json.loads(SPEC_SCHEMA.read_text()))
    document = yaml.safe_load(COMMITTED.read_text())

    errors = [
        f"{list(e.instance_path)}: {e.message[:200]}" for e in validator.iter_errors(document)
    ]

    assert errors == []


def test_validator_rejects_a_broken_document() -> None:
    validator = jsonschema_rs.validator_for(json.loads(SPEC_SCHEMA.read_text()))
    document = build_document()
    document["operations"]["sendCreateModel"]["action"] = "publish"  # AsyncAPI 2's word

    assert not validator.is_valid(document)


def test_every_reference_resolves() -> None:
    document = build_document()

    unresolved = []
    for ref in _refs(document):
        try:
            _resolve(document, ref)
        except KeyError:
            unresolved.append(ref)

    assert unresolved == []


def test_every_command_and_event_type_has_its_message_and_schema() -> None:
    document = build_document()
    messages = document["components"]["messages"]
    schemas = document["components"]["schemas"]

    models: tuple[type[BaseModel], ...] = (CreateModel, DeleteModel, *EVENT_CLASSES)
    for model in models:
        assert model.__name__ in messages
        assert model.__name__ in schemas
    event_types = {
        schemas[event.__name__]["properties"]["type"]["const"] for event in EVENT_CLASSES
    }
    assert event_types == {event_type.cloudevent_type for event_type in EventType}
    assert document["channels"]["modelEvents"]["parameters"]["type"]["enum"] == [
        event_type.value for event_type in EventType
    ]


def test_no_schema_carries_a_token_in_clear() -> None:
    schemas = build_document()["components"]["schemas"]
    properties = {name for schema in schemas.values() for name in schema.get("properties", {})}

    assert "hf_token_encrypted" in schemas["CreateModel"]["properties"]
    assert "hugging_face_token" not in properties
