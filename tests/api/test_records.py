"""A registry document becomes a `ModelRecord` field for field, and leaves its secrets behind;
`ModelDetails` adds its deployment config without a secret value; a `StoredModel` keeps
what a write needs (secrets still encrypted), and a change to it is what a `$set` of the
same fields makes of the document."""

from dataclasses import asdict, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from services.api.documents import new_model_document
from services.api.records import ModelDetails, ModelRecord, Reserved, StoredModel
from services.api.requests import CreateModelRequest
from services.api.web.examples import SEED_CREATE_REQUEST
from shared.records import Document

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SECRETS = ("_id", "outbox", "hf_token_encrypted", "secret_env_encrypted")


def stored_model() -> Document:
    """A model as the registry stores it after a few events: every field a writer sets."""
    body: dict[str, Any] = {
        **SEED_CREATE_REQUEST,
        "tags": ["chat", "small"],
        "deployment_config": {
            **SEED_CREATE_REQUEST["deployment_config"],
            "extra_env": [{"name": "API_KEY", "value": "s3cret"}, {"name": "MODE", "value": "x"}],
        },
    }
    document = new_model_document(
        CreateModelRequest.model_validate(body),
        model_id=7,
        public_id="mdl_abc123def456",
        organization_id=123,
        hf_token_encrypted="gAAAA-token",
        secret_env_encrypted="gAAAA-env",
        planned_nodes=["node-a"],
        now=NOW,
        due_at=NOW,
    )
    condition = {
        "type": "Accepted",
        "status": "True",
        "reason": "Accepted",
        "message": "generation 2 accepted",
        "last_transition_time": NOW,
    }
    return document | {
        "_id": ObjectId(),
        "status": "running",
        "status_reason": "all replicas ready",
        "generation": 2,
        "observed_generation": 2,
        "replicas": 2,
        "ready_replicas": 1,
        "updated_replicas": 1,
        "conditions": [condition],
        "conditions_sequence": 40,
        "event_generation": 2,
        "event_sequence": 41,
        "repair_attempt": 1,
        "gpus_per_replica": 1,
        "quota_gpus": 2,
        "planned_nodes": ["node-a"],
        "reserved": True,
        "reservation": [{"node": "node-a", "gpus": 1}],
        "released_at": NOW,
        "unknown_field": "kept nowhere",
    }


def test_every_field_of_a_stored_model_reaches_the_record() -> None:
    document = stored_model()

    record = ModelRecord.from_document(document)

    as_stored = {
        **asdict(record),
        "tags": list(record.tags or ()),
        "conditions": list(record.conditions),
        "reservation": [{"node": r.node, "gpus": r.gpus} for r in record.reservation],
    }
    assert as_stored == {field.name: document[field.name] for field in fields(ModelRecord)}
    assert record.reservation == (Reserved(node="node-a", gpus=1),)


def test_the_details_hold_the_config_with_secret_env_named_only() -> None:
    document = stored_model()

    details = ModelDetails.from_document(document)

    assert details.model == ModelRecord.from_document(document)
    assert details.deployment_config == {
        **document["deployment_config"],
        "extra_env": [{"name": "MODE", "value": "x"}],
        "secret_env_names": ["API_KEY"],
    }
    assert "s3cret" not in repr(details)


def test_the_record_has_no_place_for_a_secret_nor_for_what_nothing_reads() -> None:
    names = {field.name for field in fields(ModelRecord)}

    assert not names & {*SECRETS, "deployment_config", "unknown_field"}
    assert not {field.name for field in fields(ModelDetails)} & set(SECRETS)


def test_fields_an_older_model_lacks_take_what_the_views_show_for_them() -> None:
    oldest: Document = {
        "id": 1,
        "public_id": "mdl_000000000001",
        "organization_id": 1,
        "name": "m1",
        "namespace": "jan-models",
        "status": "creating",
    }

    record = ModelRecord.from_document(oldest)

    assert record == ModelRecord(
        id=1,
        public_id="mdl_000000000001",
        organization_id=1,
        name="m1",
        namespace="jan-models",
        status="creating",
    )
    assert (record.generation, record.observed_generation, record.replicas) == (1, 0, 0)
    assert (record.tags, record.conditions, record.reservation) == (None, (), ())
    assert (record.quota_gpus, record.reserved, record.updated_replicas) == (0, False, None)
    assert ModelDetails.from_document(oldest).deployment_config == {}


def test_a_stored_model_keeps_what_a_write_needs_with_its_secrets_encrypted() -> None:
    document = stored_model()

    model = StoredModel.from_document(document)

    assert model.record == ModelRecord.from_document(document)
    assert (model.document_id, model.deployment_config, model.outbox) == (
        document["_id"],
        document["deployment_config"],
        document["outbox"],
    )
    assert (model.hf_token_encrypted, model.secret_env_encrypted) == ("gAAAA-token", "gAAAA-env")
    assert (model.planned_nodes, model.delete_attempt, model.restarted_at) == (("node-a",), 0, None)
    assert (model.event_generation, model.event_sequence, model.conditions_sequence) == (2, 41, 40)
    assert model.repair_attempt == 1
    assert model.details() == ModelDetails.from_document(document)
    for secret in ("s3cret", "gAAAA-token", "gAAAA-env"):
        assert secret not in repr(model)
        assert secret not in repr(model.details())


@pytest.mark.parametrize(
    "changes",
    [
        {"display_name": "Renamed", "tags": ["x"], "is_public": True, "updated_at": NOW},
        {"tags": None, "description": None, "model_type": "embedding"},
        {"gpus_per_replica": 2, "quota_gpus": 16, "requirements": {"gpu": {"min_gpus": 2}}},
        {"gpus_per_replica": None, "quota_gpus": None},
        {"deployment_config": {"image": "other"}, "huggingface_id": "org/other"},
        {"hf_token_encrypted": None, "secret_env_encrypted": "gAAAA-new"},
        {"restarted_at": NOW, "delete_attempt": 2, "outbox": None},
        {"generation": 3, "status": "updating", "status_reason": None},
        {"planned_nodes": ["node-b"], "reservation": [{"node": "node-b", "gpus": 2}]},
        {"reserved": False, "released_at": NOW + timedelta(seconds=60)},
        {"conditions": [], "replicas": 0, "ready_replicas": 0, "observed_generation": 3},
        {"event_generation": 3, "event_sequence": 57, "conditions_sequence": 57},
        {"repair_attempt": 2, "updated_replicas": 0},
    ],
)
def test_a_change_makes_what_the_same_set_makes_of_the_document(changes: Document) -> None:
    document = stored_model()

    changed = StoredModel.from_document(document).changed(changes)

    assert changed == StoredModel.from_document(document | changes)


def test_a_change_to_a_field_no_model_holds_is_refused() -> None:
    with pytest.raises(KeyError, match="unknown_field"):
        StoredModel.from_document(stored_model()).changed({"unknown_field": 1})
