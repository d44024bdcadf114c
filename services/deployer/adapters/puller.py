"""The fetch loop of the `deployer` pull consumer.

FastStream 0.7.8's pull subscriber catches `nats.errors.TimeoutError` around `fetch`,
but nats-py 2.16 raises a plain `asyncio.TimeoutError` from a batch fetch whose time ran
out; the fetch task then dies and is restarted by FastStream's supervisor, leaving pull
requests behind that swallow commands for a while. This loop catches the builtin
`TimeoutError` (both are subclasses of it) and fetches with a long poll: a fetch
returns as soon as at least one message is there, so an idle deployer makes one request
per `idle_timeout` and a busy one gets whole batches.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError
from nats.js import JetStreamContext
from nats.js.errors import ServiceUnavailableError

from shared.names import COMMANDS_STREAM, DEPLOYER_DURABLE

log = logging.getLogger(__name__)


Accept = Callable[[list[Msg]], Awaitable[None]]


class CommandPuller:
    def __init__(self, js: JetStreamContext, *, batch_size: int, idle_timeout: float = 1.0) -> None:
        self._js = js
        self._batch_size = batch_size
        self._idle_timeout = idle_timeout
        self._task: asyncio.Task[None] | None = None

    def start(self, accept: Accept) -> None:
        """Fetch until `stop`, handing each batch to `accept` (the runtime's, which knows
        whether it still takes commands)."""
        self._task = asyncio.create_task(self._run(accept), name="deployer-fetch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self, accept: Accept) -> None:
        subscription = await self._js.pull_subscribe_bind(
            durable=DEPLOYER_DURABLE, stream=COMMANDS_STREAM
        )
        try:
            while True:
                try:
                    messages = await subscription.fetch(
                        self._batch_size, timeout=self._idle_timeout
                    )
                except TimeoutError:
                    continue
                except (ConnectionClosedError, ServiceUnavailableError) as exc:
                    log.warning("fetch failed; retrying", extra={"error": repr(exc)})
                    await asyncio.sleep(self._idle_timeout)
                    continue
                except Exception:
                    log.exception("fetch failed; retrying")
                    await asyncio.sleep(self._idle_timeout)
                    continue
                await accept(messages)
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
