"""List, then watch from the list's resourceVersion: kopf's loop, over kubernetes-asyncio.

Requests go through the generated `ApiClient` (its kubeconfig, TLS and auth) but with
`_preload_content=False`: bodies are parsed with orjson into plain dicts, because turning
10,000 Deployments into generated model objects costs seconds and most of the fields are
never read. Lists are paged (`limit`/`continue`).

Recovery rules:
- `410 Gone` (an ERROR event or a list/continue answering 410): list again at once and
  reconcile (the sink's `listed` replaces what it held, so what vanished is removed);
- a stream that ends before its `timeoutSeconds` (cut, dropped): list again;
- a stream that ends at its timeout: watch again from the last resourceVersion seen
  (bookmarks keep it fresh);
- any other failure: back off (exponential, full jitter, capped) and list again.
One object that cannot be applied is counted and logged; it never stops the watch.

A target read `metadata_only` (Secrets) asks for `PartialObjectMetadata`, the shape
client-go's metadata client asks for: the apiserver then sends names, labels and
annotations but never a Secret's data. The Accept header names that shape alone, with
no plain-JSON fallback, so a server that cannot answer so refuses (406) rather than
sending the values. A list must ask for the list shape and a watch for the item shape:
a watch asking for the list shape gets whole objects.
"""

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import aiohttp
import orjson
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from services.inventory.metrics import BAD_OBJECTS, WATCH_EVENTS, WATCH_LAG, WATCH_RESTARTS
from services.inventory.objects import Raw, last_write_time
from services.inventory.store import Watched

log = logging.getLogger(__name__)
GONE: Final = 410
RESTART_REASONS: Final = ("gone", "error", "dropped")
JSON: Final = "application/json"
METADATA_LIST: Final = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
METADATA_ITEM: Final = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"


class KubeRequestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"kubernetes answered {status}: {message}")
        self.status = status


class ResourceGoneError(KubeRequestError):
    def __init__(self, message: str) -> None:
        super().__init__(GONE, message)


class StreamDroppedError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class WatchTarget:
    kind: Watched
    path: str
    label_selector: str | None = None
    field_selector: str | None = None
    metadata_only: bool = False


class WatchSink(Protocol):
    def listed(self, kind: Watched, items: list[Raw]) -> None: ...

    def event(self, kind: Watched, event_type: str, obj: Raw, *, received: float) -> None: ...


