"""Reading a command off the wire, and making the most of one that cannot be read.

A malformed command is never retried (it would fail the same way forever); if its
identity can still be read, the api gets a `failed` event (stage `command`) so the model
does not stay `creating` for ever.
"""

import json
from dataclasses import dataclass

from pydantic import TypeAdapter, ValidationError

from shared.commands import Command, CreateModel, DeleteModel, ModelRef

_COMMAND: TypeAdapter[CreateModel | DeleteModel] = TypeAdapter(Command)
_IDENTITY_FIELDS = tuple(ModelRef.model_fields)
_MAX_PROBLEM_LENGTH = 1000


@dataclass(frozen=True, slots=True)
class MalformedCommand:
    problem: str
    ref: ModelRef | None
    """Who it was about, when that much could be read."""

    @property
    def key(self) -> str | None:
        return self.ref.public_id if self.ref else None


def read_command(data: bytes) -> CreateModel | DeleteModel | MalformedCommand:
    try:
        return _COMMAND.validate_json(data)
    except ValidationError as exc:
        return MalformedCommand(problem=_describe(exc), ref=_identity(data))


def _describe(exc: ValidationError) -> str:
    """Where and what; the raw input is left out (validators may still quote a bad value)."""
    parts = [
        f"{'.'.join(str(part) for part in error['loc']) or '<root>'}: {error['msg']}"
        for error in exc.errors(include_input=False, include_url=False)
    ]
    return "; ".join(parts)[:_MAX_PROBLEM_LENGTH]


def _identity(data: bytes) -> ModelRef | None:
    try:
        raw = json.loads(data)
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    try:
        return ModelRef.model_validate({k: raw[k] for k in _IDENTITY_FIELDS if k in raw})
    except ValidationError:
        return None
