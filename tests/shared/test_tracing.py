"""W3C trace context: what counts as a caller's `traceparent`, and log lines naming it."""

import logging

import pytest

from shared import tracing

CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_child_keeps_the_callers_trace_and_flags_with_a_span_of_its_own() -> None:
    child = tracing.child_of(CALLER)
    assert child.split("-")[:2] == CALLER.split("-")[:2]
    assert child.split("-")[3] == "01"
    assert child.split("-")[2] != CALLER.split("-")[2]
    assert tracing.valid(child) == child


@pytest.mark.parametrize(
    "given",
    [
        None,
        "",
        "garbage",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # unknown version
        "00-" + "0" * 32 + "-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0" * 16 + "-01",
        CALLER.upper().replace("00-", "0X-", 1),
    ],
)
def test_anything_else_starts_a_new_trace(given: str | None) -> None:
    assert tracing.valid(given) is None
    child = tracing.child_of(given)
    assert tracing.valid(child) == child


def test_log_records_name_the_current_trace() -> None:
    record = logging.LogRecord("x", logging.INFO, "", 0, "message", (), None)
    token = tracing.current.set(CALLER)
    try:
        tracing.TraceField().filter(record)
    finally:
        tracing.current.reset(token)
    assert getattr(record, "trace_id", None) == "4bf92f3577b34da6a3ce929d0e0e4736"
    untraced = logging.LogRecord("x", logging.INFO, "", 0, "message", (), None)
    tracing.TraceField().filter(untraced)
    assert not hasattr(untraced, "trace_id")
