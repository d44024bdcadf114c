"""The cluster over raw HTTP (`transport.KubeTransport`), one path for every kind.

The generated typed APIs are avoided on purpose: a server-side apply that creates an
object answers 201, which they map to None, and `CustomObjectsApi` sends a JSON patch
unless told otherwise. kubernetes-asyncio's `ApiClient.call_api` is avoided too, for
its per-request CPU (see `transport`); its `Configuration` still brings the
kubeconfig's host, TLS and credentials (token refresh included). Bodies are encoded
with orjson once; answers are decoded only when they are read (a list, an error), so
every status, Status body and `Retry-After` header is seen as the apiserver sent it.

Namespace and CRD lookups are cached: at hundreds of applies a second, asking the
apiserver each time whether `jan-models` exists would double the load. A 404 on a write
drops the cached namespace, so a namespace deleted under us is created again on retry.
"""

import asyncio
import time
from typing import Any, Final
from urllib.parse import urlencode

import aiohttp
import orjson
from kubernetes_asyncio.client import ApiClient

from services.deployer.adapters.transport import JSON, KubeTransport
from services.deployer.failures import ClusterError, ClusterUnreachableError
from services.deployer.kinds import CRD_PATH, NAMESPACE_PATH, Kind
from services.deployer.manifests import Manifest, kind_of
from shared.labels import MANAGED_BY, MANAGED_BY_VALUE
from shared.names import FIELD_MANAGER

APPLY_CONTENT_TYPE: Final = "application/apply-patch+yaml"
_APPLY_QUERY: Final = {
    force: urlencode({"fieldManager": FIELD_MANAGER, "force": str(force).lower()})
    for force in (True, False)
}
_DELETE_OPTIONS: Final = orjson.dumps(
    {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
)


class KubernetesCluster:
    def __init__(
        self,
        api: ApiClient,
        *,
        request_timeout: float = 30.0,
        crd_cache_seconds: float = 30.0,
        connections: int = 64,
    ) -> None:
        self._api = api
        self._http = KubeTransport(
            api.configuration, timeout=request_timeout, connections=connections
        )
        self._crd_ttl = crd_cache_seconds
        self._namespaces: set[str] = set()
        self._crds: dict[str, tuple[bool, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def close(self) -> None:
        await self._http.close()
        await self._api.close()

    async def ensure_namespace(self, namespace: str) -> None:
        if namespace in self._namespaces:
            return
        async with self._lock(f"ns/{namespace}"):
            if namespace in self._namespaces:
                return
            status, _ = await self._call("GET", f"{NAMESPACE_PATH}/{namespace}", allow=(404,))
            if status == 404:
                body = {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": namespace, "labels": {MANAGED_BY: MANAGED_BY_VALUE}},
                }
                await self._call("POST", NAMESPACE_PATH, body=orjson.dumps(body), allow=(409,))
            self._namespaces.add(namespace)

    async def crd_exists(self, name: str) -> bool:
        cached = self._crds.get(name)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        async with self._lock(f"crd/{name}"):
            cached = self._crds.get(name)
            if cached is not None and cached[1] > time.monotonic():
                return cached[0]
            status, _ = await self._call("GET", f"{CRD_PATH}/{name}", allow=(404,))
            exists = status != 404
            self._crds[name] = (exists, time.monotonic() + self._crd_ttl)
            return exists

    async def labels_of(self, kind: Kind, *, namespace: str, name: str) -> dict[str, str] | None:
        status, body = await self._call("GET", kind.object_path(namespace, name), allow=(404,))
        if status == 404:
            return None
        labels = body.get("metadata", {}).get("labels") if isinstance(body, dict) else None
        return dict(labels or {})

    async def replicas_of(self, kind: Kind, *, namespace: str, name: str) -> int | None:
        status, body = await self._call("GET", kind.object_path(namespace, name), allow=(404,))
        if status == 404 or not isinstance(body, dict):
            return None
        replicas = (body.get("spec") or {}).get("replicas")
        return int(replicas) if isinstance(replicas, int) else None

    async def apply(self, manifest: Manifest, *, force: bool, manager: str = FIELD_MANAGER) -> None:
        meta = manifest["metadata"]
        path = kind_of(manifest).object_path(meta["namespace"], meta["name"])
        query = (
            _APPLY_QUERY[force]
            if manager == FIELD_MANAGER
            else urlencode({"fieldManager": manager, "force": str(force).lower()})
        )
        try:
            await self._call(
                "PATCH",
                path,
                query=query,
                body=orjson.dumps(manifest),
                content_type=APPLY_CONTENT_TYPE,
                read=False,
            )
        except ClusterError as exc:
            if exc.status == 404:
                self._namespaces.discard(meta["namespace"])
                self._crds.clear()
            raise

    async def delete(self, kind: Kind, *, namespace: str, name: str) -> bool:
        path = kind.object_path(namespace, name)
        status, _ = await self._call("DELETE", path, body=_DELETE_OPTIONS, allow=(404,))
        return status != 404

    async def list_names(self, kind: Kind, *, namespace: str, selector: str) -> list[str]:
        query = urlencode({"labelSelector": selector})
        _, body = await self._call("GET", kind.collection_path(namespace), query=query)
        items = (body.get("items") or []) if isinstance(body, dict) else []
        return [item["metadata"]["name"] for item in items]

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    async def _call(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        body: bytes | None = None,
        content_type: str = JSON,
        allow: tuple[int, ...] = (),
        read: bool = True,
    ) -> tuple[int, Any]:
        """Status and parsed body (None unless `read`); raises ClusterError unless 2xx or allowed."""
        try:
            response = await self._http.request(
                method, path, query=query, body=body, content_type=content_type
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ClusterUnreachableError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        status = response.status
        if 200 <= status < 300 or status in allow:
            return status, _json(response.body) if read else None
        reason, message = _status_of(_json(response.body), status)
        raise ClusterError(
            status=status,
            reason=reason,
            message=message,
            retry_after=_seconds(response.retry_after),
        )


def _json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode(errors="replace")[:500]


def _status_of(body: Any, status: int) -> tuple[str, str]:
    if isinstance(body, dict) and body.get("kind") == "Status":
        return str(body.get("reason") or status), str(body.get("message") or "")
    return f"HTTP{status}", str(body or "")[:500]


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
