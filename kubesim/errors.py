"""API errors rendered as the `Status` bodies a real kube-apiserver sends.

Clients (kubectl, kubernetes-asyncio) branch on `reason` and `code`, so the wording and
the `details` block follow the apiserver's own (`k8s.io/apimachinery/pkg/api/errors`).
"""

from __future__ import annotations

from typing import Any

import orjson

Obj = dict[str, Any]


class ApiError(Exception):
    """An error that becomes a `kind: Status` response body."""

    def __init__(
        self,
        *,
        code: int,
        reason: str,
        message: str,
        details: Obj | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> Obj:
        """The Status body, its fields in `metav1.Status`'s order (details before code)."""
        body: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


#: what Go's encoding/json writes for these characters in strings (its HTML escaping)
_GO_ESCAPES = (
    (b"&", b"\\u0026"),
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


def status_bytes(body: Obj) -> bytes:
    """A Status body byte for byte as the apiserver writes it: Go's encoding/json (HTML
    characters escaped) followed by the encoder's newline."""
    raw = orjson.dumps(body)
    for char, escaped in _GO_ESCAPES:
        raw = raw.replace(char, escaped)
    return raw + b"\n"


def _details(name: str, group: str, kind: str, uid: str = "") -> Obj:
    """`StatusDetails` in its field order: name, group, kind, uid (causes follow)."""
    details: Obj = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = kind
    if uid:
        details["uid"] = uid
    return details


def qualified(plural: str, group: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(*, plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        code=404,
        reason="NotFound",
        message=f'{qualified(plural, group)} "{name}" not found',
        details=_details(name, group, plural),
    )


def already_exists(*, plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        code=409,
        reason="AlreadyExists",
        message=f'{qualified(plural, group)} "{name}" already exists',
        details=_details(name, group, plural),
    )


def conflict(*, plural: str, group: str, name: str, why: str) -> ApiError:
    return ApiError(
        code=409,
        reason="Conflict",
        message=f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": {why}',
        details=_details(name, group, plural),
    )


STALE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def invalid(*, kind: str, group: str, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 Invalid; `causes` are (field, message) pairs."""
    text = ", ".join(f"{field}: {msg}" for field, msg in causes)
    if len(causes) > 1:
        text = f"[{text}]"  # as an aggregate of field errors prints
    return ApiError(
        code=422,
        reason="Invalid",
        message=f'{qualified(kind, group)} "{name}" is invalid: {text}',
        details={
            **_details(name, group, kind),
            "causes": [
                {"reason": "FieldValueInvalid", "message": msg, "field": field}
                for field, msg in causes
            ],
        },
    )


def bad_request(message: str) -> ApiError:
    return ApiError(code=400, reason="BadRequest", message=message)


def gone(message: str) -> ApiError:
    return ApiError(code=410, reason="Expired", message=message)


def method_not_allowed(
    message: str = "the server does not allow this method on the requested resource",
) -> ApiError:
    return ApiError(code=405, reason="MethodNotAllowed", message=message)


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(
        code=415,
        reason="UnsupportedMediaType",
        message=f"the body of the request was in an unknown format - accepted media types include: "
        f"application/json, application/yaml (got {content_type!r})",
    )


def page_not_found() -> ApiError:
    return ApiError(
        code=404, reason="NotFound", message="the server could not find the requested resource"
    )


def success(*, name: str, group: str, kind: str, uid: str) -> Obj:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": _details(name, group, kind, uid),
    }
