import pytest
from pydantic import TypeAdapter, ValidationError

from shared.commands import Command, CreateModel, DeleteModel
from shared.names import CREATE_SUBJECT, DELETE_SUBJECT
from tests.shared.examples import seed_create_command, seed_delete_command

COMMAND = TypeAdapter[CreateModel | DeleteModel](Command)


@pytest.mark.parametrize("command", [seed_create_command(), seed_delete_command()])
def test_every_command_round_trips_through_json(command: CreateModel | DeleteModel) -> None:
    assert COMMAND.validate_json(command.model_dump_json()) == command


def test_commands_name_their_subject_and_dedup_id() -> None:
    create, delete = seed_create_command(), seed_delete_command()

    assert (create.subject, create.msg_id) == (CREATE_SUBJECT, "mdl_abc123def456:create:1")
    assert (delete.subject, delete.msg_id) == (DELETE_SUBJECT, "mdl_abc123def456:delete:1")


def test_a_command_with_an_unknown_field_is_rejected() -> None:
    raw = seed_delete_command().model_dump(mode="json") | {"hf_token": "x"}

    with pytest.raises(ValidationError):
        COMMAND.validate_python(raw)


def test_a_command_for_a_name_that_is_not_a_dns_label_is_rejected() -> None:
    raw = seed_delete_command().model_dump(mode="json") | {"name": "../etc"}

    with pytest.raises(ValidationError):
        COMMAND.validate_python(raw)
