"""Conditional GETs (RFC 9110 13.1.2): `/status`, `/all` and the list carry an `ETag`, and
a request whose `If-None-Match` names it gets a 304 without a body.

A model's details keep `ETag: "<generation>"` for `If-Match` on a PATCH instead: their
status changes within a generation, so that tag cannot say "unchanged".
"""

from typing import Annotated, Final

from fastapi import Header
from starlette.responses import Response

IfNoneMatchHeader = Annotated[
    str | None,
    Header(description="An `ETag` this route gave you: 304 while the body is still that one"),
]
JSON: Final = "application/json"


def _opaque(tag: str) -> str:
    """Weak comparison, as `If-None-Match` asks: `W/"x"` and `"x"` are the same tag."""
    return tag.strip().removeprefix("W/")


def is_current(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    if if_none_match.strip() == "*":
        return True
    mine = _opaque(etag)
    return any(_opaque(tag) == mine for tag in if_none_match.split(","))


def conditional(body: bytes, *, etag: str, if_none_match: str | None) -> Response:
    if is_current(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, media_type=JSON, headers={"ETag": etag})
