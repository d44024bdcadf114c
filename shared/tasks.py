"""Stopping a service's background tasks so that a stop always ends.

On Python 3.11 `asyncio.wait_for` returns the inner result, and drops the cancellation,
when the task is cancelled just as the awaited thing completes (fixed in 3.12, where
`wait_for` is built on `asyncio.timeout`). nats-py calls `wait_for` inside `fetch`,
`request` and `publish`, so a `while True` loop around one of them can miss a single
`cancel()` and go on for ever; a stop that then gathers its tasks without a bound hangs
with it. `cancel_and_wait` cancels again (once a task's own cleanup has had its time)
until every task has ended, and gives up on (and names) any that outlive the deadline, so
a stop is bounded whatever the loops do.
"""

import asyncio
import logging
from collections.abc import Iterable
from typing import Any, Final

log = logging.getLogger(__name__)
RECANCEL_AFTER: Final = 5.0
"""How long the tasks get after the first cancel before those still running are cancelled
again: a task's own cleanup after a cancel (a `finally` giving back a NATS turn, a
transaction's abort) has that long to finish before a second cancel could cut it short."""
RECANCEL_EVERY: Final = 1.0


async def cancel_and_wait(
    tasks: Iterable[asyncio.Future[Any]],
    *,
    deadline: float = 10.0,
    recancel_after: float = RECANCEL_AFTER,
) -> set[asyncio.Future[Any]]:
    """Cancel `tasks` and wait until they are done; after `recancel_after` seconds cancel
    again, every `RECANCEL_EVERY`, the ones that swallowed the cancellation. Returns the
    ones still running after `deadline` seconds (logged), which the caller leaves behind."""
    pending: set[asyncio.Future[Any]] = {t for t in tasks if not t.done()}
    loop = asyncio.get_running_loop()
    started = loop.time()
    give_up = started + deadline
    for task in pending:
        task.cancel()
    while pending:
        now = loop.time()
        if now >= give_up:
            break
        if now >= started + recancel_after:
            for task in pending:
                task.cancel()
            wait = min(RECANCEL_EVERY, give_up - now)
        else:
            wait = min(started + recancel_after, give_up) - now
        _, pending = await asyncio.wait(pending, timeout=wait)
    if pending:
        log.error(
            "tasks did not stop; left running",
            extra={"tasks": sorted(_name(task) for task in pending)},
        )
    return pending


def _name(task: asyncio.Future[Any]) -> str:
    return task.get_name() if isinstance(task, asyncio.Task) else repr(task)
