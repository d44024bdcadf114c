"""Watch streams: one JSON event per line over a chunked response.

The watcher is registered before the snapshot (or history replay) is taken, and both run
without yielding to the event loop, so no event falls between them; queued events at or
below the snapshot's revision are skipped. An idle stream checks every second whether the
client went away, and ends on `timeoutSeconds`, on server stop or on `cut_watches()`.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from kubesim import conversion, errors
from kubesim.metadata_only import partial
from kubesim.resources import ResourceType
from kubesim.selectors import Predicate
from kubesim.storage import CLOSE, Event, Storage
from kubesim.tables import to_table

Obj = dict[str, Any]


def _line(event_type: str, obj: Obj) -> bytes:
    return orjson.dumps({"type": event_type, "object": obj}) + b"\n"


def _versioned(rt: ResourceType, obj: Obj) -> Obj:
    return conversion.served(rt, obj)


class _TableRows:
    """What a watch asked for in Table format (`kubectl get -w`) sends as each event's
    object: a one-row `meta.k8s.io/v1` Table at the object's resourceVersion, the column
    definitions in the first event only (later ones carry `null`), as the apiserver does."""

    def __init__(self, rt: ResourceType) -> None:
        self.rt = rt
        self.first = True

    def __call__(self, obj: Obj) -> Obj:
        served = _versioned(self.rt, obj)
        table = to_table(
            self.rt, [served], {"resourceVersion": served["metadata"]["resourceVersion"]}
        )
        if not self.first:
            table["columnDefinitions"] = None
        self.first = False
        return table


def seen_through(event: Event, predicate: Predicate | None) -> tuple[str, Obj] | None:
    """The event a watch with this selector sends, as the apiserver's watch cache does: an
    object modified into the selection is ADDED, one modified out of it is DELETED (the
    object as it was, at the new resourceVersion), one outside it before and after is not
    sent at all."""
    if predicate is None:
        return event.type, event.obj
    now = predicate(event.obj)
    if event.type != "MODIFIED" or event.old is None:
        return (event.type, event.obj) if now else None
    before = predicate(event.old)
    if now:
        return ("MODIFIED" if before else "ADDED"), event.obj
    if not before:
        return None
    old_meta = {
        **event.old["metadata"],
        "resourceVersion": event.obj["metadata"]["resourceVersion"],
    }
    return "DELETED", {**event.old, "metadata": old_meta}


async def serve_watch(
    request: web.Request,
    *,
    storage: Storage,
    rt: ResourceType,
    namespace: str | None,
    predicate: Predicate | None,
    expire: bool,
    bookmark_interval: float,
    as_table: bool = False,
    metadata_only: str | None = None,
) -> web.StreamResponse:
    """`metadata_only` names the group/version of the `PartialObjectMetadata` each event's
    object is reduced to; None sends objects whole."""
    q = request.query
    shown: Callable[[Obj], Obj]
    if metadata_only is not None:
        shown = functools.partial(partial, group_version=metadata_only)
    elif as_table:
        shown = _TableRows(rt)
    else:
        shown = functools.partial(_versioned, rt)
    rv_param = q.get("resourceVersion", "")
    timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else None
    bookmarks = q.get("allowWatchBookmarks", "").lower() in ("true", "1")
    if rv_param and not rv_param.isdigit():
        raise errors.bad_request(f"invalid resource version: {rv_param!r}")

    response = web.StreamResponse(
        headers={"Content-Type": "application/json", "Cache-Control": "no-cache, private"}
    )
    response.enable_chunked_encoding()
    await response.prepare(request)

    if expire or (rv_param not in ("", "0") and not storage.covers(int(rv_param))):
        message = f"too old resource version: {rv_param or 0} ({storage.history_start + 1})"
        await response.write(_line("ERROR", errors.gone(message).status()))
        await response.write_eof()
        return response

    key = rt.storage_key
    watcher = storage.watch(key, namespace)
    try:
        if rv_param in ("", "0"):
            initial = [
                Event("ADDED", key, o, int(o["metadata"]["resourceVersion"]))
                for o in storage.iter(key, namespace)
            ]
            initial.sort(key=lambda e: e.rv)
        else:
            initial = storage.history_since(key, int(rv_param), namespace)
        snapshot_rv = storage.revision
        chunk = [
            _line(seen[0], shown(seen[1]))
            for e in initial
            if (seen := seen_through(e, predicate)) is not None
        ]
        if chunk:
            await response.write(b"".join(chunk))
        deadline = None if timeout is None else time.monotonic() + timeout
        next_bookmark = time.monotonic() + bookmark_interval
        while True:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            if request.transport is None or request.transport.is_closing():
                break
            if bookmarks and now >= next_bookmark:
                await response.write(_bookmark(rt, storage.revision))
                next_bookmark = now + bookmark_interval
            wait = 1.0
            if deadline is not None:
                wait = min(wait, deadline - now)
            if bookmarks:
                wait = min(wait, max(0.0, next_bookmark - now))
            try:
                item = await asyncio.wait_for(watcher.queue.get(), timeout=max(wait, 0.001))
            except TimeoutError:
                continue
            if item is CLOSE:
                return response
            assert isinstance(item, Event)
            if item.rv <= snapshot_rv:
                continue
            seen = seen_through(item, predicate)
            if seen is not None:
                await response.write(_line(seen[0], shown(seen[1])))
        if bookmarks:
            await response.write(_bookmark(rt, storage.revision))
        await response.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        storage.unwatch(watcher)
    return response


def _bookmark(rt: ResourceType, revision: int) -> bytes:
    return _line(
        "BOOKMARK",
        {
            "kind": rt.kind,
            "apiVersion": rt.api_version,
            "metadata": {"resourceVersion": str(revision)},
        },
    )
