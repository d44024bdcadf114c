"""What a gateway, a browser and a generated client expect of any HTTP API, in one layer.

- A path with a trailing slash is served as the same path without it, never redirected:
  a redirect names an absolute `http://` URL built from the Host header, which drops the
  scheme, host and prefix a gateway forwarded.
- HEAD is answered for every GET route exactly as the GET would be, without the body.
- OPTIONS answers 204 with `Allow`; a method a path does not take is 405 with the whole
  `Allow` (HEAD and OPTIONS included), decided before the body's media type is (415):
  JSON, or a JSON merge patch (`application/merge-patch+json`); a request without a body
  needs none.
- A 401 carries `WWW-Authenticate: Bearer`; every 503 and 429 carries `Retry-After`.

Pure ASGI, like `RequestLayer`, so it costs no task per request.
"""

from typing import Final

import orjson
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALWAYS_ALLOWED: Final = frozenset({"OPTIONS"})
BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})
JSON_MEDIA_TYPE: Final = b"application/json"
JSON_MEDIA_TYPES: Final = frozenset({JSON_MEDIA_TYPE, b"application/merge-patch+json"})
DEFAULT_RETRY_AFTER_SECONDS: Final = 2


CANDIDATE_METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(scope: Scope) -> frozenset[str] | None:
    """Every method some route takes at this path (HEAD wherever GET is, and OPTIONS);
    None when no route has this path at all (a 404, whatever the method).

    The router is asked, method by method, whether a route fully matches: routers
    included in the app answer for their own routes."""
    routes = getattr(getattr(scope.get("app"), "router", None), "routes", ())
    methods = {
        method
        for method in CANDIDATE_METHODS
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in routes)
    }
    if not methods:
        return None
    if "GET" in methods:
        methods.add("HEAD")
    return frozenset(methods | ALWAYS_ALLOWED)


def _allow_header(methods: frozenset[str]) -> bytes:
    return ", ".join(sorted(methods)).encode()


class GatewayLayer:
    def __init__(self, app: ASGIApp, *, retry_after_seconds: int = DEFAULT_RETRY_AFTER_SECONDS):
        self.app = app
        self.retry_after = str(retry_after_seconds).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        outer, path = scope, scope["path"]
        if len(path) > 1 and path.endswith("/"):
            stripped = path.rstrip("/") or "/"
            scope = {**scope, "path": stripped, "raw_path": stripped.encode()}
        method: str = scope["method"]
        allowed = allowed_methods(scope)
        if allowed is not None and method not in allowed:
            await _answer(send, 405, {"error": f"method {method} not allowed"}, allowed)
            return
        if method == "OPTIONS" and allowed is not None:
            await _answer(send, 204, None, allowed)
            return
        if (
            method in BODY_METHODS
            and _has_body(scope)
            and _media_type(scope) not in JSON_MEDIA_TYPES
        ):
            await _answer(send, 415, {"error": "Content-Type must be application/json"})
            return
        head = method == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}
        await self.app(scope, receive, self._polite(send, head=head, inner=scope, outer=outer))

    def _polite(self, send: Send, *, head: bool, inner: Scope, outer: Scope) -> Send:
        retry_after = self.retry_after

        async def polite_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                if inner is not outer and "route" in inner:
                    outer.setdefault("route", inner["route"])  # for the layers outside
                status = message["status"]
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                if status == 401 and b"www-authenticate" not in names:
                    headers.append((b"www-authenticate", b"Bearer"))
                if status in (429, 503) and b"retry-after" not in names:
                    headers.append((b"retry-after", retry_after))
                message = {**message, "headers": headers}
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        return polite_send


def _has_body(scope: Scope) -> bool:
    """A request without a body (a restart) needs no Content-Type."""
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


def _media_type(scope: Scope) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media_type: bytes = value.split(b";", 1)[0].strip().lower()
            return media_type
    return b""


async def _answer(
    send: Send,
    status: int,
    body: dict[str, str] | None,
    allowed: frozenset[str] | None = None,
) -> None:
    content = b"" if body is None else orjson.dumps(body)
    headers = [(b"content-length", str(len(content)).encode())]
    if allowed is not None:
        headers.append((b"allow", _allow_header(allowed)))
    if body is not None:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})
