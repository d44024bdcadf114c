"""The seed's six endpoints and day two's under `/v1/organization/models`, thin over `Models`.

What each route answers is declared per status code (`contract.answer` and `refusal`), so
the OpenAPI document types every body and every error; the query parameters' rules are in
the document too, while `listing` enforces them with its own messages.
"""

from typing import Annotated, Final

import orjson
from fastapi import APIRouter, Body, Header, Path, Query, Request, Response
from pydantic import ValidationError

from services.api import listing
from services.api.changes import IF_MATCH_PATTERN
from services.api.history import LAST_SEQUENCE
from services.api.requests import CreateModelRequest
from services.api.views import created_view, detail_view, entity_tag, etag, list_entry
from services.api.web.conditional import JSON, IfNoneMatchHeader, conditional
from services.api.web.contract import (
    ETAG,
    GENERATION_ETAG,
    LOCATION,
    NOT_MODIFIED,
    Responses,
    answer,
    links_from_created,
    model_id_schema,
    refusal,
    tags_schema,
)
from services.api.web.dependencies import CallerDep, ModelsDep
from services.api.web.errors import describe
from services.api.web.examples import (
    PATCH_EXAMPLE,
    SEED_ALL,
    SEED_CREATE_REQUEST,
    SEED_CREATED,
    SEED_DETAIL,
    SEED_EVENTS,
    SEED_LIST,
    SEED_STATUS,
)
from services.api.web.rendered import DETAILS
from services.api.web.responses import JsonResponse
from services.api.web.schemas import (
    AllModelsBody,
    CreatedBody,
    DetailsBody,
    ModelEventsBody,
    ModelListBody,
    StatusBody,
)
from shared.crds import AIBRIX
from shared.errors import (
    INVENTORY_UNAVAILABLE_MESSAGE,
    NOT_IN_CLUSTER_MESSAGE,
    GenerationMismatchError,
    InvalidRequestError,
    ModelBeingDeletedError,
    NameImmutableError,
    RateLimitedError,
    insufficient_resources_message,
)

PREFIX: Final = "/v1/organization/models"
MODEL_PATH: Final = "/{model_id:model_id}"
_UNAUTHENTICATED: Final[Responses] = {
    401: refusal("missing or invalid API key", "No valid `Authorization: Bearer <key>`")
}
_DOWN: Final[Responses] = {
    503: refusal(INVENTORY_UNAVAILABLE_MESSAGE, "A dependency is down; retry after `Retry-After`")
}
_NO_CLUSTER: Final[Responses] = {
    403: refusal(NOT_IN_CLUSTER_MESSAGE, "No cluster connected, or a required CRD missing")
}
_NOT_FOUND: Final[Responses] = {
    404: refusal("model 'mdl_abc123def456' not found", "No such model in this organization")
}
_TOO_LARGE: Final[Responses] = {
    413: refusal("request body larger than 262144 bytes", "The body is over the size limit"),
    415: refusal("Content-Type must be application/json", "The body is not JSON"),
}


def _invalid(message: str) -> Responses:
    return {400: refusal(message, 'Invalid input: `{"error": "<field>: <problem>"}`')}


ModelId = Annotated[str, Path(json_schema_extra=model_id_schema)]
Limit = Annotated[
    int,
    Query(
        description=f"At most {listing.MAX_LIMIT}",
        json_schema_extra={"minimum": 0, "maximum": listing.MAX_LIMIT},
    ),
]
Offset = Annotated[int, Query(json_schema_extra={"minimum": 0})]
Boolean = Query(description="`true` or `false`", json_schema_extra={"enum": ["true", "false"]})

router = APIRouter(prefix=PREFIX, tags=["organization models"])


@router.get(
    "/status",
    summary="Check cluster status",
    operation_id="getClusterStatus",
    responses={
        200: answer(StatusBody, SEED_STATUS, "The cluster's GPUs and parts", headers=ETAG),
        **NOT_MODIFIED,
        **_UNAUTHENTICATED,
        **_NO_CLUSTER,
        **_DOWN,
    },
)
async def cluster_status(
    caller: CallerDep, models: ModelsDep, if_none_match: IfNoneMatchHeader = None
) -> Response:
    cluster, quota = await models.cluster_status(organization_id=caller.organization_id)
    body = orjson.dumps(
        {"organization_id": caller.organization_id, "cluster_status": cluster, "quota": quota}
    )
    return conditional(body, etag=entity_tag(body), if_none_match=if_none_match)


