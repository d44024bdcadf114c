"""HTTP control endpoints under `/_kubesim/` for out-of-process tests (never faulted).

- `GET /_kubesim/faults`: current settings
- `POST /_kubesim/faults` `{"latency": 0.05, "error_rate": 0.1, "error_codes": [500, 429]}`
- `DELETE /_kubesim/faults`: clear all faults
- `POST /_kubesim/cut-watches`: end every open watch stream; answers `{"cut": n}`
- `POST /_kubesim/expire-next-watch`: the next watch answers an ERROR event 410 Expired
- `POST /_kubesim/nodes/{name}/ready` `{"status": "False"}`: set a node's Ready condition
  (`True`, `False` = NotReady, `Unknown` = unreachable); answers the node
- `GET /_kubesim/fault-rules`: targeted fault rules; `POST` one
  `{"verb": "patch", "resource": "deployments", "namespace": "ns", "name": "x",
  "code": 409, "message": "...", "count": 2, "seconds": 10}` (all but `code` optional)
  answers it with its `id`; `DELETE /_kubesim/fault-rules[/{id}]` removes all (or one)
- `GET /_kubesim/audit`: every distinct request so far (user = bearer token, RBAC verb,
  group, resource, namespace) with its count; `DELETE /_kubesim/audit` forgets them
  and the log
- `GET /_kubesim/audit/log?since=N`: requests in order (seq, time, user, user_agent,
  verb, api_group, resource, namespace, name, code, resource_version), after seq N
"""

from __future__ import annotations

import orjson
from aiohttp import web

from kubesim.audit import Audit
from kubesim.controllers.nodes import set_ready
from kubesim.errors import ApiError
from kubesim.faults import FaultRule, Faults
from kubesim.store import ObjectStore


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def control_routes(faults: Faults, audit: Audit, store: ObjectStore) -> list[web.RouteDef]:
    def current() -> web.Response:
        return _json(faults.as_dict())

    async def get_rules(request: web.Request) -> web.Response:
        return _json([r.as_dict() for r in faults.rules])

    async def add_rule(request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read() or b"{}")
            if not isinstance(body, dict):
                raise TypeError("a fault rule is a JSON object")
            rule = faults.add_rule(FaultRule.from_dict(body))
        except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=f"bad fault rule: {exc}") from exc
        return _json(rule.as_dict(), status=201)

    async def clear_rules(request: web.Request) -> web.Response:
        faults.rules.clear()
        return _json([])

    async def remove_rule(request: web.Request) -> web.Response:
        rule_id = request.match_info["id"]
        if not rule_id.isdigit() or not faults.remove_rule(int(rule_id)):
            raise web.HTTPNotFound(text=f"no fault rule {rule_id}")
        return _json([r.as_dict() for r in faults.rules])

    async def audit_log(request: web.Request) -> web.Response:
        since = request.query.get("since", "0")
        if not since.isdigit():
            raise web.HTTPBadRequest(text="since must be a sequence number")
        return _json([e.as_dict() for e in audit.since(int(since))])

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
        return _json({"cut": faults.cut_watches()})

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
        return _json(node)

    async def get_audit(request: web.Request) -> web.Response:
        records = [record.as_dict() | {"count": n} for record, n in audit.records.items()]
        return _json(records)

    async def clear_audit(request: web.Request) -> web.Response:
        audit.clear()
        return _json([])

    return [
        web.get("/_kubesim/audit", get_audit),
        web.get("/_kubesim/audit/log", audit_log),
        web.get("/_kubesim/fault-rules", get_rules),
        web.post("/_kubesim/fault-rules", add_rule),
        web.delete("/_kubesim/fault-rules", clear_rules),
        web.delete("/_kubesim/fault-rules/{id}", remove_rule),
        web.delete("/_kubesim/audit", clear_audit),
        web.get("/_kubesim/faults", get_faults),
        web.post("/_kubesim/faults", set_faults),
        web.delete("/_kubesim/faults", clear_faults),
        web.post("/_kubesim/cut-watches", cut_watches),
        web.post("/_kubesim/expire-next-watch", expire_next_watch),
        web.post("/_kubesim/nodes/{name}/ready", node_ready),
    ]
