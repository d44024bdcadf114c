"""A failure report that survives CPython 3.11's poisoned AST state.

On this machine's Python (3.11.7) an `ast.parse` that fails half-way leaves the
interpreter's AST recursion counter off, and every later `ast.parse` in the process
raises `SystemError: AST constructor recursion depth mismatch` (CPython gh-106905, fixed
in later releases). pytest parses source to draw a failure's traceback, so one such
failure turned into an INTERNALERROR that ended the whole run and hid which test failed.
Here that one error is caught and the failure reported without source: each frame's file,
line and function, then the exception, so the run goes on and says what failed."""

from collections.abc import Generator
from typing import Final

import pytest
from _pytest.reports import TestReport

AST_MISMATCH: Final = "AST constructor recursion depth mismatch"


def plain_failure(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    frames = [f"{entry.path}:{entry.lineno + 1}: in {entry.name}" for entry in excinfo.traceback]
    note = "(traceback drawn without source: CPython gh-106905 broke ast.parse in this process)"
    return "\n".join([*frames, excinfo.exconly(), note])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, TestReport, TestReport]:
    try:
        return (yield)
    except SystemError as exc:
        if AST_MISMATCH not in str(exc) or call.excinfo is None or call.when == "collect":
            raise
        return TestReport(
            item.nodeid,
            item.location,
            dict.fromkeys(item.keywords, 1),
            "failed",
            plain_failure(call.excinfo),
            call.when,
            duration=call.duration,
            start=call.start,
            stop=call.stop,
            user_properties=item.user_properties,
        )