@router.get(
    "/all",
    summary="List all models (managed and unmanaged)",
    operation_id="listAllModels",
    responses={
        200: answer(AllModelsBody, SEED_ALL, "Every model Deployment", headers=ETAG),
        **NOT_MODIFIED,
        **_invalid("status: 'running' is not one of 'Running', 'Pending', 'Failed', 'Unknown'"),
        **_UNAUTHENTICATED,
        **_NO_CLUSTER,
        **_DOWN,
    },
)
async def all_models(
    caller: CallerDep,
    models: ModelsDep,
    managed: Annotated[str | None, Boolean] = None,
    namespace: Annotated[
        str | None,
        Query(json_schema_extra={"pattern": listing.NAMESPACE_PATTERN, "maxLength": 63}),
    ] = None,
    status: Annotated[str | None, Query(json_schema_extra={"enum": list(listing.PHASES)})] = None,
    organization: Annotated[
        str | None,
        Query(
            description="`mine`: only your own",
            json_schema_extra={"enum": list(listing.ORGANIZATIONS)},
        ),
    ] = None,
    limit: Annotated[
        int | None,
        Query(
            description=f"At most {listing.MAX_LIMIT}; none: all",
            json_schema_extra={"minimum": 0, "maximum": listing.MAX_LIMIT},
        ),
    ] = None,
    offset: Offset = 0,
    if_none_match: IfNoneMatchHeader = None,
) -> Response:
    where = listing.workload_filter(
        managed=managed, namespace=namespace, status=status, organization=organization
    )
    rendered = await models.all_models(
        organization_id=caller.organization_id, where=where, limit=limit, offset=offset
    )
    return conditional(rendered.body, etag=rendered.etag, if_none_match=if_none_match)


@router.post(
    "",
    status_code=201,
    summary="Create and deploy a new model",
    description="Besides the schema's rules: `--served-model-name` in the args must equal "
    "`name`; `gpu_count` must lie within `min_gpus..max_gpus` (and not be 0 with a "
    "`min_vram`); and some GPU node must be able to host the model (each a 400).",
    operation_id="createModel",
    responses={
        201: answer(
            CreatedBody,
            SEED_CREATED,
            "Accepted: the model is `creating`",
            headers=LOCATION,
            links=links_from_created(),
        ),
        **_invalid(
            "--served-model-name 'wrong-name' must match model name 'qwen3-coder-30b' "
            "(required by Aibrix for autoscaling)"
        ),
        **_UNAUTHENTICATED,
        403: refusal(NOT_IN_CLUSTER_MESSAGE, "No cluster, a required CRD missing, or over quota"),
        409: refusal(
            "a model named 'qwen3-coder-30b' already exists in namespace 'jan-models'",
            "The name is taken, or an object of that name is not jan-models'",
        ),
        **_TOO_LARGE,
        429: refusal(
            RateLimitedError(retry_after_seconds=1).message,
            "Too many creates with this key; retry after `Retry-After`",
        ),
        **_DOWN,
    },
    openapi_extra={
        "x-error-examples": [
            AIBRIX.missing_message,
            insufficient_resources_message(min_gpus=2, min_vram_bytes=48 * 2**30),
        ]
    },
)
async def create_model(
    body: Annotated[
        CreateModelRequest,
        Body(
            openapi_examples={
                "seed": {"summary": "The seed's example", "value": SEED_CREATE_REQUEST}
            }
        ),
    ],
    caller: CallerDep,
    models: ModelsDep,
    request: Request,
) -> JsonResponse:
    created = await models.create(
        body, organization_id=caller.organization_id, key_id=caller.key_id
    )
    location = request.scope.get("root_path", "") + f"{PREFIX}/{created.public_id}"
    return JsonResponse(created_view(created), status_code=201, headers={"Location": location})


@router.get(
    "",
    summary="List this organization's managed models",
    operation_id="listModels",
    responses={
        200: answer(ModelListBody, SEED_LIST, "A page of the organization's models", headers=ETAG),
        **NOT_MODIFIED,
        **_invalid("limit: must be between 0 and 1000, got 5000"),
        **_UNAUTHENTICATED,
    },
)
async def list_models(
    caller: CallerDep,
    models: ModelsDep,
    status: Annotated[
        str | None, Query(json_schema_extra={"enum": list(listing.MODEL_STATUSES)})
    ] = None,
    model_type: Annotated[
        str | None, Query(json_schema_extra={"pattern": listing.MODEL_TYPE_PATTERN})
    ] = None,
    tag: Annotated[
        list[str] | None,
        Query(description="Repeated: all of them", json_schema_extra=tags_schema),
    ] = None,
    is_public: Annotated[str | None, Boolean] = None,
    q: Annotated[
        str | None,
        Query(
            description="In the name or display name",
            json_schema_extra={"maxLength": listing.MAX_QUERY_LENGTH},
        ),
    ] = None,
    limit: Limit = listing.DEFAULT_LIMIT,
    offset: Offset = 0,
    if_none_match: IfNoneMatchHeader = None,
) -> Response:
    where = listing.model_filter(
        status=status, model_type=model_type, tags=tag, is_public=is_public, q=q
    )
    page = await models.page(
        organization_id=caller.organization_id, where=where, limit=limit, offset=offset
    )
    body = orjson.dumps(
        {
            "models": [list_entry(m) for m in page.models],
            "total": page.total,
            "next_offset": page.next_offset,
        }
    )
    return conditional(body, etag=entity_tag(body), if_none_match=if_none_match)


