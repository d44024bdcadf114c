"""`/healthz`, `/readyz` and `/metrics` for the FastStream services (deployer, inventory).

Health means the process runs and its broker is connected; readiness is the service's
own judgement (the inventory is ready once every watch has synced).
"""

from collections.abc import Callable, Sequence

from faststream.asgi import AsgiResponse, get, make_ping_asgi
from faststream.asgi.types import ASGIApp, Scope
from faststream.nats import NatsBroker
from prometheus_client import make_asgi_app


def probe_routes(broker: NatsBroker, *, ready: Callable[[], bool]) -> Sequence[tuple[str, ASGIApp]]:
    @get
    async def readyz(scope: Scope) -> AsgiResponse:
        return AsgiResponse(b"ready", 200) if ready() else AsgiResponse(b"not ready", 503)

    healthz = make_ping_asgi(broker, timeout=2.0, include_in_schema=False)
    return [("/healthz", healthz), ("/readyz", readyz), ("/metrics", make_asgi_app())]
