"""One pure-ASGI layer around every request: request id, trace context, body limits, metrics,
access log.

Pure ASGI rather than `BaseHTTPMiddleware`, which costs a task per request. The body
limit is enforced on `Content-Length` and again while reading, so a chunked upload past
the limit is cut off with 413 as well. The access log never holds a body or a header
value other than the request id.
"""

import logging
import time
import uuid
from typing import Final

import orjson
from fastapi import HTTPException
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.web.gateway import BODY_METHODS
from shared import tracing

log = logging.getLogger("services.api.access")

REQUESTS: Final = Counter(
    "jan_models_api_requests_total",
    "HTTP requests by route and status",
    ["method", "route", "status"],
)
LATENCY: Final = Histogram(
    "jan_models_api_request_duration_seconds",
    "HTTP request latency by route",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
REQUEST_ID_HEADER: Final = b"x-request-id"
TRACEPARENT_HEADER: Final = b"traceparent"


class _BodyTooLargeError(HTTPException):
    """An HTTPException so FastAPI's body reader lets it through to the 413 handler."""

    def __init__(self, message: str) -> None:
        super().__init__(status_code=413, detail=message)


class RequestLayer:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        request_id = _request_id(headers.get(REQUEST_ID_HEADER))
        given = headers.get(TRACEPARENT_HEADER)
        trace = tracing.current.set(tracing.child_of(given.decode("latin-1") if given else None))
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER, request_id.encode()),
                ]
            await send(message)

        try:
            rejection = self._reject(scope["method"], headers)
            if rejection is not None:
                await _send_error(send_with_id, *rejection)
            else:
                await self.app(scope, self._limited(receive), send_with_id)
        except _BodyTooLargeError:
            if not response_started:
                await _send_error(send_with_id, 413, self._too_large())
        finally:
            route = _route_of(scope)
            elapsed = time.perf_counter() - started
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(elapsed)
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            tracing.current.reset(trace)

    def _reject(self, method: str, headers: dict[bytes, bytes]) -> tuple[int, str] | None:
        if method not in BODY_METHODS:
            return None
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            return 413, self._too_large()
        return None

    def _too_large(self) -> str:
        return f"request body larger than {self.max_body_bytes} bytes"

    def _limited(self, receive: Receive) -> Receive:
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLargeError(self._too_large())
            return message

        return limited_receive


def _request_id(given: bytes | None) -> str:
    if given and len(given) <= 128 and given.isascii():
        text = given.decode()
        if text.isprintable():
            return text
    return uuid.uuid4().hex


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path_format", None)  # `{model_id}`, without its convertor
    return path if isinstance(path, str) else "unmatched"


async def _send_error(send: Send, status: int, message: str) -> None:
    body = orjson.dumps({"error": message})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
