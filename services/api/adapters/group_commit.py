"""Group commit: writes that concurrent requests ask for go to MongoDB as one command.

A write command costs the embedded MongoDB-compatible server a commit (an fsync) and a
round trip whatever it holds; a document inside a bulk command costs far less. So at
most one batch is in flight: the first caller's write leaves on the next loop tick, and
whatever arrives while a batch is being written goes out together in the next one. A
lone write waits for nothing; under load a batch holds everything that arrived during
the previous commit, and the rate grows with the load instead of queueing behind it.

Each caller gets its own outcome (a result, or the exception for its item alone), and
only once the command that carried its item has been acknowledged.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final, Generic, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")
MAX_BATCH: Final = 500


class GroupCommit(Generic[Item, Result]):
    def __init__(
        self,
        write: Callable[[list[Item]], Awaitable[list[Result | BaseException]]],
        *,
        max_batch: int = MAX_BATCH,
        settle: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """`write(items)` returns one outcome per item, in order; raising fails them all.
        `settle()`, when given, runs after each batch's callers have their outcomes and
        before the next batch is written: follow-up work of the batch that no caller
        waits for, still in the batch's turn."""
        self._write = write
        self._settle = settle
        self._max_batch = max_batch
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0
        """How many commands went out (for tests and profiles)."""

    @property
    def idle(self) -> bool:
        """No batch is being written or settled, and none waits."""
        return self._writer is None

    async def submit(self, item: Item) -> Result:
        """The item's outcome once its batch is acknowledged. A caller cancelled meanwhile
        does not take its item back: it may be written anyway, as a lone write may be."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._writer is None:
            # A task of its own: a cancelled request must not cancel the others' write.
            self._writer = asyncio.create_task(self._drain(), name="group-commit")
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                await self._write_batch(batch)
                if self._settle is not None:
                    try:
                        await self._settle()
                    except Exception:  # the next batch's callers are owed their write
                        log.exception("group commit's follow-up failed")
        finally:
            self._writer = None
            for _, future in self._pending:  # only when cancelled (shutdown)
                future.cancel()
            self._pending.clear()

    async def _write_batch(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        self.batches += 1
        try:
            outcomes = await self._write([item for item, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:
            outcomes = [exc] * len(batch)
        if len(outcomes) != len(batch):
            error = RuntimeError(f"{len(outcomes)} outcomes for {len(batch)} writes")
            log.error("group commit got the wrong number of outcomes")
            outcomes = [error] * len(batch)
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # its caller was cancelled
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
