"""`/healthz`, `/readyz` and `/metrics` for the FastStream services (deployer, inventory).

Health means the process runs and its broker is connected; readiness is the service's
own judgement (the inventory is ready once every watch has synced).
"""

from collections.abc import Callable, Sequence

from faststream.asgi import AsgiResponse, get, make_ping_asgi
from faststream.asgi.types import ASGIApp, Scope
from faststream.nats import NatsBroker
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest, make_asgi_app


def probe_routes(
    broker: NatsBroker,
    *,
    ready: Callable[[], bool],
    extra_metrics: Callable[[], bytes] | None = None,
) -> Sequence[tuple[str, ASGIApp]]:
    """`extra_metrics` appends families written by the service itself (the inventory's
    cluster gauges) to the registry's."""

    @get
    async def readyz(scope: Scope) -> AsgiResponse:
        return AsgiResponse(b"ready", 200) if ready() else AsgiResponse(b"not ready", 503)

    metrics: ASGIApp = make_asgi_app()
    if extra_metrics is not None:
        written = extra_metrics

        @get
        async def metrics(scope: Scope) -> AsgiResponse:
            body = generate_latest(REGISTRY) + written()
            return AsgiResponse(body, 200, headers={"content-type": CONTENT_TYPE_LATEST})

    healthz = make_ping_asgi(broker, timeout=2.0, include_in_schema=False)
    return [("/healthz", healthz), ("/readyz", readyz), ("/metrics", metrics)]
