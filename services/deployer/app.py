"""Composition root: the deployer's FastStream app, built from settings alone.

`build_app` gives the ASGI app `jan-models deployer` serves (health and metrics on the
small HTTP port, the broker started by its lifespan); `running_deployer` runs the same
app in-process without HTTP, for tests and benchmarks.
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from faststream import AckPolicy, Context
from faststream.asgi import AsgiFastStream
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.message import NatsBatchMessage

from services.deployer.adapters.jetstream import consumer_config
from services.deployer.runtime import DeployerRuntime
from services.deployer.settings import DeployerSettings
from shared.names import COMMANDS_STREAM, DEPLOYER_DURABLE
from shared.probes import probe_routes


@dataclass(frozen=True, slots=True)
class DeployerApp:
    app: AsgiFastStream
    broker: NatsBroker
    runtime: DeployerRuntime


def build_broker(settings: DeployerSettings, runtime: DeployerRuntime) -> NatsBroker:
    broker = NatsBroker(
        settings.nats_url,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        graceful_timeout=5.0,
        log_level=logging.DEBUG,  # one line per fetched batch is noise at 200 commands a second
    )

    @broker.subscriber(
        "",
        stream=JStream(COMMANDS_STREAM, declare=False),
        durable=DEPLOYER_DURABLE,
        config=consumer_config(
            ack_wait=settings.deployer_ack_wait,
            max_ack_pending=settings.deployer_max_ack_pending,
        ),
        pull_sub=PullSub(
            batch_size=settings.deployer_batch_size,
            timeout=settings.deployer_fetch_timeout,
            batch=True,
        ),
        ack_policy=AckPolicy.MANUAL,
        title="deployer",
        description="model.create and model.delete, applied to the cluster",
    )
    async def on_commands(
        message: Annotated[NatsBatchMessage, Context("message")],
    ) -> None:
        await runtime.accept(message.raw_message)

    return broker


def build(settings: DeployerSettings) -> DeployerApp:
    runtime = DeployerRuntime(settings)
    broker = build_broker(settings, runtime)
    app = AsgiFastStream(
        broker,
        asgi_routes=probe_routes(broker, ready=lambda: runtime.ready),
        on_startup=[runtime.open],
        on_shutdown=[runtime.drain],
        after_shutdown=[runtime.close],
    )
    return DeployerApp(app=app, broker=broker, runtime=runtime)


def build_app(settings: DeployerSettings) -> AsgiFastStream:
    return build(settings).app


@asynccontextmanager
async def running_deployer(settings: DeployerSettings) -> AsyncIterator[DeployerApp]:
    deployer = build(settings)
    await deployer.app.start()
    try:
        yield deployer
    finally:
        await deployer.app.stop()
