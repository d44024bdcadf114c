"""The api's ops port: Prometheus `/metrics` apart from the public API.

The registry gauges name organizations and count their models by status; on the API
port any caller, with or without a key, could read them. They are served here, on a port
meant for the cluster's monitoring only (`JAN_MODELS_API_OPS_HOST`/`_PORT`).
"""

import asyncio
import contextlib

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def _healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def _metrics(request: Request) -> PlainTextResponse:
    return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class OpsServer:
    def __init__(self, *, host: str, port: int) -> None:
        app = Starlette(routes=[Route("/healthz", _healthz), Route("/metrics", _metrics)])
        config = uvicorn.Config(
            app, host=host, port=port, lifespan="off", log_config=None, access_log=False
        )
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None
        self.port: int | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(), name="api-ops")
        while not self._server.started:  # uvicorn offers no started event
            if self._task.done():
                self._task.result()  # the port was taken: say so
            await asyncio.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
