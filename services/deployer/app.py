"""Composition root: the deployer's FastStream app, built from settings alone.

The broker gives the app its NATS health check and lifecycle; the runtime declares the
streams and the `deployer` consumer, fetches commands and applies them.
`build` gives the app; `run` serves it as its own process (health and metrics on the
small HTTP port, the broker started by its lifespan) for `jan-models deployer` and
`python -m services.deployer`; `running` runs the same app in-process without HTTP, for
tests and benchmarks.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from faststream.asgi import AsgiFastStream
from faststream.nats import NatsBroker

from services.deployer.runtime import DeployerRuntime
from services.deployer.settings import DeployerSettings
from shared import messaging
from shared.logs import configure_logging
from shared.probes import probe_routes


@dataclass(frozen=True, slots=True)
class DeployerApp:
    app: AsgiFastStream
    broker: NatsBroker
    runtime: DeployerRuntime


def build_broker(settings: DeployerSettings) -> NatsBroker:
    """The broker behind `/healthz`; commands are fetched by `CommandPuller` (see there why)."""
    return NatsBroker(
        messaging.server_urls(settings.nats_url),
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        graceful_timeout=5.0,
        log_level=logging.DEBUG,  # one line per fetched batch is noise at 200 commands a second
    )


def build(settings: DeployerSettings) -> DeployerApp:
    runtime = DeployerRuntime(settings)
    broker = build_broker(settings)
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
