"""The seed's six endpoints under `/v1/organization/models`, thin over `Models`."""

from typing import Annotated, Any, Final

import orjson
from fastapi import APIRouter, Body, Header, Query, Request, Response
from pydantic import ValidationError

from services.api import listing
from services.api.requests import CreateModelRequest
from services.api.views import all_entry, created_view, detail_view, etag, list_entry
from services.api.web.dependencies import CallerDep, ModelsDep, RuntimeDep
from services.api.web.errors import describe
from services.api.web.examples import (
    PATCH_EXAMPLE,
    SEED_ALL,
    SEED_CREATE_REQUEST,
    SEED_CREATED,
    SEED_DETAIL,
    SEED_LIST,
    SEED_STATUS,
    error_example,
)
from services.api.web.responses import JsonResponse
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

Responses = dict[int | str, dict[str, Any]]
_UNAUTHENTICATED: Final[Responses] = {401: error_example("missing or invalid API key")}
_DOWN: Final[Responses] = {503: error_example(INVENTORY_UNAVAILABLE_MESSAGE)}

router = APIRouter(prefix="/v1/organization/models", tags=["organization models"])


def _ok(example: dict[str, Any]) -> Responses:
    return {200: {"content": {"application/json": {"example": example}}}}


@router.get(
    "/status",
    summary="Check cluster status",
    responses={**_ok(SEED_STATUS), **_UNAUTHENTICATED, **_DOWN},
)
async def cluster_status(caller: CallerDep, models: ModelsDep) -> JsonResponse:
    cluster, quota = await models.cluster_status(organization_id=caller.organization_id)
    return JsonResponse(
        {"organization_id": caller.organization_id, "cluster_status": cluster, "quota": quota}
    )


@router.get(
    "/all",
    summary="List all models (managed and unmanaged)",
    responses={**_ok(SEED_ALL), **_UNAUTHENTICATED, **_DOWN},
)
async def all_models(
    caller: CallerDep,
    runtime: RuntimeDep,
    managed: Annotated[str | None, Query(description="`true` or `false`")] = None,
    namespace: str | None = None,
    status: Annotated[str | None, Query(description=" | ".join(listing.PHASES))] = None,
    organization: Annotated[str | None, Query(description="`mine`: only your own")] = None,
    limit: Annotated[int | None, Query(description="At most 1000; none: all")] = None,
    offset: int = 0,
) -> Response:
    where = listing.workload_filter(
        managed=managed, namespace=namespace, status=status, organization=organization
    )
    window = listing.page(limit=limit, offset=offset, required=False)
    inventory = runtime.models.inventory
    entries, pages = await inventory.models()
    version = runtime.registry.read_version
    key = (pages, version, where, window)
    rendered = runtime.rendered_all.get(caller.organization_id)
    if version is not None and rendered is not None and rendered[0] == key:
        return Response(rendered[1], media_type="application/json")
    mine = [
        entry.public_id
        for entry in entries
        if entry.is_managed and entry.public_id and entry.organization_id == caller.organization_id
    ]
    own = await runtime.registry.own_models(caller.organization_id, mine) if mine else {}
    models = [all_entry(e, organization_id=caller.organization_id, own=own) for e in entries]
    models = [m for m in models if where.matches(m)]
    shown = window.window(models)
    next_offset = window.next_offset(shown=len(shown), total=len(models))
    body = orjson.dumps({"models": shown, "total": len(models), "next_offset": next_offset})
    if version is not None:
        runtime.remember_all(caller.organization_id, key=key, body=body)
    return Response(body, media_type="application/json")


