"""NATS and JetStream: connecting, declaring the two streams, publishing with dedup ids.

`ensure_streams` is idempotent: it creates a missing stream and brings an existing one
to the stream configuration of the messaging contract, so every service may call it at start-up.
"""

import logging
from datetime import timedelta
from typing import Final

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import PubAck, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from shared.commands import CreateModel, DeleteModel
from shared.events import CloudEvent
from shared.names import COMMAND_SUBJECTS, COMMANDS_STREAM, EVENTS_STREAM, EVENTS_WILDCARD

log = logging.getLogger(__name__)

DUPLICATE_WINDOW: Final = timedelta(minutes=2)
EVENTS_MAX_AGE: Final = timedelta(days=7)
MSG_ID_HEADER: Final = "Nats-Msg-Id"


def stream_configs() -> tuple[StreamConfig, StreamConfig]:
    commands = StreamConfig(
        name=COMMANDS_STREAM,
        subjects=list(COMMAND_SUBJECTS),
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW.total_seconds(),
    )
    events = StreamConfig(
        name=EVENTS_STREAM,
        subjects=[EVENTS_WILDCARD],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=EVENTS_MAX_AGE.total_seconds(),
        duplicate_window=DUPLICATE_WINDOW.total_seconds(),
    )
    return commands, events


async def connect(url: str, *, name: str) -> Client:
    """A connection that reconnects forever: a restarted nats-server is not the service's end."""
    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
    )


async def ensure_streams(js: JetStreamContext) -> None:
    for config in stream_configs():
        try:
            await js.stream_info(config.name or "")
        except NotFoundError:
            await js.add_stream(config)
            log.info("stream created", extra={"stream": config.name})
        else:
            await js.update_stream(config)


async def publish_command(js: JetStreamContext, command: CreateModel | DeleteModel) -> PubAck:
    """Publish a command; a re-publish of the same generation is dropped by JetStream."""
    return await js.publish(
        command.subject,
        command.model_dump_json().encode(),
        headers={MSG_ID_HEADER: command.msg_id},
    )


async def publish_event(
    js: JetStreamContext, event: CloudEvent, *, msg_id: str | None = None
) -> PubAck:
    """Publish an event; a retry is harmless: JetStream drops a second `msg_id` (by
    default the CloudEvents id) within its duplicate window."""
    return await js.publish(
        event.nats_subject,
        event.model_dump_json().encode(),
        headers={MSG_ID_HEADER: msg_id or event.id},
    )
