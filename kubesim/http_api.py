"""The aiohttp application: routes, verbs, content negotiation and error bodies.

Every `/api/...` and `/apis/...` request goes through one dispatcher that parses the path
into a `routing.Target` and calls the matching `ObjectStore` verb. Errors leave as
`kind: Status` bodies. The fault middleware delays or fails API requests but never the
control endpoints, `/version` or health checks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from kubesim import discovery, errors, metadata_only, protobuf, routing
from kubesim.audit import Audit, AuditEntry, AuditRecord, rbac_verb
from kubesim.authorization import review
from kubesim.decoding import YAMLError, load_yaml
from kubesim.errors import ApiError
from kubesim.faults import Faults, reason_for
from kubesim.logs import LogBook
from kubesim.openapi import V2_PROTOBUF, V2_PROTOBUF_ACCEPT, OpenApi
from kubesim.resources import ResourceType
from kubesim.selectors import combine, field_selector, label_selector
from kubesim.store import ObjectStore, PatchType
from kubesim.tables import to_table, wants_table
from kubesim.watch import serve_watch

Obj = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-kubesim",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.23.4",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_UNFAULTED = ("/_kubesim", "/version", "/healthz", "/livez", "/readyz", "/openapi")
_WRITES = frozenset({"create", "update", "patch", "delete", "deletecollection"})
_PATCH_TYPES: dict[str, PatchType] = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}

REVIEWS_KEY = "authorization.k8s.io/selfsubjectaccessreviews"
#: the body of `PUT .../scale` (what a protobuf one decodes as when it names no kind)
_SCALE = ResourceType("autoscaling", "v1", "scale", "Scale", True)


def json_response(
    body: Obj, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    raw = errors.status_bytes(body) if body.get("kind") == "Status" else orjson.dumps(body)
    return web.Response(body=raw, status=status, content_type="application/json", headers=headers)


def _error_response(exc: ApiError) -> web.Response:
    return json_response(exc.status(), status=exc.code, headers=exc.headers)


class KubeApi:
    def __init__(
        self,
        *,
        store: ObjectStore,
        faults: Faults,
        bookmark_interval: float,
        logs: LogBook | None = None,
    ) -> None:
        self.store = store
        self.logs = logs or LogBook()
        self.faults = faults
        self.bookmark_interval = bookmark_interval
        self.audit = Audit()
        self.openapi = OpenApi(store.storage, store.registry)

    # -- app ---------------------------------------------------------------------------

    def app(self, control_routes: list[web.RouteDef]) -> web.Application:
        app = web.Application(
            middlewares=[self._errors, self._fault_middleware], client_max_size=64 * 1024**2
        )
        app.add_routes(control_routes)
        app.add_routes(
            [
                web.get("/version", self._version),
                web.get("/version/", self._version),
                web.get("/healthz", self._ok),
                web.get("/livez", self._ok),
                web.get("/readyz", self._ok),
                web.get("/openapi/v2", self._openapi_v2),
                web.get("/openapi/v3", self._openapi_v3_index),
                web.get("/openapi/v3/{path:.+}", self._openapi_v3),
                web.route("*", "/apis{tail:(/.*)?}", self._groups),
                web.route("*", "/api{tail:(/.*)?}", self._core),
            ]
        )
        return app

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return _error_response(exc)
        except web.HTTPException as exc:
            if exc.status == 404:
                return _error_response(errors.page_not_found())
            raise

    @web.middleware
    async def _fault_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(_UNFAULTED):
            if self.faults.latency:
                await asyncio.sleep(self.faults.latency)
            code = self.faults.pick_error()
            if code is not None:
                reason, message = reason_for(code)
                headers = {"Retry-After": "1"} if code == 429 else None
                raise ApiError(code=code, reason=reason, message=message, headers=headers)
        return await handler(request)

    async def _version(self, request: web.Request) -> web.Response:
        return json_response(VERSION)

    async def _ok(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _openapi_v2(self, request: web.Request) -> web.Response:
        if V2_PROTOBUF_ACCEPT in request.headers.get("Accept", ""):
            return web.Response(body=self.openapi.v2_protobuf(), content_type=V2_PROTOBUF)
        return json_response(self.openapi.v2())

    async def _openapi_v3_index(self, request: web.Request) -> web.Response:
        return json_response(self.openapi.v3_index())

    async def _openapi_v3(self, request: web.Request) -> web.Response:
        doc = self.openapi.v3_document(request.match_info["path"])
        if doc is None:
            raise errors.page_not_found()
        return json_response(doc)

    # -- dispatch ----------------------------------------------------------------------

    async def _core(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.match_info["tail"].split("/") if p]
        if not parts:
            self._only_get(request)
            return json_response(discovery.api_versions(request.host))
        if parts[0] != "v1":
            raise errors.page_not_found()
        return await self._resource_or_list(request, "", "v1", parts[1:])

    async def _groups(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.match_info["tail"].split("/") if p]
        registry = self.store.registry
        if not parts:
            self._only_get(request)
            return json_response(discovery.api_group_list(registry))
        if len(parts) == 1:
            self._only_get(request)
            group = discovery.api_group(registry, parts[0])
            if group is None:
                raise errors.page_not_found()
            return json_response(group)
        return await self._resource_or_list(request, parts[0], parts[1], parts[2:])

    @staticmethod
    def _only_get(request: web.Request) -> None:
        if request.method not in ("GET", "HEAD"):
            raise errors.method_not_allowed()

    async def _resource_or_list(
        self, request: web.Request, group: str, version: str, rest: list[str]
    ) -> web.StreamResponse:
        registry = self.store.registry
        if not rest:
            self._only_get(request)
            doc = discovery.api_resource_list(registry, group, version)
            if doc is None:
                raise errors.page_not_found()
            return json_response(doc)
        target = routing.parse(registry, group, version, rest)
        entry = self._record(request, target)
        try:
            response = await self._dispatch(request, target, entry)
        except ApiError as exc:
            entry.code = exc.code
            raise
        entry.code = response.status
        if entry.verb in _WRITES and response.status < 400 and not self._dry_run(request):
            entry.resource_version = str(self.store.storage.revision)
        return response

    async def _dispatch(
        self, request: web.Request, target: routing.Target, entry: AuditEntry
    ) -> web.StreamResponse:
        rule = self.faults.rule_for(
            verb=entry.verb, resource=entry.resource, namespace=entry.namespace, name=entry.name
        )
        if rule is not None:
            reason, message = reason_for(rule.code)
            raise ApiError(code=rule.code, reason=reason, message=rule.message or message)
        if entry.verb not in target.rt.verbs:
            raise errors.method_not_allowed()
        method = request.method
        if target.name is None:
            if method == "GET":
                return await self._list(request, target)
            if method == "POST":
                return await self._create(request, target)
            if method == "DELETE":
                return await self._delete_collection(request, target)
            raise errors.method_not_allowed()
        if target.subresource == "scale":
            return await self._scale(request, target)
        if target.subresource == "log":
            self._only_get(request)
            return await self._log(request, target)
        if method == "GET":
            obj = self.store.get(target.rt, target.namespace or "", target.name)
            if (asked := metadata_only.requested(request.headers.get("Accept", ""))) is not None:
                return json_response(metadata_only.partial_object(asked, target.rt, obj))
            if wants_table(request.headers.get("Accept", "")):
                return json_response(
                    to_table(
                        target.rt, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]}
                    )
                )
            return json_response(obj)
        if method == "PUT":
            return await self._update(request, target)
        if method == "PATCH":
            return await self._patch(request, target)
        if method == "DELETE" and not target.subresource:
            return await self._delete(request, target)
        raise errors.method_not_allowed()

    def _record(self, request: web.Request, target: routing.Target) -> AuditEntry:
        authorization = request.headers.get("Authorization", "")
        watch = request.query.get("watch", "").lower() in ("true", "1")
        resource = target.rt.plural + (f"/{target.subresource}" if target.subresource else "")
        return self.audit.record(
            AuditRecord(
                user=authorization.removeprefix("Bearer ").strip() or "anonymous",
                verb=rbac_verb(request.method, has_name=target.name is not None, watch=watch),
                api_group=target.rt.group,
                resource=resource,
                namespace=target.namespace,
            ),
            name=target.name,
            user_agent=request.headers.get("User-Agent", ""),
        )

    # -- verbs -------------------------------------------------------------------------

    def _predicate(self, request: web.Request) -> Any:
        return combine(
            label_selector(request.query.get("labelSelector")),
            field_selector(request.query.get("fieldSelector")),
        )

    async def _list(self, request: web.Request, target: routing.Target) -> web.StreamResponse:
        q = request.query
        predicate = self._predicate(request)
        if q.get("watch", "").lower() in ("true", "1"):
            return await serve_watch(
                request,
                storage=self.store.storage,
                rt=target.rt,
                namespace=target.namespace,
                predicate=predicate,
                expire=self.faults.take_expire(),
                bookmark_interval=self.bookmark_interval,
                as_table=wants_table(request.headers.get("Accept", "")),
                metadata_only=metadata_only.watch_shape(
                    metadata_only.requested(request.headers.get("Accept", ""))
                ),
            )
        limit = int(q["limit"]) if q.get("limit", "").isdigit() else None
        body = self.store.list(
            target.rt,
            target.namespace,
            predicate=predicate,
            limit=limit,
            continue_token=q.get("continue"),
        )
        if (asked := metadata_only.requested(request.headers.get("Accept", ""))) is not None:
            return json_response(metadata_only.partial_list(asked, target.rt, body))
        if wants_table(request.headers.get("Accept", "")):
            return json_response(to_table(target.rt, body["items"], body["metadata"]))
        return json_response(body)

    async def _body(self, request: web.Request, rt: ResourceType | None = None) -> Obj:
        """The request's object from JSON, YAML or, for a built-in kind, protobuf (which
        the apiserver has no form of for custom resources: 415 there, as here)."""
        raw = await request.read()
        ctype = request.content_type
        try:
            if ctype in ("application/yaml", "application/x-yaml", "text/yaml"):
                body = load_yaml(raw)
            elif ctype == protobuf.MEDIA_TYPE and rt is not None and not rt.custom:
                body = protobuf.decode(
                    raw, default_api_version=rt.api_version, default_kind=rt.kind
                )
            elif "protobuf" in ctype or "cbor" in ctype:
                raise errors.unsupported_media_type(ctype)
            else:
                body = orjson.loads(raw) if raw else {}
        except (orjson.JSONDecodeError, YAMLError) as exc:
            raise errors.bad_request(f"error decoding the request body: {exc}") from exc
        except (protobuf.ProtobufError, UnicodeDecodeError) as exc:
            raise errors.bad_request(f"error decoding the protobuf request body: {exc}") from exc
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be an object")
        return body

    @staticmethod
    def _manager(request: web.Request) -> str:
        manager = request.query.get("fieldManager")
        if manager:
            return manager
        agent = request.headers.get("User-Agent", "unknown")
        return agent.split("/", 1)[0] or "unknown"

    @staticmethod
    def _dry_run(request: web.Request) -> bool:
        return request.query.get("dryRun") == "All"

    async def _create(self, request: web.Request, target: routing.Target) -> web.Response:
        body = await self._body(request, target.rt)
        if target.rt.storage_key == REVIEWS_KEY:
            # a review is answered, never stored
            token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            spec = body.get("spec") or {}
            answer = {
                "kind": target.rt.kind,
                "apiVersion": target.rt.api_version,
                "metadata": {"creationTimestamp": None},
                "spec": spec,
                "status": review(
                    self.store.storage,
                    token,
                    spec,
                    impersonate_user=request.headers.get("Impersonate-User", ""),
                    impersonate_groups=tuple(request.headers.getall("Impersonate-Group", ())),
                ),
            }
            return json_response(answer, status=201)
        obj = self.store.create(
            body,
            rt=target.rt,
            namespace=target.namespace,
            field_manager=self._manager(request),
            dry_run=self._dry_run(request),
        )
        return json_response(obj, status=201)

    async def _update(self, request: web.Request, target: routing.Target) -> web.Response:
        assert target.name is not None
        body = await self._body(request, target.rt)
        obj = self.store.update(
            target.rt,
            target.namespace or "",
            target.name,
            body,
            subresource=target.subresource,
            field_manager=self._manager(request),
            dry_run=self._dry_run(request),
        )
        return json_response(obj)

    async def _patch(self, request: web.Request, target: routing.Target) -> web.Response:
        assert target.name is not None
        patch_type = _PATCH_TYPES.get(request.content_type)
        if patch_type is None:
            raise ApiError(
                code=415,
                reason="UnsupportedMediaType",
                message=f"the server does not support the patch type {request.content_type!r}",
            )
        force = request.query.get("force", "").lower() in ("true", "1")
        obj, created = self.store.patch(
            target.rt,
            target.namespace or "",
            target.name,
            await request.read(),
            patch_type=patch_type,
            subresource=target.subresource,
            field_manager=request.query.get("fieldManager")
            if patch_type == "apply"
            else self._manager(request),
            force=force,
            dry_run=self._dry_run(request),
        )
        return json_response(obj, status=201 if created else 200)

    async def _delete_options(self, request: web.Request) -> Obj:
        if request.can_read_body and request.content_type == protobuf.MEDIA_TYPE:
            try:
                options = protobuf.decode(
                    await request.read(), default_api_version="v1", default_kind="DeleteOptions"
                )
            except (protobuf.ProtobufError, UnicodeDecodeError) as exc:
                raise errors.bad_request(f"error decoding DeleteOptions: {exc}") from exc
            options.pop("apiVersion", None)
            options.pop("kind", None)
        else:
            options = await self._body(request) if request.can_read_body else {}
        if request.query.get("propagationPolicy"):
            options["propagationPolicy"] = request.query["propagationPolicy"]
        if request.query.get("gracePeriodSeconds", "").isdigit():
            options["gracePeriodSeconds"] = int(request.query["gracePeriodSeconds"])
        if request.query.get("orphanDependents") in ("true", "false"):
            options["orphanDependents"] = request.query["orphanDependents"] == "true"
        return options

    async def _delete(self, request: web.Request, target: routing.Target) -> web.Response:
        assert target.name is not None
        result = self.store.delete(
            target.rt,
            target.namespace or "",
            target.name,
            options=await self._delete_options(request),
            dry_run=self._dry_run(request),
        )
        return json_response(result)

    async def _delete_collection(
        self, request: web.Request, target: routing.Target
    ) -> web.Response:
        result = self.store.delete_collection(
            target.rt,
            target.namespace,
            predicate=self._predicate(request),
            options=await self._delete_options(request),
            dry_run=self._dry_run(request),
        )
        return json_response(result)

    async def _scale(self, request: web.Request, target: routing.Target) -> web.Response:
        assert target.name is not None
        rt, ns, name = target.rt, target.namespace or "", target.name
        obj = self.store.get(rt, ns, name)
        if request.method == "GET":
            return json_response(scale_of(obj))
        if request.method == "PUT":
            wanted = await self._body(request, _SCALE)
        elif request.method == "PATCH":
            raw = await request.read()
            patch_type = _PATCH_TYPES.get(request.content_type, "merge")
            from kubesim.patching import json_patch, merge_patch, strategic_merge

            patch = orjson.loads(raw)
            current = scale_of(obj)
            wanted = (
                json_patch(current, patch)
                if patch_type == "json"
                else strategic_merge(current, patch)
                if patch_type == "strategic"
                else merge_patch(current, patch)
            )
        else:
            raise errors.method_not_allowed()
        replicas = (wanted.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise errors.invalid(
                kind="Scale",
                group="autoscaling",
                name=name,
                causes=[
                    (
                        "spec.replicas",
                        f"Invalid value: {replicas}: must be greater than or equal to 0",
                    )
                ],
            )
        new = orjson.loads(orjson.dumps(obj))
        new["spec"]["replicas"] = replicas
        updated = self.store.update(
            rt, ns, name, new, subresource="scale", field_manager=self._manager(request)
        )
        return json_response(scale_of(updated))

    async def _log(self, request: web.Request, target: routing.Target) -> web.StreamResponse:
        assert target.name is not None
        pod = self.store.get(target.rt, target.namespace or "", target.name)
        lines = self._log_lines(pod, request.query)
        q = request.query
        if q.get("tailLines", "").isdigit():
            tail = int(q["tailLines"])
            lines = lines[len(lines) - tail :] if tail else []
        stamped = q.get("timestamps", "").lower() in ("true", "1")
        text = "".join(
            (f"{when.strftime('%Y-%m-%dT%H:%M:%S.%f')}000Z {line}\n" if stamped else line + "\n")
            for when, line in lines
        )
        if q.get("follow", "").lower() not in ("true", "1"):
            return web.Response(text=text, content_type="text/plain")
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        await response.write(text.encode())
        uid = pod["metadata"]["uid"]
        # the container runs until its pod goes away: then the stream ends, as kubelet's does
        while True:
            current = self.store.find(target.rt, target.namespace or "", target.name)
            if current is None or current["metadata"]["uid"] != uid:
                break
            if current["metadata"].get("deletionTimestamp"):
                break
            await asyncio.sleep(0.1)
        await response.write_eof()
        return response

    def _log_lines(self, pod: Obj, query: Any) -> list[Any]:
        name = pod["metadata"]["name"]
        containers = {c["name"]: c for c in pod.get("spec", {}).get("containers", [])}
        container = query.get("container")
        if not container:
            if len(containers) != 1:
                choices = " ".join(containers)
                raise errors.bad_request(
                    f"a container name must be specified for pod {name}, choose one of: [{choices}]"
                )
            container = next(iter(containers))
        if container not in containers:
            raise errors.bad_request(f"container {container} is not valid for pod {name}")
        status = next(
            (
                cs
                for cs in (pod.get("status") or {}).get("containerStatuses") or []
                if cs.get("name") == container
            ),
            None,
        )
        previous = query.get("previous", "").lower() in ("true", "1")
        restarts = int((status or {}).get("restartCount", 0))
        waiting = ((status or {}).get("state") or {}).get("waiting") or {}
        if previous and not restarts:
            raise errors.bad_request(
                f'previous terminated container "{container}" in pod "{name}" not found'
            )
        if not previous and not restarts and (status is None or waiting):
            reason = waiting.get("reason", "ContainerCreating")
            why = (
                "trying and failing to pull image"
                if reason in ("ImagePullBackOff", "ErrImagePull")
                else reason
            )
            raise errors.bad_request(
                f'container "{container}" in pod "{name}" is waiting to start: {why}'
            )
        return self.logs.lines(pod, containers[container], status, previous=previous)


def scale_of(obj: Obj) -> Obj:
    meta = obj["metadata"]
    selector = (obj.get("spec") or {}).get("selector") or {}
    if obj.get("kind") != "ReplicationController":  # its selector is a plain map
        selector = selector.get("matchLabels") or {}
    labels = ",".join(f"{k}={v}" for k, v in selector.items())
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
        "status": {"replicas": (obj.get("status") or {}).get("replicas", 0), "selector": labels},
    }
