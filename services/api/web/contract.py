"""How the routes declare what they answer: a typed body per status code with the seed's
example, `{"error": ...}` on every refusal, the headers a client can rely on, and the
links a generated client or schemathesis follows from a created model."""

from typing import Any, Final

from starlette.convertors import Convertor, register_url_convertor

from services.api.web.schemas import ErrorBody

Responses = dict[int | str, dict[str, Any]]
ETAG: Final = {
    "ETag": {
        "description": "The body's entity tag; send it back as `If-None-Match` to get a 304",
        "schema": {"type": "string"},
    }
}
GENERATION_ETAG: Final = {
    "ETag": {
        "description": 'The model\'s generation, quoted (`"3"`); send it as `If-Match` on a PATCH',
        "schema": {"type": "string", "pattern": '^"[0-9]+"$'},
    }
}
LOCATION: Final = {
    "Location": {
        "description": "The created model's path (its public id)",
        "schema": {"type": "string", "examples": ["/v1/organization/models/mdl_abc123def456"]},
    }
}
NOT_MODIFIED: Final[Responses] = {
    304: {"description": "Not modified: the `If-None-Match` entity tag is still current"}
}
#: the operations a created model's id leads to
MODEL_OPERATIONS: Final = (
    "getModel",
    "updateModel",
    "deleteModel",
    "restartModel",
    "listModelEvents",
)
MODEL_ID_SCHEMA: Final = {
    "oneOf": [
        {"type": "integer", "minimum": 1, "maximum": 2**63 - 1, "examples": [1]},
        {"type": "string", "pattern": "^mdl_[a-z0-9]{12}$", "examples": ["mdl_abc123def456"]},
    ],
    "description": "The model's `id` or its `public_id`",
}
#: the path segments that name a collection route, never a model
COLLECTION_SEGMENTS: Final = ("status", "all", "events")


def answer(
    model: type[Any],
    example: Any,
    description: str,
    *,
    headers: dict[str, Any] | None = None,
    links: dict[str, Any] | None = None,
) -> dict[str, Any]:
    declared: dict[str, Any] = {
        "model": model,
        "description": description,
        "content": {"application/json": {"example": example}},
    }
    if headers:
        declared["headers"] = headers
    if links:
        declared["links"] = links
    return declared


def refusal(message: str, description: str) -> dict[str, Any]:
    """An error answer: always `{"error": "<sentence>"}`, here with one real sentence."""
    return {
        "model": ErrorBody,
        "description": description,
        "content": {"application/json": {"example": {"error": message}}},
    }


def links_from_created() -> dict[str, Any]:
    return {
        operation: {
            "operationId": operation,
            "parameters": {"model_id": "$response.body#/model/public_id"},
        }
        for operation in MODEL_OPERATIONS
    }


def model_id_schema(schema: dict[str, Any]) -> None:
    """`{model_id}` in the document: an integer id or a public id (the route takes any
    segment, so an id of neither form is a 404 naming it, not a 400)."""
    schema.clear()
    schema.update(MODEL_ID_SCHEMA)


def tags_schema(schema: dict[str, Any]) -> None:
    """`?tag=` repeated: an array of tags (never null: an absent parameter is no filter)."""
    schema.clear()
    schema.update({"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 64}})


def contract_document(document: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's document made the api's: it answers 400, never 422, so neither the 422s
    nor their validation schemas are listed (every route declares its own 400s); and a
    PATCH body is a merge patch over the create body (`ModelPatch`)."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    create = schemas.get("CreateModelRequest")
    if create is not None:
        schemas["ModelPatch"] = model_patch_schema(create)
    return document


def model_patch_schema(create: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 over the create body minus `name`: any top-level field, null to reset it;
    `requirements` and `deployment_config` take partial objects, merged the same way."""
    properties: dict[str, Any] = {}
    for field, schema in create["properties"].items():
        if field == "name":
            continue
        if field in ("requirements", "deployment_config"):
            schema = {"type": "object", "description": f"A merge patch over `{field}`"}
        properties[field] = {"anyOf": [schema, {"type": "null"}]}
    return {
        "title": "ModelPatch",
        "type": "object",
        "description": "A JSON merge patch over the create body; `name` cannot be changed",
        "properties": properties,
        "additionalProperties": False,
    }


class ModelIdConvertor(Convertor[str]):
    """A `{model_id}` segment: anything but the collection routes' own names, so that
    `DELETE /models/status` is a 405 with `Allow: GET, HEAD, OPTIONS`, not a lookup."""

    regex = r"(?!(?:" + "|".join(COLLECTION_SEGMENTS) + r")(?:/|$))[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("model_id", ModelIdConvertor())
