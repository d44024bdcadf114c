"""W3C trace context (`traceparent`) carried from a request into commands, events and logs.

The api takes a caller's `traceparent` (or starts a trace when there is none or it is
malformed) and holds it in `current` while it serves the request; what the request
writes to the outbox carries it, the deployer holds a command's while it carries the
command out, and its events carry it on as the CloudEvents distributed-tracing extension
attribute `traceparent`. Every log line written meanwhile names `trace_id`.
"""

import logging
import re
import secrets
from contextvars import ContextVar
from typing import Final

TRACEPARENT_PATTERN: Final = r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
_TRACEPARENT: Final = re.compile(TRACEPARENT_PATTERN)
_ZERO_TRACE: Final = "0" * 32
_ZERO_PARENT: Final = "0" * 16

current: ContextVar[str | None] = ContextVar("traceparent", default=None)


def valid(value: str | None) -> str | None:
    """A `traceparent` of version 00 with non-zero ids, lower-cased; None otherwise."""
    if value is None:
        return None
    value = value.strip().lower()
    if not _TRACEPARENT.fullmatch(value):
        return None
    _, trace_id, parent_id, _ = value.split("-")
    return value if trace_id != _ZERO_TRACE and parent_id != _ZERO_PARENT else None


def child_of(traceparent: str | None) -> str:
    """This service's own span in the caller's trace (a new trace without one)."""
    parent = valid(traceparent)
    trace_id, flags = (parent.split("-")[1], parent.split("-")[3]) if parent else (None, "01")
    return f"00-{trace_id or secrets.token_hex(16)}-{secrets.token_hex(8)}-{flags}"


def trace_id(traceparent: str | None) -> str | None:
    return traceparent.split("-")[1] if traceparent else None


class TraceField(logging.Filter):
    """`trace_id` on every record written while a trace is current."""

    def filter(self, record: logging.LogRecord) -> bool:
        traced = trace_id(current.get())
        if traced is not None:
            record.trace_id = traced
        return True
