"""Model identifiers: the public id handed out at create, and the `{model_id}` path parameter."""

import re
import secrets
import string
from typing import Final

PUBLIC_ID: Final = re.compile(r"^mdl_[a-z0-9]{12}$")
_ALPHABET: Final = string.ascii_lowercase + string.digits
_MAX_INTEGER_ID: Final = 2**63 - 1


class PublicIdCollisionError(Exception):
    """The public id drawn for a new model is another model's already: draw again."""


def new_public_id() -> str:
    return "mdl_" + "".join(secrets.choice(_ALPHABET) for _ in range(12))


def parse_model_id(raw: str) -> int | str | None:
    """The integer id or the public id a path names, or None when it is neither."""
    if PUBLIC_ID.match(raw):
        return raw
    if raw.isascii() and raw.isdigit() and len(raw) <= 19:
        value = int(raw)
        if 1 <= value <= _MAX_INTEGER_ID:
            return value
    return None
