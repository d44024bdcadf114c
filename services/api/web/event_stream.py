"""`GET /v1/organization/models/events/stream`: the organization's model events as
Server-Sent Events, authenticated with the `Authorization` header like every route (a
key never travels in a URL).

Each SSE message is one CloudEvent as published, with its MODEL_EVENTS stream sequence as
the SSE `id`; the stream opens with an `id` alone, the sequence it starts after. A client
that reconnects with `Last-Event-ID: N` gets every event after N (`0` replays what the
stream still holds). A client that falls too far behind gets a
final `overflow` event naming the last id it was sent, and the stream ends.
"""

from collections.abc import AsyncIterator
from typing import Annotated, Final

import orjson
from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from services.api.history import LAST_SEQUENCE, FeedEvent, FeedOverflowedError
from services.api.web.contract import model_id_schema, refusal
from services.api.web.dependencies import CallerDep, ModelsDep
from shared.errors import InvalidRequestError

MEDIA_TYPE: Final = "text/event-stream"
RETRY_MILLISECONDS: Final = 2000
_HEADERS: Final = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}

router = APIRouter(prefix="/v1/organization/models", tags=["organization models"])


def sse_message(event: FeedEvent) -> bytes:
    lines = event.data.splitlines() or [b""]
    data = b"".join(b"data: " + line + b"\n" for line in lines)
    return b"id: %d\n%s\n" % (event.sequence, data)


def overflow_message(*, last_sequence: int, capacity: int) -> bytes:
    data = orjson.dumps(
        {
            "error": f"the client fell more than {capacity} events behind; "
            "reconnect with Last-Event-ID to resume",
            "last_event_id": str(last_sequence),
        }
    )
    return b"event: overflow\ndata: " + data + b"\n\n"


def _sequence(last_event_id: str | None) -> int | None:
    if last_event_id is None:
        return None
    text = last_event_id.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 20 or int(text) >= LAST_SEQUENCE:
        raise InvalidRequestError(
            f"Last-Event-ID: must be a stream sequence (a non-negative integer), "
            f"got {last_event_id[:40]!r}"
        )
    return int(text)


@router.get(
    "/events/stream",
    summary="Stream this organization's model events (Server-Sent Events)",
    operation_id="streamModelEvents",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
            "description": "CloudEvents, one per SSE message; never ends while the client stays",
        },
        400: refusal(
            "Last-Event-ID: must be a stream sequence (a non-negative integer)",
            "`Last-Event-ID` is not a stream sequence",
        ),
        401: refusal("missing or invalid API key", "No valid `Authorization: Bearer <key>`"),
        404: refusal("model 'mdl_abc123def456' not found", "`model` names no model of yours"),
    },
)
async def event_stream(
    caller: CallerDep,
    models: ModelsDep,
    model: Annotated[
        str | None, Query(description="Only this model's events", json_schema_extra=model_id_schema)
    ] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """Every event of the caller's organization, or of one of its models with `?model=`
    (its id or public id). Resume with `Last-Event-ID`; `0` replays the stream."""
    after = _sequence(last_event_id)
    # subscribed before the 200, so nothing published after it is missed
    feed = await models.open_feed(organization_id=caller.organization_id, model=model, after=after)

    async def messages() -> AsyncIterator[bytes]:
        last = feed.after
        try:
            # An `id` alone dispatches nothing, but a client resumes from it (EventSource too).
            yield b"retry: %d\nid: %d\n: connected\n\n" % (RETRY_MILLISECONDS, last)
            while True:
                try:
                    event = await feed.next()
                except FeedOverflowedError:
                    yield overflow_message(last_sequence=last, capacity=feed.capacity)
                    return
                if event is None:
                    yield b": keep-alive\n\n"
                    continue
                last = event.sequence
                yield sse_message(event)
        finally:
            await feed.close()

    # The background task closes the feed too when the body never started (a client gone early).
    return StreamingResponse(
        messages(), media_type=MEDIA_TYPE, headers=_HEADERS, background=BackgroundTask(feed.close)
    )
