"""The fetch loop of the `deployer` pull consumer.

Not a FastStream `PullSub` subscriber, for two reasons (FastStream 0.7.8, nats-py 2.16):
- FastStream's pull loop suppresses `nats.errors.TimeoutError` around `fetch`, but
  nats-py's batch fetch raises the builtin `TimeoutError` when its no-wait probe is
  answered after the deadline; the fetch task then dies, FastStream's supervisor logs
  the error and starts another. `scripts/faststream_pull_timeout.py` shows it against a
  real nats-server; run it again after an upgrade. With a 5 ms fetch timeout on a
  loaded two-core machine, 3 to 80 of 1,000 plain fetches raised the builtin error and
  the subscriber's task was restarted 3 to 118 times in 5 to 10 idle seconds (messages
  published afterwards still arrived, in 76 ms at the slowest); with the deployer's 1 s
  timeout it takes a probe answered more than a second late (none in a short run).
- FastStream handles a fetched batch in a task group and fetches again only once all of
  it is handled, so one slow apply would hold up every other model's commands (with
  `max_workers`, a shared pool takes the messages, in no order per model); here a batch
  goes to the dispatcher's per-model queues and fetching goes on, up to the consumer's
  `max_ack_pending`.
This loop catches the builtin `TimeoutError` (nats-py's is a subclass of it) and fetches
with a long poll: a fetch returns as soon as at least one message is there, so an idle
deployer makes one request per `idle_timeout` and a busy one gets whole batches.
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
from shared.tasks import cancel_and_wait

log = logging.getLogger(__name__)


Accept = Callable[[list[Msg]], Awaitable[None]]


class CommandPuller:
    def __init__(self, js: JetStreamContext, *, batch_size: int, idle_timeout: float = 1.0) -> None:
        self._js = js
        self._batch_size = batch_size
        self._idle_timeout = idle_timeout
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self, accept: Accept) -> None:
        """Fetch until `stop`, handing each batch to `accept` (the runtime's, which knows
        whether it still takes commands)."""
        self._stopping = False
        self._task = asyncio.create_task(self._run(accept), name="deployer-fetch")

    async def stop(self) -> None:
        """Cancel the fetch; the flag ends the loop should the cancel be swallowed (a
        cancel landing as a fetched message arrives can be, by `asyncio.wait_for` in
        nats-py on Python 3.11): then within one `idle_timeout`."""
        self._stopping = True
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None

    async def _run(self, accept: Accept) -> None:
        subscription = await self._js.pull_subscribe_bind(
            durable=DEPLOYER_DURABLE, stream=COMMANDS_STREAM
        )
        try:
            while not self._stopping:
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
