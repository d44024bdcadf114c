"""Every failure becomes `{"error": "<message>"}` with one status per error kind, here only.

FastAPI's 422 is replaced by a 400 whose message names the field, e.g.
`requirements.cpu: 'lots' is not a Kubernetes quantity (e.g. 2000m, 16Gi)`.
"""

import logging
from collections.abc import Sequence
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.api.web.responses import JsonResponse
from shared.errors import ErrorKind, JanModelsError

log = logging.getLogger(__name__)

STATUS: Final = {
    ErrorKind.INVALID: 400,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.UNAVAILABLE: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.INSUFFICIENT_RESOURCES: 400,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.QUOTA_EXCEEDED: 403,
    ErrorKind.DEPENDENCY_DOWN: 503,
    ErrorKind.PRECONDITION_FAILED: 412,
}
_SOURCES: Final = frozenset({"body", "query", "path", "header", "cookie"})
_MESSAGES: Final = {
    "missing": "field required",
    "extra_forbidden": "unknown field",
    "json_invalid": "request body is not valid JSON",
}


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JsonResponse:
    return JsonResponse({"error": message}, status_code=status, headers=headers)


def field_path(location: Sequence[Any]) -> str:
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part not in _SOURCES or path:
            path += f".{part}" if path else str(part)
    return path


def describe(errors: Sequence[Any]) -> str:
    """One readable sentence for the first problem: `field.path: what is wrong`."""
    if not errors:
        return "invalid request"
    error = errors[0]
    message = _MESSAGES.get(error.get("type", ""), str(error.get("msg", "invalid value")))
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    path = field_path(error.get("loc", ()))
    if error.get("type") == "json_invalid":
        return message
    return f"{path}: {message}" if path else f"request body: {message}"


async def _on_validation(request: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(400, describe(exc.errors()))


async def _on_domain(request: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, JanModelsError)
    status = STATUS[exc.kind]
    headers = None
    if exc.retry_after_seconds is not None:
        headers = {"Retry-After": str(exc.retry_after_seconds)}
    if status >= 500:
        log.warning("dependency down", extra={"error": getattr(exc, "detail", exc.message)})
    return error_response(status, exc.message, headers)


async def _on_http(request: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(JanModelsError, _on_domain)
    app.add_exception_handler(StarletteHTTPException, _on_http)