@router.get(
    MODEL_PATH,
    summary="Get model details",
    operation_id="getModel",
    responses={
        200: answer(DetailsBody, SEED_DETAIL, "The model", headers=GENERATION_ETAG),
        **_UNAUTHENTICATED,
        **_NOT_FOUND,
    },
)
async def get_model(model_id: ModelId, caller: CallerDep, models: ModelsDep) -> Response:
    details = await models.details(model_id, organization_id=caller.organization_id)
    return Response(DETAILS.body(details), media_type=JSON, headers={"ETag": etag(details)})


# --- day two: change (JSON merge patch, If-Match on the generation) and restart -------
_DAY_TWO: Final[Responses] = {
    **_UNAUTHENTICATED,
    **_NOT_FOUND,
    409: refusal(ModelBeingDeletedError().message, "The model is being deleted"),
    **_DOWN,
}


@router.patch(
    MODEL_PATH,
    summary="Change a model in place (JSON merge patch over the create body, minus name)",
    description="The merged body passes every create rule. A change to what runs bumps "
    "`generation` and moves the model to `updating`; metadata alone keeps both.",
    operation_id="updateModel",
    responses={
        200: answer(DetailsBody, SEED_DETAIL, "The changed model", headers=GENERATION_ETAG),
        **_invalid(NameImmutableError().message),
        403: refusal(
            "GPU quota exceeded for organization 123: 2 requested, 7 of 8 in use",
            "The change asks for GPUs over the quota, or no cluster is connected",
        ),
        412: refusal(
            GenerationMismatchError(generation=3).message,
            "`If-Match` names another generation than the model's",
        ),
        **_TOO_LARGE,
        **_DAY_TWO,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                media: {
                    "schema": {"$ref": "#/components/schemas/ModelPatch"},
                    "example": PATCH_EXAMPLE,
                }
                for media in ("application/merge-patch+json", "application/json")
            },
        }
    },
)
async def update_model(
    model_id: ModelId,
    request: Request,
    caller: CallerDep,
    models: ModelsDep,
    if_match: Annotated[
        str | None,
        Header(
            description='The generation you read, quoted (`"3"`): 412 if it changed since',
            json_schema_extra={"pattern": IF_MATCH_PATTERN},
        ),
    ] = None,
) -> JsonResponse:
    try:
        patch = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError("request body is not valid JSON") from exc
    try:
        details = await models.update(
            model_id, patch, organization_id=caller.organization_id, if_match=if_match
        )
    except ValidationError as exc:
        raise InvalidRequestError(describe(exc.errors())) from exc
    return JsonResponse(detail_view(details), headers={"ETag": etag(details)})


@router.post(
    MODEL_PATH + "/restart",
    status_code=202,
    summary="Restart a model's pods (a new generation); retries a failed model",
    operation_id="restartModel",
    responses={
        202: answer(DetailsBody, SEED_DETAIL, "The restarted model", headers=GENERATION_ETAG),
        **_DAY_TWO,
    },
)
async def restart_model(model_id: ModelId, caller: CallerDep, models: ModelsDep) -> JsonResponse:
    details = await models.restart(model_id, organization_id=caller.organization_id)
    return JsonResponse(detail_view(details), status_code=202, headers={"ETag": etag(details)})


@router.delete(
    MODEL_PATH,
    status_code=204,
    summary="Delete a model and all its Kubernetes resources",
    operation_id="deleteModel",
    responses={
        204: {"description": "Deleting: the model answers 404 once its objects are gone"},
        **_UNAUTHENTICATED,
        **_NOT_FOUND,
    },
)
async def delete_model(model_id: ModelId, caller: CallerDep, models: ModelsDep) -> Response:
    await models.delete(model_id, organization_id=caller.organization_id)
    return Response(status_code=204)


# --- day two: a model's history -------------------------------------------------------


@router.get(
    MODEL_PATH + "/events",
    summary="A model's events, oldest first",
    operation_id="listModelEvents",
    responses={
        200: answer(ModelEventsBody, SEED_EVENTS, "A page of the model's CloudEvents"),
        **_invalid(f"limit: must be between 1 and {listing.MAX_LIMIT}, got 0"),
        **_UNAUTHENTICATED,
        **_NOT_FOUND,
        503: refusal("event history unavailable, retry shortly", "MODEL_EVENTS did not answer"),
    },
)
async def model_events(
    model_id: ModelId,
    caller: CallerDep,
    models: ModelsDep,
    limit: Annotated[
        int, Query(json_schema_extra={"minimum": 1, "maximum": listing.MAX_LIMIT})
    ] = listing.DEFAULT_LIMIT,
    after: Annotated[
        int | None,
        Query(
            description="The `next_after` of the last page",
            json_schema_extra={"minimum": 0, "maximum": LAST_SEQUENCE - 1},
        ),
    ] = None,
) -> Response:
    page = await models.events(
        model_id, organization_id=caller.organization_id, limit=limit, after=after
    )
    body = orjson.dumps({"events": page.events, "next_after": page.next_after})
    return Response(body, media_type="application/json")
