"""JetStream: the `deployer` pull consumer's configuration, its messages, and event publishing.

The consumer is created (or brought to this configuration) here at start-up, before
the fetch loop (`puller`) binds to it, so its settings are ours: explicit acks,
`ack_wait` long enough for a slow apply (extended with in-progress beats), and
`max_ack_pending` bounding how many commands one deployer holds at once. It filters on
both command subjects of the work-queue stream.

Events go out through `shared.messaging.publish_event` on the broker's connection, not a
FastStream publisher, which would store `content-type`, `correlation_id` and
`Nats-Expected-Stream` headers with every event and took 3 to 17 % longer a publish
(measured for the inventory's events: `services/inventory/adapters/model_events.py`).
"""

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.deployer import metrics
from shared.events import CloudEvent
from shared.messaging import MSG_ID_HEADER, publish_event
from shared.names import COMMAND_SUBJECTS, COMMANDS_STREAM, DEPLOYER_DURABLE


def consumer_config(*, ack_wait: float, max_ack_pending: int) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=DEPLOYER_DURABLE,
        name=DEPLOYER_DURABLE,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=ack_wait,
        max_ack_pending=max_ack_pending,
        filter_subjects=list(COMMAND_SUBJECTS),
    )


async def ensure_consumer(js: JetStreamContext, config: ConsumerConfig) -> None:
    """Create the durable consumer, or update it to `config` (nats-server >= 2.10)."""
    await js.add_consumer(COMMANDS_STREAM, config=config)


async def command_backlog(js: JetStreamContext) -> int:
    """Commands waiting for the `deployer` consumer, not yet delivered (num_pending)."""
    info = await js.consumer_info(COMMANDS_STREAM, DEPLOYER_DURABLE)
    return int(info.num_pending or 0)


class NatsDelivery:
    """A JetStream message seen through `services.deployer.delivery.Delivery`."""

    __slots__ = ("_msg",)

    def __init__(self, msg: Msg) -> None:
        self._msg = msg

    @property
    def data(self) -> bytes:
        return self._msg.data

    @property
    def stream_sequence(self) -> int:
        return self._msg.metadata.sequence.stream

    @property
    def attempt(self) -> int:
        return self._msg.metadata.num_delivered

    @property
    def msg_id(self) -> str:
        headers = self._msg.headers or {}
        return headers.get(MSG_ID_HEADER) or f"{COMMANDS_STREAM}#{self.stream_sequence}"

    async def ack(self) -> None:
        await self._msg.ack()

    async def nak(self, delay: float) -> None:
        await self._msg.nak(delay=delay)

    async def term(self) -> None:
        await self._msg.term()

    async def in_progress(self) -> None:
        await self._msg.in_progress()


class JetStreamEvents:
    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    async def publish(self, event: CloudEvent, *, msg_id: str) -> None:
        await publish_event(self._js, event, msg_id=msg_id)
        metrics.EVENTS_PUBLISHED.labels(type=event.event_type.value).inc()