@dataclass(frozen=True, slots=True)
class WatchTiming:
    timeout_seconds: int = 300
    page_size: int = 1000
    backoff_initial: float = 0.2
    backoff_max: float = 10.0

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Full jitter: uniform in [0, min(max, initial x 2^attempt)]."""
        return float(rand() * min(self.backoff_max, self.backoff_initial * 2.0**attempt))


def _status_error(status: int, body: bytes) -> KubeRequestError:
    try:
        message = str(orjson.loads(body).get("message", ""))
    except (orjson.JSONDecodeError, AttributeError):
        message = body[:200].decode(errors="replace")
    return ResourceGoneError(message) if status == GONE else KubeRequestError(status, message)


class KubeWatch:
    def __init__(
        self, *, client: ApiClient, target: WatchTarget, sink: WatchSink, timing: WatchTiming
    ) -> None:
        self.client = client
        self.target = target
        self.sink = sink
        self.timing = timing

    async def run(self) -> None:
        kind = self.target.kind
        for reason in RESTART_REASONS:  # exported at 0 from the start, not from the first restart
            WATCH_RESTARTS.labels(kind=kind, reason=reason)
        attempt = 0
        while True:
            try:
                resource_version = await self.list()
                attempt = 0
                while True:
                    resource_version = await self.watch(resource_version)
            except ResourceGoneError as exc:
                WATCH_RESTARTS.labels(kind=kind, reason="gone").inc()
                log.info("watch expired, listing again", extra={"kind": kind, "detail": str(exc)})
            except (ApiException, KubeRequestError) as exc:
                status = getattr(exc, "status", 0)
                if status == GONE:
                    WATCH_RESTARTS.labels(kind=kind, reason="gone").inc()
                    continue
                WATCH_RESTARTS.labels(kind=kind, reason="error").inc()
                await self._pause(attempt, exc)
                attempt += 1
            except StreamDroppedError:
                WATCH_RESTARTS.labels(kind=kind, reason="dropped").inc()
                log.info("watch stream dropped, listing again", extra={"kind": kind})
                await asyncio.sleep(self.timing.backoff(0))
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
                WATCH_RESTARTS.labels(kind=kind, reason="error").inc()
                await self._pause(attempt, exc)
                attempt += 1

    async def _pause(self, attempt: int, exc: BaseException) -> None:
        delay = self.timing.backoff(attempt)
        log.warning(
            "watch failed, backing off",
            extra={"kind": self.target.kind, "error": repr(exc), "delay_seconds": round(delay, 3)},
        )
        await asyncio.sleep(delay)

    def _query(self, **params: str) -> list[tuple[str, str]]:
        query = [(k, v) for k, v in params.items() if v]
        if self.target.label_selector:
            query.append(("labelSelector", self.target.label_selector))
        if self.target.field_selector:
            query.append(("fieldSelector", self.target.field_selector))
        return query

    async def _get(
        self, query: list[tuple[str, str]], *, read_timeout: float, watch: bool = False
    ) -> Any:
        accept = JSON
        if self.target.metadata_only:
            accept = METADATA_ITEM if watch else METADATA_LIST
        return await self.client.call_api(
            self.target.path,
            "GET",
            query_params=query,
            header_params={"Accept": accept},
            auth_settings=["BearerToken"],
            _preload_content=False,
            _request_timeout=aiohttp.ClientTimeout(sock_connect=10, sock_read=read_timeout),
        )

    async def list(self) -> str:
        """Every object, page by page; hands them to the sink and returns the list's version."""
        items: list[Raw] = []
        continue_token = ""
        while True:
            query = self._query(limit=str(self.timing.page_size), **{"continue": continue_token})
            response = await self._get(query, read_timeout=60)
            async with response:
                body = await response.read()
                if response.status != 200:
                    raise _status_error(response.status, body)
            page = orjson.loads(body)
            items.extend(page.get("items") or [])
            metadata = page.get("metadata") or {}
            continue_token = metadata.get("continue") or ""
            if not continue_token:
                break
        self.sink.listed(self.target.kind, items)
        return str(metadata.get("resourceVersion", ""))

    async def watch(self, resource_version: str) -> str:
        """One watch stream; returns the last version seen when it ends at its timeout."""
        timeout = self.timing.timeout_seconds
        query = self._query(
            watch="true",
            resourceVersion=resource_version,
            allowWatchBookmarks="true",
            timeoutSeconds=str(timeout),
        )
        started = time.monotonic()
        response = await self._get(query, read_timeout=timeout + 30, watch=True)
        async with response:
            if response.status != 200:
                raise _status_error(response.status, await response.read())
            pending = b""
            async for chunk in response.content.iter_any():
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop()
                for line in lines:
                    if line.strip():
                        resource_version = self._handle(line, resource_version)
        if time.monotonic() - started < timeout * 0.9:
            raise StreamDroppedError
        return resource_version

    def _handle(self, line: bytes, resource_version: str) -> str:
        kind = self.target.kind
        received = time.monotonic()
        event = orjson.loads(line)
        event_type = event.get("type")
        obj = event.get("object") or {}
        if event_type == "ERROR":
            raise _status_error(int(obj.get("code") or 500), orjson.dumps(obj))
        new_version = str((obj.get("metadata") or {}).get("resourceVersion") or resource_version)
        if event_type == "BOOKMARK":
            return new_version
        WATCH_EVENTS.labels(kind=kind).inc()
        if event_type != "DELETED" and (written := last_write_time(obj)) is not None:
            WATCH_LAG.labels(kind=kind).observe(
                max(0.0, (datetime.now(UTC) - written).total_seconds())
            )
        try:
            self.sink.event(kind, str(event_type), obj, received=received)
        except Exception:
            BAD_OBJECTS.labels(kind=kind).inc()
            log.exception(
                "watch event could not be applied",
                extra={"kind": kind, "object": (obj.get("metadata") or {}).get("name")},
            )
        return new_version
