"""Waiting on a condition with a deadline: the one way tests wait, never a bare sleep."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[bool]],
    *,
    within: float = 10.0,
    every: float = 0.05,
    tolerate: tuple[type[Exception], ...] = (),
) -> None:
    """Until `check()` holds; `tolerate` names errors that only mean "not yet" (a part restarting)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if await check():
                return
        except tolerate:
            pass
        await asyncio.sleep(every)
    raise AssertionError(f"condition not met within {within}s")


async def poll(
    probe: Callable[[], Awaitable[T]], *, until: Callable[[T], bool], timeout: float = 15.0
) -> T:
    """Call `probe` until `until(value)` holds; fail with the last value at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        await asyncio.sleep(0.02)


async def throughout(check: Callable[[], Awaitable[None]], *, seconds: float) -> None:
    """`check()` (which asserts) keeps holding for `seconds`: nothing happens that should not."""
    deadline = time.monotonic() + seconds
    while True:
        await check()
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.1)
