"""NATS and JetStream: connecting, declaring the two streams, publishing with dedup ids.

`ensure_streams` is idempotent: it creates a missing stream and brings an existing one
to the stream configuration of the messaging contract, so every service may call it at start-up.

On a NATS cluster the URL setting lists its servers separated by commas; the client
reconnects to any of them, and each stream is replicated `replicas` ways (3 on a
three-node cluster, so one node lost keeps a quorum). A cluster still electing its
JetStream leader answers "unavailable" for a moment: `ensure_streams` waits that out
rather than letting a service that starts beside its broker crash.
"""

import asyncio
import logging
import time
from datetime import timedelta
from typing import Final

import nats
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, PubAck, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BucketNotFoundError, NotFoundError, ServiceUnavailableError
from nats.js.kv import KeyValue

from shared.commands import CreateModel, DeleteModel
from shared.events import CloudEvent
from shared.names import COMMAND_SUBJECTS, COMMANDS_STREAM, EVENTS_STREAM, EVENTS_WILDCARD

log = logging.getLogger(__name__)

DUPLICATE_WINDOW: Final = timedelta(minutes=2)
EVENTS_MAX_AGE: Final = timedelta(days=7)
MSG_ID_HEADER: Final = "Nats-Msg-Id"


def stream_configs(replicas: int = 1) -> tuple[StreamConfig, StreamConfig]:
    commands = StreamConfig(
        name=COMMANDS_STREAM,
        subjects=list(COMMAND_SUBJECTS),
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW.total_seconds(),
        num_replicas=replicas,
    )
    events = StreamConfig(
        name=EVENTS_STREAM,
        subjects=[EVENTS_WILDCARD],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=EVENTS_MAX_AGE.total_seconds(),
        duplicate_window=DUPLICATE_WINDOW.total_seconds(),
        num_replicas=replicas,
        allow_direct=True,  # a model's history is read by batch direct get (api)
    )
    return commands, events


def server_urls(url: str) -> list[str]:
    """The servers of a NATS URL setting: one, or a cluster's separated by commas."""
    servers = [part.strip() for part in url.split(",") if part.strip()]
    if not servers:
        raise ValueError("the NATS URL names no server")
    return servers


#: every connection of the project reconnects forever, to any server of the cluster: a
#: restarted nats-server is not the service's end (`shared.brokers` builds the services'
#: brokers with the same options)
MAX_RECONNECT_ATTEMPTS: Final = -1
RECONNECT_TIME_WAIT: Final = 0.5
CONNECT_TIMEOUT: Final = 5


async def connect(url: str, *, name: str) -> Client:
    """A connection of its own (the api, tools and tests; the deployer and the inventory
    work on their broker's, see `shared.brokers`)."""
    return await nats.connect(
        server_urls(url),
        name=name,
        max_reconnect_attempts=MAX_RECONNECT_ATTEMPTS,
        reconnect_time_wait=RECONNECT_TIME_WAIT,
        connect_timeout=CONNECT_TIMEOUT,
    )


#: what a JetStream cluster answers while it has no leader yet (or lost one)
_NOT_YET: Final = (ServiceUnavailableError, NoRespondersError, NatsTimeoutError)


async def ensure_streams(js: JetStreamContext, *, replicas: int = 1, wait: float = 60.0) -> None:
    """Create or update both streams; while the cluster has no JetStream leader, retry
    for up to `wait` seconds, then raise what it last answered."""
    deadline = time.monotonic() + wait
    while True:
        try:
            await _ensure_streams(js, replicas=replicas)
            return
        except _NOT_YET as exc:
            if time.monotonic() >= deadline:
                raise
            log.warning("JetStream not available yet, retrying", extra={"error": repr(exc)})
            await asyncio.sleep(0.5)


async def _ensure_streams(js: JetStreamContext, *, replicas: int) -> None:
    for config in stream_configs(replicas):
        try:
            await js.stream_info(config.name or "")
        except NotFoundError:
            await js.add_stream(config)
            log.info("stream created", extra={"stream": config.name, "replicas": replicas})
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


async def open_key_value(
    js: JetStreamContext, bucket: str, *, replicas: int, ttl: float | None = None
) -> KeyValue:
    """A KV bucket on the same JetStream as the streams (file storage, one value per key,
    replicated as they are), created on first use."""
    try:
        return await js.key_value(bucket)
    except BucketNotFoundError:
        config = KeyValueConfig(
            bucket=bucket, history=1, ttl=ttl, storage=StorageType.FILE, replicas=replicas
        )
        return await js.create_key_value(config)
