"""Stopping a service's background tasks so that a stop always ends.

On Python 3.11 `asyncio.wait_for` returns the inner result, and drops the cancellation,
when the task is cancelled just as the awaited thing completes (fixed in 3.12, where
`wait_for` is built on `asyncio.timeout`). nats-py calls `wait_for` inside `fetch`,
`request` and `publish`, so a `while True` loop around one of them can miss a single
`cancel()` and go on for ever; a stop that then gathers its tasks without a bound hangs
with it. `cancel_and_wait` cancels again until every task has ended, and gives up on
(and names) any that outlive the deadline, so a stop is bounded whatever the loops do.
"""

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)
RECANCEL_SECONDS = 0.1
"""How long a task has to end after a cancel before it is cancelled again."""


async def cancel_and_wait(
    tasks: Iterable[asyncio.Future[Any]],
    *,
    deadline: float = 10.0,
) -> set[asyncio.Future[Any]]:
    """Cancel `tasks` and wait until they are done, cancelling again every
    `RECANCEL_SECONDS` those that swallowed the cancellation. Returns the ones still
    running after `deadline` seconds (logged), which the caller leaves behind."""
    pending: set[asyncio.Future[Any]] = {t for t in tasks if not t.done()}
    loop = asyncio.get_running_loop()
    give_up = loop.time() + deadline
    while pending:
        for task in pending:
            task.cancel()
        left = give_up - loop.time()
        if left <= 0:
            break
        _, pending = await asyncio.wait(pending, timeout=min(RECANCEL_SECONDS, left))
    if pending:
        log.error(
            "tasks did not stop; left running",
            extra={"tasks": sorted(_name(task) for task in pending)},
        )
    return pending


def _name(task: asyncio.Future[Any]) -> str:
    return task.get_name() if isinstance(task, asyncio.Task) else repr(task)
