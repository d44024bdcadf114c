"""The deployer's lifecycle: its parts opened before the broker starts, commands fetched
once it has, and everything settled and closed around its stop.

The parts themselves (the processor and its collaborators, the dispatcher that orders
commands per model, the fetch loop of the `deployer` pull consumer) are built by
`services.deployer.app.assemble` on the broker's NATS connection, the one `/healthz`
pings; the runtime decides when they run and what happens to a command fetched while it
stops.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from services.deployer import metrics
from services.deployer.adapters.jetstream import NatsDelivery, command_backlog
from services.deployer.adapters.kubernetes import KubernetesCluster
from services.deployer.adapters.puller import CommandPuller
from services.deployer.inbox import MalformedCommand, read_command
from services.deployer.ordering import KeyedDispatcher
from services.deployer.settings import DeployerSettings

log = logging.getLogger(__name__)

DRAIN_SECONDS: Final = 10.0


@dataclass(frozen=True, slots=True)
class DeployerParts:
    """What the deployer works with, wired by `services.deployer.app.assemble`."""

    nats: Client
    """The broker's connection: commands are fetched, events published and turns kept
    over it, and `/healthz` pings it. The broker drains it when it stops."""
    cluster: KubernetesCluster
    dispatcher: KeyedDispatcher[object]
    puller: CommandPuller


class DeployerRuntime:
    def __init__(
        self, settings: DeployerSettings, *, assemble: Callable[[], Awaitable[DeployerParts]]
    ) -> None:
        self.settings = settings
        self._assemble = assemble
        self._parts: DeployerParts | None = None
        self._backlog_task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def ready(self) -> bool:
        return self._parts is not None and not self._stopping.is_set()

    @property
    def parts(self) -> DeployerParts:
        if self._parts is None:
            raise RuntimeError("the deployer runtime is not open")
        return self._parts

    async def open(self) -> None:
        """Build the parts (called before the broker starts)."""
        self._stopping.clear()
        self._parts = await self._assemble()
        log.info("deployer runtime open", extra={"nats_url": self.settings.nats_url})

    async def start_fetching(self) -> None:
        """Fetch commands and keep the backlog gauge current (called once the broker runs)."""
        parts = self.parts
        parts.puller.start(self.accept)
        self._backlog_task = asyncio.create_task(
            self._poll_backlog(parts.nats.jetstream()), name="deployer-backlog"
        )

    async def _poll_backlog(self, js: JetStreamContext) -> None:
        """Keep the backlog gauge current until the runtime stops; a failed poll leaves the
        last figure. It is told to stop, not cancelled: a cancel that lands as the reply to
        a poll arrives is swallowed by `asyncio.wait_for` (inside nats-py's request) on
        Python 3.11, and the loop would then poll on for ever."""
        while not self._stopping.is_set():
            try:
                metrics.COMMAND_BACKLOG.set(await command_backlog(js))
            except Exception as exc:
                log.warning("could not read the command backlog", extra={"error": repr(exc)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._stopping.wait(), self.settings.deployer_backlog_poll_seconds
                )

    async def accept(self, messages: list[Msg]) -> None:
        """Hand each fetched message to its model's queue, in stream order."""
        for msg in messages:
            delivery = NatsDelivery(msg)
            if self._stopping.is_set() or self._parts is None:
                await delivery.nak(0)
                continue
            command = read_command(msg.data)
            key = command.key if isinstance(command, MalformedCommand) else command.public_id
            await self._parts.dispatcher.submit(
                key or f"#{delivery.stream_sequence}", delivery, command
            )

    async def drain(self) -> None:
        """Stop taking messages, let those in hand settle for up to `DRAIN_SECONDS`, then
        let go of the rest, which JetStream redelivers (called before the broker stops and
        drains the connection, so whatever settles is still acknowledged over it)."""
        self._stopping.set()
        if self._parts is not None:
            await self._parts.puller.stop()
        if self._backlog_task is not None:
            await asyncio.gather(self._backlog_task, return_exceptions=True)
            self._backlog_task = None
        if self._parts is None:
            return
        try:
            await asyncio.wait_for(self._parts.dispatcher.wait_idle(), DRAIN_SECONDS)
        except TimeoutError:
            log.warning("stopping with commands in hand; JetStream will redeliver them")
        await self._parts.dispatcher.close()

    async def close(self) -> None:
        """Close the cluster client (called after the broker stopped)."""
        if self._parts is not None:
            await self._parts.cluster.close()
            self._parts = None
