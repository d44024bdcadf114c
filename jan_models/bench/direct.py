"""The direct baseline (jan-server's way) and the floors, served as one separate process.

`GET /v1/organization/models/status` and `GET /v1/organization/models/all` answer the
same bodies as the api, but compute them on every request from fresh lists read from the
Kubernetes API server with kubernetes-asyncio: nodes, pods, the four required CRDs (read
by name) and the storage classes; model Deployments and their pods. The answer is
computed by the inventory's own pure code (`ClusterStore`, `ReplyCache`), so only the way
of getting the facts differs. The baseline is given every advantage: the lists run concurrently,
the JSON is read raw with orjson (not through the client's generated models), and it
checks no API key and reads no registry.

`GET /floor` is the HTTP floor: a bare FastAPI endpoint returning a constant through the
same uvicorn setup as the api. With `--nats-url`, the process also answers `bench.echo`
with an empty reply: the messaging floor.

Run: python -m jan_models.bench.direct --kubeconfig PATH --port PORT [--nats-url URL]
"""

import argparse
import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

import orjson
import uvicorn
from fastapi import FastAPI
from kubernetes_asyncio.client import (
    ApiClient,
    ApiextensionsV1Api,
    AppsV1Api,
    CoreV1Api,
    StorageV1Api,
)
from kubernetes_asyncio.client.exceptions import ApiException
from starlette.responses import Response

from services.inventory.health import HealthPolicy
from services.inventory.reply_cache import ReplyCache
from services.inventory.store import ClusterStore, Watched
from shared import crds, labels
from shared.kubernetes import load_api_client

ECHO_SUBJECT: Final = "bench.echo"
FLOOR_PATH: Final = "/floor"
PREFIX: Final = "/v1/organization/models"
REQUIRED_CRD_NAMES: Final = tuple(crd.name for crd in crds.REQUIRED_CRDS)
Raw = dict[str, Any]


class RawJson(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def _items(call: Any, **kwargs: Any) -> list[Raw]:
    response = await call(_preload_content=False, **kwargs)
    items: list[Raw] = orjson.loads(await response.read())["items"]
    return items


async def _crds(api: ApiextensionsV1Api) -> list[Raw]:
    """The required CRDs read one by name each, concurrently; a 404 is a missing CRD."""

    async def read(name: str) -> Raw | None:
        try:
            response: Any = await api.read_custom_resource_definition(name, _preload_content=False)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        crd: Raw = orjson.loads(await response.read())
        return crd

    found = await asyncio.gather(*(read(name) for name in REQUIRED_CRD_NAMES))
    return [crd for crd in found if crd is not None]


async def cluster_status(client: ApiClient) -> Raw:
    """The status body's `cluster_status`, from lists read now."""
    core, storage, ext = CoreV1Api(client), StorageV1Api(client), ApiextensionsV1Api(client)
    nodes, pods, classes, found = await asyncio.gather(
        _items(core.list_node),
        _items(core.list_pod_for_all_namespaces),
        _items(storage.list_storage_class),
        _crds(ext),
    )
    store = ClusterStore(policy=HealthPolicy())
    replies = ReplyCache(store)
    store.subscribe(replies)
    store.replace(Watched.NODES, nodes)
    store.replace(Watched.PODS, pods)
    store.replace(Watched.STORAGE_CLASSES, classes)
    store.replace(Watched.CRDS, found)
    store.replace(Watched.WORKLOADS, [])
    status: Raw = orjson.loads(replies.status_reply())["cluster_status"]
    return status


async def all_models(client: ApiClient) -> list[Raw]:
    """Every model Deployment with its observed phase, from lists read now."""
    apps, core = AppsV1Api(client), CoreV1Api(client)
    workloads, pods = await asyncio.gather(
        _items(apps.list_deployment_for_all_namespaces, label_selector=labels.MODEL_NAME),
        _items(core.list_pod_for_all_namespaces, label_selector=labels.MODEL_NAME),
    )
    store = ClusterStore(policy=HealthPolicy())
    store.replace(Watched.PODS, pods)
    store.replace(Watched.WORKLOADS, workloads)
    entries = []
    for key in sorted(store.workloads):
        workload = store.workloads[key]
        entries.append(
            {
                "name": workload.name,
                "namespace": workload.namespace,
                "is_managed": workload.managed,
                "status": store.assessment(key).phase,
                "replicas": workload.replicas,
                "created_at": workload.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
                if workload.created_at
                else None,
            }
        )
    return entries


MAX_SIZED_FLOOR: Final = 64 * 1024 * 1024


@functools.lru_cache(maxsize=8)
def sized_body(size: int) -> bytes:
    """A constant JSON document of exactly `size` bytes (at least 12)."""
    size = min(max(size, 12), MAX_SIZED_FLOOR)
    return b'{"pad":"' + b"x" * (size - 10) + b'"}'


def create_app(*, kubeconfig: Path, organization_id: int) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.kube = await load_api_client(kubeconfig)
        try:
            yield
        finally:
            await app.state.kube.close()

    app = FastAPI(lifespan=lifespan, default_response_class=RawJson)

    @app.get(FLOOR_PATH)
    async def floor() -> RawJson:
        return RawJson({"status": "ok"})

    @app.get(FLOOR_PATH + "/{size}")
    async def sized_floor(size: int) -> Response:
        """The floor for a body of `size` bytes: what moving an answer that big costs."""
        return Response(sized_body(size), media_type="application/json")

    @app.get("/readyz")
    async def readyz() -> RawJson:
        return RawJson({"status": "ready"})

    @app.get(f"{PREFIX}/status")
    async def status() -> RawJson:
        body = await cluster_status(app.state.kube)
        return RawJson({"organization_id": organization_id, "cluster_status": body})

    @app.get(f"{PREFIX}/all")
    async def every_model() -> RawJson:
        models = await all_models(app.state.kube)
        return RawJson({"models": models, "total": len(models)})

    return app


async def echo(nats_url: str) -> Any:
    """The messaging floor's responder: an empty reply to every request."""
    from nats.aio.msg import Msg

    from shared import messaging

    client = await messaging.connect(nats_url, name="bench-echo")

    async def answer(msg: Msg) -> None:
        await msg.respond(b"")

    await client.subscribe(ECHO_SUBJECT, cb=answer)
    return client


async def serve(args: argparse.Namespace) -> None:
    app = create_app(kubeconfig=args.kubeconfig, organization_id=args.organization_id)
    responder = await echo(args.nats_url) if args.nats_url else None
    # The api's uvicorn setup (services/api/app.py `run`).
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
    )
    try:
        await uvicorn.Server(config).serve()
    finally:
        if responder is not None:
            await responder.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--organization-id", type=int, default=1)
    parser.add_argument("--nats-url")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
