"""A stop ends even when a loop drops a cancellation (Python 3.11's `asyncio.wait_for`)."""

import asyncio
import contextlib
import logging
import sys

import pytest

from shared.tasks import cancel_and_wait


def tick_loop(wake: asyncio.Event) -> asyncio.Task[None]:
    """The inventory's lifecycle loop as it was: woken by an event, or once a second."""

    async def loop() -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), 5)
            wake.clear()

    return asyncio.create_task(loop(), name="tick-loop")


async def test_a_cancel_landing_as_a_wake_arrives_is_retried_until_the_loop_ends() -> None:
    for spins in range(3):
        wake = asyncio.Event()
        task = tick_loop(wake)
        await asyncio.sleep(0.01)
        wake.set()
        for _ in range(spins):
            await asyncio.sleep(0)

        left = await cancel_and_wait([task], deadline=3, recancel_after=0.1)

        assert left == set()
        assert task.cancelled()


async def test_the_race_is_real_so_a_single_cancel_would_hang() -> None:
    """What the helper is for: a cancel that lands while the wake is in flight is lost on
    this Python, and the loop runs on (3.12 fixed `wait_for`)."""
    wake = asyncio.Event()
    task = tick_loop(wake)
    await asyncio.sleep(0.01)
    wake.set()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=0.3)
    try:
        assert bool(done) is (sys.version_info >= (3, 12))
    finally:
        await cancel_and_wait([task], recancel_after=0)


async def test_a_task_that_will_not_end_is_named_and_left_after_the_deadline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = asyncio.Event()

    async def stubborn() -> None:
        while not stop.is_set():
            try:
                await asyncio.sleep(1)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="shared.tasks"):
        left = await cancel_and_wait([task], deadline=0.35)

    assert left == {task}
    assert [r.__dict__["tasks"] for r in caplog.records] == [["stubborn"]]
    stop.set()
    await asyncio.wait({task}, timeout=2)
    assert task.done()


async def test_done_and_ordinary_tasks_end_at_once() -> None:
    finished = asyncio.create_task(asyncio.sleep(0))
    await finished
    sleeping = asyncio.create_task(asyncio.sleep(60))

    assert await cancel_and_wait([finished, sleeping]) == set()
    assert sleeping.cancelled()
    assert await cancel_and_wait([]) == set()


async def test_a_task_s_cleanup_after_the_cancel_is_not_cut_short() -> None:
    """What a task does once cancelled (give back a turn, abort a transaction) finishes:
    the second cancel comes only after `recancel_after`."""
    cleaned: list[str] = []

    async def holds_a_turn() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(0.3)  # a NATS round trip on a slow day
            cleaned.append("given back")

    task = asyncio.create_task(holds_a_turn())
    await asyncio.sleep(0)

    assert await cancel_and_wait([task], recancel_after=2) == set()
    assert cleaned == ["given back"]
