"""Every response a test client sees, checked against the api's own OpenAPI document.

`ResponseContract.hook` is an httpx response hook: the api tier's, the e2e and the fault
tests' clients carry it, so a body that strays from the document (an undeclared status, a
field of the wrong type, an error that is not `{"error": ...}`) fails whichever test saw it.
Routes outside the document (health, console, the document itself) and whole-path answers
of the gateway (405, OPTIONS) are not operations and are left alone; an event stream is
never read here.
"""

import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import jsonschema_rs

from services.api.app import build
from services.api.settings import ApiSettings


class ContractViolationError(AssertionError):
    pass


def api_document() -> dict[str, Any]:
    return build(ApiSettings()).openapi()


@dataclass
class ResponseContract:
    document: dict[str, Any] = field(default_factory=api_document)
    checked: int = 0
    _paths: list[tuple[re.Pattern[str], str]] = field(init=False)
    _validators: dict[tuple[str, str, str], Any] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._paths = [
            (re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", path) + "/?$"), path)
            for path in self.document["paths"]
        ]
        # a literal path wins over a template (`/models/status` over `/models/{model_id}`)
        self._paths.sort(key=lambda pair: pair[1].count("{"))

    def operation(self, method: str, path: str) -> dict[str, Any] | None:
        for pattern, template in self._paths:
            if pattern.match(path):
                found: dict[str, Any] | None = self.document["paths"][template].get(method.lower())
                return found
        return None

    def check(
        self, method: str, path: str, status: int, headers: httpx.Headers, body: bytes
    ) -> None:
        method = "GET" if method == "HEAD" else method
        operation = self.operation(method, path)
        if operation is None:
            return
        described = f"{method} {path} -> {status}"
        declared = operation["responses"].get(str(status))
        if declared is None:
            raise ContractViolationError(f"{described}: status not in the document")
        media_type = headers.get("content-type", "").split(";")[0].strip()
        content = declared.get("content", {})
        if not content:
            if body:
                raise ContractViolationError(f"{described}: a body where none is declared")
            return
        if media_type not in content:
            raise ContractViolationError(f"{described}: {media_type!r} not declared")
        schema = content[media_type].get("schema")
        if schema is None or media_type != "application/json" or not body:
            return
        validator = self._validator(operation["operationId"], str(status), schema)
        errors = [
            str(error) for error in validator.iter_errors(httpx.Response(200, content=body).json())
        ]
        if errors:
            raise ContractViolationError(f"{described}: {errors[:3]}")
        self.checked += 1

    def _validator(self, operation_id: str, status: str, schema: dict[str, Any]) -> Any:
        key = (operation_id, status, "application/json")
        if key not in self._validators:
            rooted = {**schema, "components": self.document["components"]}
            self._validators[key] = jsonschema_rs.Draft202012Validator(rooted)
        return self._validators[key]

    async def hook(self, response: httpx.Response) -> None:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            return
        request = response.request
        if request.method == "HEAD":
            self.check("HEAD", request.url.path, response.status_code, response.headers, b"")
            return
        await response.aread()
        self.check(
            request.method,
            request.url.path,
            response.status_code,
            response.headers,
            response.content,
        )


CONTRACT = ResponseContract()
"""One for the whole run: the document is built once."""
