"""Composition root: the deployer's FastStream app and every part of it, built from
settings alone.

The broker holds the deployer's one NATS connection: `assemble` builds the parts on it
(the `deployer` consumer and the streams declared, the turns bucket, the Kubernetes
client, the command processor, the dispatcher and the fetch loop), so `/healthz` pings
the connection that does the work. The runtime (`runtime.py`) runs them between the
broker's start and stop. Commands are fetched by `CommandPuller`, not by a FastStream
subscriber: see `services/deployer/adapters/puller.py` and
`scripts/faststream_pull_timeout.py` for why.

`build` gives the app; `run` serves it as its own process (health and metrics on the
small HTTP port, the broker started by its lifespan) for `jan-models deployer` and
`python -m services.deployer`; `running` runs the same app in-process without HTTP, for
tests and benchmarks.
"""

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

from faststream.asgi import AsgiFastStream
from faststream.nats import NatsBroker
from nats.aio.client import Client

from services.deployer.adapters.jetstream import JetStreamEvents, consumer_config, ensure_consumer
from services.deployer.adapters.kubernetes import KubernetesCluster
from services.deployer.adapters.puller import CommandPuller
from services.deployer.adapters.turns import KvModelTurns, open_bucket
from services.deployer.ordering import KeyedDispatcher
from services.deployer.processing import CommandProcessor, RetryPolicy
from services.deployer.runtime import DeployerParts, DeployerRuntime
from services.deployer.settings import DeployerSettings
from shared import messaging
from shared.brokers import nats_broker
from shared.kubernetes import load_api_client
from shared.logs import configure_logging
from shared.probes import probe_routes
from shared.secrets import TokenCipher

SERVICE_NAME: Final = "jan-models-deployer"


@dataclass(frozen=True, slots=True)
class DeployerApp:
    app: AsgiFastStream
    broker: NatsBroker
    runtime: DeployerRuntime


def replica_name() -> str:
    """Who holds a model's turn: the pod's name in a cluster (its hostname), and the
    process id, so two replicas on one machine are told apart."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def assemble(settings: DeployerSettings, nats: Client) -> DeployerParts:
    """Every part, on `nats`. What lives in NATS is declared and opened first, so a failure
    there leaves no cluster client behind."""
    js = nats.jetstream()
    await messaging.ensure_streams(js, replicas=settings.stream_replicas)
    await ensure_consumer(
        js,
        consumer_config(
            ack_wait=settings.deployer_ack_wait,
            max_ack_pending=settings.deployer_max_ack_pending,
        ),
    )
    turns = KvModelTurns(
        await open_bucket(js, replicas=settings.stream_replicas),
        me=replica_name(),
        lease=settings.deployer_ack_wait,
    )
    cluster = KubernetesCluster(
        await load_api_client(settings.kubeconfig),
        request_timeout=settings.deployer_request_timeout,
        crd_cache_seconds=settings.deployer_crd_cache_seconds,
    )
    processor = CommandProcessor(
        cluster=cluster,
        events=JetStreamEvents(js),
        cipher=TokenCipher(settings.encryption_key),
        turns=turns,
        policy=RetryPolicy(
            max_attempts=settings.deployer_max_attempts,
            base=settings.deployer_retry_base,
            ceiling=settings.deployer_retry_max,
            keepalive_interval=settings.deployer_ack_wait / 3,
        ),
    )
    return DeployerParts(
        nats=nats,
        cluster=cluster,
        dispatcher=KeyedDispatcher(
            handle=processor.process,  # type: ignore[arg-type]  # items are what read_command returns
            concurrency=settings.deployer_concurrency,
            capacity=settings.deployer_max_ack_pending,
            hold_grace=settings.deployer_ack_wait,
        ),
        puller=CommandPuller(js, batch_size=settings.deployer_batch_size),
    )


def build(settings: DeployerSettings) -> DeployerApp:
    broker = nats_broker(settings.nats_url, name=SERVICE_NAME)

    async def parts() -> DeployerParts:
        return await assemble(settings, await broker.connect())

    runtime = DeployerRuntime(settings, assemble=parts)
    app = AsgiFastStream(
        broker,
        asgi_routes=probe_routes(broker, ready=lambda: runtime.ready),
        on_startup=[runtime.open],
        after_startup=[runtime.start_fetching],
        on_shutdown=[runtime.drain],
        after_shutdown=[runtime.close],
    )
    return DeployerApp(app=app, broker=broker, runtime=runtime)


@asynccontextmanager
async def running(settings: DeployerSettings) -> AsyncIterator[DeployerApp]:
    deployer = build(settings)
    await deployer.app.start()
    try:
        yield deployer
    finally:
        await deployer.app.stop()


def run(settings: DeployerSettings | None = None) -> None:
    settings = settings or DeployerSettings()
    configure_logging(settings.log_level, settings.log_format, service="deployer")
    options = {
        "host": settings.deployer_http_host,
        "port": settings.deployer_http_port,
        "log_config": None,
        "access_log": "false",
    }
    app = build(settings).app
    asyncio.run(app.run(run_extra_options=options))  # type: ignore[arg-type]  # uvicorn options
