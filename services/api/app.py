"""The api's composition root: opens its connections and builds every part from
settings, before anything runs.

`connect` opens NATS and MongoDB; `assemble` decides which adapter implements which port
of `Models` (the application service every route calls), with which settings, and hands
it all to an `ApiRuntime` (see `runtime`), which only starts and stops it. `build` gives
the ASGI app uvicorn serves: its lifespan connects, assembles and starts the runtime and
the ops port (`/metrics`), and stops them. `running` runs the same app in-process for
tests, lifespan included; `run` serves it with uvicorn, for `jan-models api` and
`python -m services.api`.
"""

import contextlib
from collections.abc import AsyncIterator
from importlib.metadata import version as installed_version
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi

from services.api.adapters.admissions import Admissions, QuotaLimits
from services.api.adapters.api_keys import ApiKeys
from services.api.adapters.event_feed import JetStreamFeeds
from services.api.adapters.event_history import EventHistory
from services.api.adapters.inventory import Inventory
from services.api.adapters.registry import Registry
from services.api.adapters.registry_cache import RegistryCache
from services.api.adapters.relay import OutboxRelay
from services.api.adapters.status_consumer import StatusConsumer
from services.api.cluster_models import ClusterModels
from services.api.handlers import Models
from services.api.ops import OpsServer
from services.api.ratelimit import TokenBuckets
from services.api.runtime import ApiRuntime, Clients
from services.api.settings import ApiSettings
from services.api.web.compression import GzipLayer
from services.api.web.console import router as console_router
from services.api.web.contract import contract_document
from services.api.web.docs import router as docs_router
from services.api.web.errors import install_error_handlers
from services.api.web.event_stream import router as event_stream_router
from services.api.web.gateway import GatewayLayer
from services.api.web.middleware import RequestLayer
from services.api.web.responses import JsonResponse
from services.api.web.routes import router
from shared import database, messaging
from shared.asyncapi import build_document
from shared.logs import configure_logging
from shared.names import Collection
from shared.secrets import TokenCipher
from shared.transactions import TransactionSessions

SERVICE_NAME = "jan-models-api"
API_TRANSACTIONS = 4
"""Transactions the api runs at once: every write to its models is one."""

CORS_METHODS = frozenset({"GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"})
DESCRIPTION = (
    "jan-server's Organization Models API: deploy vLLM model servers onto the "
    "organization's Kubernetes GPU cluster. Authenticate with `Authorization: Bearer <key>`."
)


async def connect(settings: ApiSettings) -> Clients:
    """NATS and MongoDB; what was opened before a failure is closed again."""
    async with contextlib.AsyncExitStack() as opened:
        mongo = database.connect(settings.mongodb_url, app_name=SERVICE_NAME)
        opened.push_async_callback(mongo.close)
        nats = await messaging.connect(settings.nats_url, name=SERVICE_NAME)
        opened.pop_all()
    return Clients(nats=nats, mongo=mongo, db=mongo[settings.mongodb_database])


def assemble(settings: ApiSettings, clients: Clients) -> ApiRuntime:
    """Every part, wired: `Models` on its ports' adapters, and what runs beside it."""
    nats, db = clients.nats, clients.db
    transactions = TransactionSessions(db, service="api", size=API_TRANSACTIONS)
    cache = RegistryCache(db[Collection.MODELS])
    registry = Registry(db, cache=cache, transactions=transactions)
    relay = OutboxRelay(
        registry=registry,
        nats=nats,
        interval=settings.api_outbox_interval,
        grace=settings.api_outbox_grace,
        safety_interval=settings.api_outbox_sweep_seconds,
    )
    inventory = Inventory(
        nats,
        timeout=settings.api_inventory_timeout,
        status_cache_seconds=settings.api_status_cache_seconds,
    )
    models = Models(
        registry=registry,
        admissions=Admissions(db, transactions=transactions, cache=cache),
        inventory=inventory,
        relay=relay,
        cipher=TokenCipher(settings.encryption_key),
        creates=TokenBuckets(rate=settings.api_create_rate, burst=settings.api_create_burst),
        cluster_models=ClusterModels(inventory=inventory, registry=registry),
        history=EventHistory(nats),
        feeds=JetStreamFeeds(
            nats,
            capacity=settings.api_events_buffer,
            idle_seconds=settings.api_events_keepalive_seconds,
        ),
    )
    return ApiRuntime(
        settings=settings,
        clients=clients,
        models=models,
        keys=ApiKeys(db, cache_seconds=settings.api_key_cache_seconds),
        inventory=inventory,
        transactions=transactions,
        cache=cache,
        relay=relay,
        consumer=StatusConsumer(registry=registry, nats=nats, relay=relay),
        quota_limits=QuotaLimits(db),
    )


def build(settings: ApiSettings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = assemble(settings, await connect(settings))
        ops = OpsServer(host=settings.api_ops_host, port=settings.api_ops_port)
        try:
            await runtime.start()
            app.state.runtime = runtime
            app.state.models = runtime.models
            app.state.keys = runtime.keys
            await ops.start()
            app.state.ops_port = ops.port
            yield
        finally:
            await ops.stop()
            await runtime.stop()

    app = FastAPI(
        title="jan-models",
        description=DESCRIPTION,
        version=installed_version("jan-models"),
        lifespan=lifespan,
        default_response_class=JsonResponse,
        docs_url=None,  # served from the package's own assets (web/docs.py), not a CDN
        redoc_url=None,
    )
    install_error_handlers(app)
    app.add_middleware(GatewayLayer)  # innermost: it answers for the routes
    app.add_middleware(RequestLayer, max_body_bytes=settings.api_max_body_bytes)
    app.add_middleware(GzipLayer, minimum_size=settings.api_gzip_minimum_bytes)
    if settings.api_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api_cors_origins,
            allow_methods=sorted(CORS_METHODS),
            allow_headers=[
                "Authorization",
                "Content-Type",
                "If-Match",
                "If-None-Match",
                "Last-Event-ID",
            ],
            expose_headers=["ETag", "Location", "Retry-After", "X-Request-ID"],
        )
    app.include_router(router)
    app.include_router(event_stream_router)
    app.include_router(console_router)
    app.include_router(docs_router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JsonResponse:
        """Ready while the api's own MongoDB and NATS answer; the inventory is reported."""
        runtime: ApiRuntime = request.app.state.runtime
        inventory = await runtime.inventory_state()
        if await runtime.ready():
            return JsonResponse({"status": "ready", "inventory": inventory})
        return JsonResponse({"error": "MongoDB or NATS unreachable"}, status_code=503)

    asyncapi = build_document()

    @app.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi_document() -> JsonResponse:
        """The NATS contract (commands, events, queries) as AsyncAPI 3.0; no key needed."""
        return JsonResponse(asyncapi)

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        app.openapi_schema = contract_document(
            get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
        )
    return app.openapi_schema


@contextlib.asynccontextmanager
async def running(settings: ApiSettings) -> AsyncIterator[FastAPI]:
    """The app with its lifespan entered, for an in-process `httpx.ASGITransport`."""
    app = build(settings)
    async with app.router.lifespan_context(app):
        yield app


def run(settings: ApiSettings | None = None) -> None:
    settings = settings or ApiSettings()
    configure_logging(settings.log_level, settings.log_format, service="api")
    uvicorn.run(
        build(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        # Event streams stay open until their client leaves; shutdown ends them after this.
        timeout_graceful_shutdown=settings.api_shutdown_grace_seconds,
    )
