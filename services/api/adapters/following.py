"""A collection kept in memory by a change stream: the loop the registry cache runs.

Only for a collection written as often as it is read: on the embedded server every write
anywhere ends an idle stream's getMore, so a stream on a collection that rarely changes
(the quotas, tried and measured) is asked again after each of a create's dozen writes.

The stream is opened *before* the copy is loaded, so nothing written meanwhile is missed;
changes then arrive in write order, each with the document as it is now (`updateLookup`),
so the copy converges on the collection even when the load already saw a newer version
than an early change. Any stream error empties the copy (`ready` goes false, readers fall
back to MongoDB) and it is loaded again after `retry_seconds`.
"""

import abc
import asyncio
import logging
from collections.abc import Callable
from typing import Any

from shared.records import Document

log = logging.getLogger(__name__)


class Follower(abc.ABC):
    what: str
    """What the copy is called in the log."""

    def __init__(self, *, retry_seconds: float) -> None:
        self.retry_seconds = retry_seconds
        self.ready = False
        self._stopping = False

    async def run(self) -> None:
        while not self._stopping:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(f"{self.what} lost its change stream", extra={"error": repr(exc)})
            self._clear()
            if not self._stopping:
                await asyncio.sleep(self.retry_seconds)

    def stop(self) -> None:
        self._stopping = True

    @abc.abstractmethod
    async def _follow(self) -> None:
        """Open the stream, load the copy, set `ready`, then `_apply` the stream."""

    @abc.abstractmethod
    def _clear(self) -> None:
        """Forget everything and set `ready` false."""

    async def _apply(
        self,
        stream: Any,
        put: Callable[[Document], None],
        discard: Callable[[Any], None],
        collection: str,
    ) -> None:
        """Hand each change on until stopped: an insert, update or replace as the document
        is now (none when it was deleted since: its delete follows), a delete as its
        `_id`. A drop, rename or invalidation ends the stream with an error, so the copy
        is loaded again from nothing."""
        while not self._stopping:
            change = await stream.try_next()
            if change is None:
                continue
            operation = change["operationType"]
            if operation in ("insert", "update", "replace"):
                document = change.get("fullDocument")
                if document is not None:
                    put(document)
            elif operation == "delete":
                discard(change["documentKey"]["_id"])
            elif operation in ("drop", "dropDatabase", "rename", "invalidate"):
                raise RuntimeError(f"the {collection} collection saw {operation}")
