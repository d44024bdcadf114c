"""HTTP control endpoints under `/_kubesim/` for out-of-process tests (never faulted).

- `GET /_kubesim/faults`: current settings
- `POST /_kubesim/faults` `{"latency": 0.05, "error_rate": 0.1, "error_codes": [500, 429]}`
- `DELETE /_kubesim/faults`: clear all faults
- `POST /_kubesim/cut-watches`: end every open watch stream; answers `{"cut": n}`
- `POST /_kubesim/expire-next-watch`: the next watch answers an ERROR event 410 Expired
- `POST /_kubesim/nodes/{name}/ready` `{"status": "False"}`: set a node's Ready condition
  (`True`, `False` = NotReady, `Unknown` = unreachable); answers the node
- `GET /_kubesim/audit`: every distinct request so far (user = bearer token, RBAC verb,
  group, resource, namespace) with its count; `DELETE /_kubesim/audit` forgets them
"""

from __future__ import annotations

import orjson
from aiohttp import web

from kubesim.audit import Audit
from kubesim.controllers.nodes import set_ready
from kubesim.errors import ApiError
from kubesim.faults import Faults
from kubesim.store import ObjectStore


def control_routes(faults: Faults, audit: Audit, store: ObjectStore) -> list[web.RouteDef]:
    def current() -> web.Response:
        return web.Response(body=orjson.dumps(faults.as_dict()), content_type="application/json")

    async def get_faults(request: web.Request) -> web.Response:
        return current()

    async def set_faults(request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read() or b"{}")
            faults.set(
                latency=body.get("latency"),
                error_rate=body.get("error_rate"),
                error_codes=body.get("error_codes"),
            )
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=f"bad fault settings: {exc}") from exc
        return current()

    async def clear_faults(request: web.Request) -> web.Response:
        faults.clear()
        return current()

    async def cut_watches(request: web.Request) -> web.Response:
        return web.Response(
            body=orjson.dumps({"cut": faults.cut_watches()}), content_type="application/json"
        )

    async def expire_next_watch(request: web.Request) -> web.Response:
        faults.expire_next_watch()
        return current()

    async def node_ready(request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read() or b"{}")
            node = set_ready(store, request.match_info["name"], str(body.get("status")))
        except (orjson.JSONDecodeError, AttributeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=f"bad node readiness: {exc}") from exc
        except ApiError as exc:
            raise web.HTTPNotFound(text=exc.message) from exc
        return web.Response(body=orjson.dumps(node), content_type="application/json")

    async def get_audit(request: web.Request) -> web.Response:
        records = [record.as_dict() | {"count": n} for record, n in audit.records.items()]
        return web.Response(body=orjson.dumps(records), content_type="application/json")

    async def clear_audit(request: web.Request) -> web.Response:
        audit.clear()
        return web.Response(body=b"[]", content_type="application/json")

    return [
        web.get("/_kubesim/audit", get_audit),
        web.delete("/_kubesim/audit", clear_audit),
        web.get("/_kubesim/faults", get_faults),
        web.post("/_kubesim/faults", set_faults),
        web.delete("/_kubesim/faults", clear_faults),
        web.post("/_kubesim/cut-watches", cut_watches),
        web.post("/_kubesim/expire-next-watch", expire_next_watch),
        web.post("/_kubesim/nodes/{name}/ready", node_ready),
    ]