@router.post(
    "",
    status_code=201,
    summary="Create and deploy a new model",
    responses={
        201: {"content": {"application/json": {"example": SEED_CREATED}}},
        400: error_example(
            "--served-model-name 'wrong-name' must match model name 'qwen3-coder-30b' "
            "(required by Aibrix for autoscaling)"
        ),
        **_UNAUTHENTICATED,
        403: error_example(NOT_IN_CLUSTER_MESSAGE),
        409: error_example(
            "a model named 'qwen3-coder-30b' already exists in namespace 'jan-models'"
        ),
        413: error_example("request body larger than 262144 bytes"),
        415: error_example("Content-Type must be application/json"),
        429: error_example(RateLimitedError(retry_after_seconds=1).message),
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
    runtime: RuntimeDep,
) -> JsonResponse:
    retry_after = runtime.buckets.take(caller.key_id)
    if retry_after:
        raise RateLimitedError(retry_after_seconds=retry_after)
    document = await runtime.models.create(body, organization_id=caller.organization_id)
    return JsonResponse(created_view(document), status_code=201)


@router.get(
    "",
    summary="List this organization's managed models",
    responses={**_ok(SEED_LIST), **_UNAUTHENTICATED},
)
async def list_models(
    caller: CallerDep,
    runtime: RuntimeDep,
    status: Annotated[str | None, Query(description=" | ".join(listing.MODEL_STATUSES))] = None,
    model_type: str | None = None,
    tag: Annotated[list[str] | None, Query(description="Repeated: all of them")] = None,
    is_public: Annotated[str | None, Query(description="`true` or `false`")] = None,
    q: Annotated[str | None, Query(description="In the name or display name")] = None,
    limit: int = listing.DEFAULT_LIMIT,
    offset: int = 0,
) -> JsonResponse:
    where = listing.model_filter(
        status=status, model_type=model_type, tags=tag, is_public=is_public, q=q
    )
    window = listing.page(limit=limit, offset=offset)
    models, total = await runtime.registry.page(
        caller.organization_id, limit=limit, offset=offset, where=where
    )
    next_offset = window.next_offset(shown=len(models), total=total)
    body = {"models": [list_entry(m) for m in models], "total": total, "next_offset": next_offset}
    return JsonResponse(body)


@router.get(
    "/{model_id}",
    summary="Get model details",
    responses={
        **_ok(SEED_DETAIL),
        **_UNAUTHENTICATED,
        404: error_example("model 'mdl_abc123def456' not found"),
    },
)
async def get_model(model_id: str, caller: CallerDep, models: ModelsDep) -> JsonResponse:
    document = await models.get(model_id, organization_id=caller.organization_id)
    return JsonResponse(detail_view(document), headers={"ETag": etag(document)})


# --- day two: change and restart (DESIGN 10) ------------------------------------------
_DAY_TWO: Final[Responses] = {
    **_UNAUTHENTICATED,
    404: error_example("model 'mdl_abc123def456' not found"),
    409: error_example(ModelBeingDeletedError().message),
    **_DOWN,
}


@router.patch(
    "/{model_id}",
    summary="Change a model in place (JSON merge patch over the create body, minus name)",
    responses={
        **_ok(SEED_DETAIL),
        400: error_example(NameImmutableError().message),
        412: error_example(GenerationMismatchError(generation=3).message),
        **_DAY_TWO,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                media: {"schema": {"type": "object"}, "example": PATCH_EXAMPLE}
                for media in ("application/merge-patch+json", "application/json")
            },
        }
    },
)
async def update_model(
    model_id: str,
    request: Request,
    caller: CallerDep,
    models: ModelsDep,
    if_match: Annotated[str | None, Header()] = None,
) -> JsonResponse:
    try:
        patch = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError("request body is not valid JSON") from exc
    try:
        document = await models.update(
            model_id, patch, organization_id=caller.organization_id, if_match=if_match
        )
    except ValidationError as exc:
        raise InvalidRequestError(describe(exc.errors())) from exc
    return JsonResponse(detail_view(document), headers={"ETag": etag(document)})


@router.post(
    "/{model_id}/restart",
    status_code=202,
    summary="Restart a model's pods (a new generation); retries a failed model",
    responses={202: {"content": {"application/json": {"example": SEED_DETAIL}}}, **_DAY_TWO},
)
async def restart_model(model_id: str, caller: CallerDep, models: ModelsDep) -> JsonResponse:
    document = await models.restart(model_id, organization_id=caller.organization_id)
    return JsonResponse(detail_view(document), status_code=202, headers={"ETag": etag(document)})


@router.delete(
    "/{model_id}",
    status_code=204,
    summary="Delete a model and all its Kubernetes resources",
    responses={**_UNAUTHENTICATED, 404: error_example("model 'mdl_abc123def456' not found")},
)
async def delete_model(model_id: str, caller: CallerDep, models: ModelsDep) -> Response:
    await models.delete(model_id, organization_id=caller.organization_id)
    return Response(status_code=204)


# --- day two: a model's history -------------------------------------------------------


@router.get(
    "/{model_id}/events",
    summary="A model's events, oldest first",
    responses={
        **_UNAUTHENTICATED,
        404: error_example("model 'mdl_abc123def456' not found"),
    },
)
async def model_events(
    model_id: str,
    caller: CallerDep,
    runtime: RuntimeDep,
    limit: int = listing.DEFAULT_LIMIT,
    after: Annotated[int | None, Query(description="The `next_after` of the last page")] = None,
) -> Response:
    limit, after = listing.history_page(limit=limit, after=after)
    document = await runtime.models.get(model_id, organization_id=caller.organization_id)
    page = await runtime.history.page(
        organization_id=document["organization_id"],
        name=document["name"],
        public_id=document["public_id"],
        created_at=document["created_at"],
        after=after,
        limit=limit,
    )
    body = orjson.dumps({"events": page.events, "next_after": page.next_after})
    return Response(body, media_type="application/json")
