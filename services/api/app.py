"""The composition root: builds the api from its settings.

`build` gives the ASGI app uvicorn serves; its lifespan starts the runtime (MongoDB,
NATS, the outbox relay and the `api-status` consumer) and the ops port (`/metrics`), and
stops them. `running` runs the same app in-process for tests, lifespan included; `run`
serves it with uvicorn, for `jan-models api` and `python -m services.api`.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version as installed_version
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi

from services.api.ops import OpsServer
from services.api.runtime import ApiRuntime
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
from shared.asyncapi import build_document
from shared.logs import configure_logging

CORS_METHODS = frozenset({"GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"})
DESCRIPTION = (
    "jan-server's Organization Models API: deploy vLLM model servers onto the "
    "organization's Kubernetes GPU cluster. Authenticate with `Authorization: Bearer <key>`."
)


def build(settings: ApiSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await ApiRuntime.start(settings)
        app.state.runtime = runtime
        app.state.models = runtime.models
        app.state.keys = runtime.keys
        ops = OpsServer(host=settings.api_ops_host, port=settings.api_ops_port)
        try:
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


@asynccontextmanager
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
