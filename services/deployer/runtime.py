"""The deployer's live parts, opened before the broker starts and closed after it stops.

Holds its own NATS connection for declaring streams and the consumer and for
publishing events, the Kubernetes client, and the dispatcher that orders commands per
model, and the loop that fetches commands from the `deployer` pull consumer.
"""

import asyncio
import logging
import os
import socket
from typing import Final

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from services.deployer import metrics
from services.deployer.adapters.jetstream import (
    JetStreamEvents,
    NatsDelivery,
    command_backlog,
    consumer_config,
    ensure_consumer,
)
from services.deployer.adapters.kubernetes import KubernetesCluster
from services.deployer.adapters.puller import CommandPuller
from services.deployer.adapters.turns import KvModelTurns, open_bucket
from services.deployer.inbox import MalformedCommand, read_command
from services.deployer.ordering import KeyedDispatcher
from services.deployer.processing import CommandProcessor, RetryPolicy
from services.deployer.settings import DeployerSettings
from shared import messaging
from shared.kubernetes import load_api_client
from shared.secrets import TokenCipher

log = logging.getLogger(__name__)

DRAIN_SECONDS: Final = 10.0


def replica_name() -> str:
    """Who holds a model's turn: the pod's name in a cluster (its hostname), and the
    process id, so two replicas on one machine are told apart."""
    return f"{socket.gethostname()}:{os.getpid()}"


class DeployerRuntime:
    def __init__(self, settings: DeployerSettings) -> None:
        self.settings = settings
        self._nats: Client | None = None
        self._cluster: KubernetesCluster | None = None
        self._dispatcher: KeyedDispatcher[object] | None = None
        self._puller: CommandPuller | None = None
        self._backlog_task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def ready(self) -> bool:
        return self._dispatcher is not None and not self._stopping

    @property
    def dispatcher(self) -> KeyedDispatcher[object]:
        if self._dispatcher is None:
            raise RuntimeError("the deployer runtime is not open")
        return self._dispatcher

    async def open(self) -> None:
        settings = self.settings
        self._stopping = False
        self._nats = await messaging.connect(settings.nats_url, name="jan-models-deployer")
        js = self._nats.jetstream()
        await messaging.ensure_streams(js, replicas=settings.stream_replicas)
        await ensure_consumer(
            js,
            consumer_config(
                ack_wait=settings.deployer_ack_wait,
                max_ack_pending=settings.deployer_max_ack_pending,
            ),
        )
        api = await load_api_client(settings.kubeconfig)
        self._cluster = KubernetesCluster(
            api,
            request_timeout=settings.deployer_request_timeout,
            crd_cache_seconds=settings.deployer_crd_cache_seconds,
        )
        processor = CommandProcessor(
            cluster=self._cluster,
            events=JetStreamEvents(js),
            cipher=TokenCipher(settings.encryption_key),
            turns=KvModelTurns(
                await open_bucket(js, replicas=settings.stream_replicas),
                me=replica_name(),
                lease=settings.deployer_ack_wait,
            ),
            policy=RetryPolicy(
                max_attempts=settings.deployer_max_attempts,
                base=settings.deployer_retry_base,
                ceiling=settings.deployer_retry_max,
                keepalive_interval=settings.deployer_ack_wait / 3,
            ),
        )
        self._dispatcher = KeyedDispatcher(
            handle=processor.process,  # type: ignore[arg-type]  # items are what read_command returns
            concurrency=settings.deployer_concurrency,
            capacity=settings.deployer_max_ack_pending,
            hold_grace=settings.deployer_ack_wait,
        )
        self._puller = CommandPuller(
            js, accept=self.accept, batch_size=settings.deployer_batch_size
        )
        log.info("deployer runtime open", extra={"nats_url": settings.nats_url})

    async def start_fetching(self) -> None:
        if self._puller is not None:
            self._puller.start()
        if self._nats is not None:
            self._backlog_task = asyncio.create_task(
                self._poll_backlog(self._nats.jetstream()), name="deployer-backlog"
            )

    async def _poll_backlog(self, js: JetStreamContext) -> None:
        """Keep the backlog gauge current; a failed poll leaves the last figure."""
        while True:
            try:
                metrics.COMMAND_BACKLOG.set(await command_backlog(js))
            except Exception as exc:
                log.warning("could not read the command backlog", extra={"error": repr(exc)})
            await asyncio.sleep(self.settings.deployer_backlog_poll_seconds)

    async def accept(self, messages: list[Msg]) -> None:
        """Hand each fetched message to its model's queue, in stream order."""
        for msg in messages:
            delivery = NatsDelivery(msg)
            if self._stopping or self._dispatcher is None:
                await delivery.nak(0)
                continue
            command = read_command(msg.data)
            key = command.key if isinstance(command, MalformedCommand) else command.public_id
            await self._dispatcher.submit(key or f"#{delivery.stream_sequence}", delivery, command)

    async def drain(self) -> None:
        """Stop taking messages and let those in hand settle (called before the broker stops)."""
        self._stopping = True
        if self._puller is not None:
            await self._puller.stop()
        if self._dispatcher is not None:
            try:
                await asyncio.wait_for(self._dispatcher.wait_idle(), DRAIN_SECONDS)
            except TimeoutError:
                log.warning("stopping with commands in hand; JetStream will redeliver them")

    async def close(self) -> None:
        if self._backlog_task is not None:
            self._backlog_task.cancel()
            await asyncio.gather(self._backlog_task, return_exceptions=True)
            self._backlog_task = None
        if self._dispatcher is not None:
            await self._dispatcher.close()
            self._dispatcher = None
        if self._cluster is not None:
            await self._cluster.close()
            self._cluster = None
        if self._nats is not None:
            await self._nats.close()  # flushes what is published; nothing is subscribed
            self._nats = None
