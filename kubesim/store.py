"""The API verbs on top of `Storage`: what the apiserver's generic registry does.

`ObjectStore` is used by the HTTP layer, by the simulated controllers and directly by
tests and benchmarks (e.g. `sim.store.create(obj)` or `sim.store.create_many(objs)` to
seed thousands of objects without HTTP). It sets uid, resourceVersion, generation and
creationTimestamp, applies defaults and validation, keeps `status` behind `/status`,
honours finalizers and graceful pod deletion (`deletionTimestamp`, `deletionGracePeriodSeconds`,
Foreground and Orphan propagation), and registers CRDs so their resources become servable.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson

from kubesim import conversion, errors, fieldsets
from kubesim.decoding import YAMLError, load_yaml
from kubesim.defaults import IDENTITY_DEFAULTERS, apply_defaults
from kubesim.errors import ApiError
from kubesim.patching import json_patch, merge_patch, strategic_merge
from kubesim.resources import Registry, ResourceType, crd_resource_types
from kubesim.selectors import Predicate
from kubesim.storage import Storage, new_uid
from kubesim.validation import validate

Obj = dict[str, Any]
PatchType = Literal["json", "merge", "strategic", "apply"]

CRD_KEY = "apiextensions.k8s.io/customresourcedefinitions"
NAMESPACE_KEY = "/namespaces"
POD_KEY = "/pods"
NODE_KEY = "/nodes"
#: the finalizer that keeps an owner until the garbage collector has deleted its dependents
FOREGROUND = "foregroundDeletion"
_SERVER_META = ("uid", "creationTimestamp", "generation", "deletionTimestamp", "managedFields")
#: kinds whose DELETE answers the deleted object rather than a Status (the apiserver's
#: `ReturnDeletedObject` registries; CRDs always carry a cleanup finalizer there)
_RETURNS_OBJECT = frozenset(
    {
        "/pods",
        "/namespaces",
        "/services",
        "/persistentvolumeclaims",
        "storage.k8s.io/storageclasses",
        CRD_KEY,
    }
)


def _clone(obj: Obj) -> Obj:
    result: Obj = orjson.loads(orjson.dumps(obj))
    return result


def _body_without(obj: Obj, *keys: str) -> Obj:
    return {k: v for k, v in obj.items() if k not in keys}


class ObjectStore:
    def __init__(self, storage: Storage, registry: Registry) -> None:
        self.storage = storage
        self.registry = registry

    # -- lookups -----------------------------------------------------------------------

    def resource_for(self, obj: Obj) -> ResourceType:
        rt = self.registry.by_kind(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
        if rt is None:
            raise errors.ApiError(
                code=404,
                reason="NotFound",
                message=f"no kind {obj.get('kind')!r} is registered for version "
                f"{obj.get('apiVersion')!r}",
            )
        return rt

    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        obj = self.storage.get(rt.storage_key, namespace if rt.namespaced else "", name)
        if obj is None:
            raise errors.not_found(plural=rt.plural, group=rt.group, name=name)
        return self._as_version(rt, obj)

    def find(self, rt: ResourceType, namespace: str, name: str) -> Obj | None:
        return self.storage.get(rt.storage_key, namespace if rt.namespaced else "", name)

    def _as_version(self, rt: ResourceType, obj: Obj) -> Obj:
        return conversion.served(rt, obj)

    def _stored_type(self, rt: ResourceType) -> ResourceType:
        """The resource type whose shape `rt`'s objects are stored in."""
        return self.rt_for_key(rt.storage_key) if rt.stored_as else rt

    def list(
        self,
        rt: ResourceType,
        namespace: str | None,
        *,
        predicate: Predicate | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> Obj:
        revision = self.storage.revision
        start = ""
        if continue_token:
            rv, start = _decode_continue(continue_token)
            if not self.storage.covers(rv):
                raise errors.gone(
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter."
                )
            revision = rv
        objs = self.storage.iter(rt.storage_key, namespace if rt.namespaced else None)
        items = [o for o in objs if predicate is None or predicate(o)]
        items.sort(key=_sort_key)
        if start:
            items = [o for o in items if _sort_key(o) > start]
        meta: Obj = {"resourceVersion": str(revision)}
        if limit and len(items) > limit:
            remaining = len(items) - limit
            items = items[:limit]
            meta["continue"] = _encode_continue(revision, _sort_key(items[-1]))
            meta["remainingItemCount"] = remaining
        return {
            "kind": rt.list_kind,
            "apiVersion": rt.api_version,
            "metadata": meta,
            "items": [self._as_version(rt, o) for o in items],
        }

    # -- create ------------------------------------------------------------------------

    def create(
        self,
        obj: Obj,
        *,
        rt: ResourceType | None = None,
        namespace: str | None = None,
        field_manager: str | None = None,
        dry_run: bool = False,
        owned: bool = False,
    ) -> Obj:
        """Create `obj`; `owned` means the caller gives it up (no copy is taken)."""
        rt = rt or self.resource_for(obj)
        if rt.stored_as:
            created = self.create(
                conversion.stored(rt, obj),
                rt=self._stored_type(rt),
                namespace=namespace,
                field_manager=field_manager,
                dry_run=dry_run,
                owned=owned,
            )
            return conversion.served(rt, created)
        new = {**obj, "metadata": {**(obj.get("metadata") or {})}} if owned else _clone(obj)
        self._check_type(rt, new)
        meta = new.setdefault("metadata", {})
        if rt.namespaced:
            ns = namespace or meta.get("namespace") or "default"
            if meta.get("namespace") and meta["namespace"] != ns:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"
                )
            meta["namespace"] = ns
            if self.storage.get(NAMESPACE_KEY, "", ns) is None:
                raise errors.not_found(plural="namespaces", group="", name=ns)
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        if not meta.get("name"):
            raise errors.invalid(
                kind=rt.kind,
                group=rt.group,
                name="",
                causes=[("metadata.name", "Required value: name or generateName is required")],
            )
        for key in (*_SERVER_META, "resourceVersion"):
            meta.pop(key, None)
        if rt.status_split and rt.storage_key not in ("/nodes", NAMESPACE_KEY):
            new.pop("status", None)
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        apply_defaults(rt.storage_key, new)
        validate(rt, new)
        if self.find(rt, meta.get("namespace", ""), meta["name"]) is not None:
            raise errors.already_exists(plural=rt.plural, group=rt.group, name=meta["name"])
        meta["uid"] = new_uid()
        meta["creationTimestamp"] = fieldsets.now_iso()
        identity_defaulter = IDENTITY_DEFAULTERS.get(rt.storage_key)
        if identity_defaulter is not None:
            identity_defaulter(new)
        if rt.status_split:
            meta["generation"] = 1
        if rt.storage_key == CRD_KEY:
            self._crd_status(new)
        if field_manager:
            fieldsets.record_update(None, new, manager=field_manager, api_version=rt.api_version)
        if dry_run:
            return new
        meta["resourceVersion"] = str(self.storage.next_revision())
        self.storage.put(rt.storage_key, new, "ADDED")
        if rt.storage_key == CRD_KEY:
            for crd_rt in crd_resource_types(new):
                self.registry.add(crd_rt)
        return new

    def create_many(self, objs: Iterable[Obj]) -> int:
        """Seed objects fast (no field manager); returns how many were created."""
        n = 0
        for obj in objs:
            self.create(obj)
            n += 1
        return n

    def _check_type(self, rt: ResourceType, obj: Obj) -> None:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if api_version and api_version != rt.api_version:
            group = api_version.rpartition("/")[0]
            if group != rt.group or not self.registry.has_group_version(
                group, api_version.rpartition("/")[2]
            ):
                raise errors.bad_request(
                    f"the API version in the data ({api_version}) does not match the expected "
                    f"API version ({rt.api_version})"
                )
        if kind and kind != rt.kind:
            raise errors.bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
            )

    @staticmethod
    def _crd_status(crd: Obj) -> None:
        names = crd.get("spec", {}).get("names", {})
        now = fieldsets.now_iso()
        crd["status"] = {
            "acceptedNames": names,
            "storedVersions": [
                v["name"] for v in crd.get("spec", {}).get("versions", []) if v.get("storage")
            ],
            "conditions": [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "reason": "NoConflicts",
                    "lastTransitionTime": now,
                    "message": "no conflicts found",
                },
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "lastTransitionTime": now,
                    "message": "the initial names have been accepted",
                },
            ],
        }

    # -- update ------------------------------------------------------------------------

    def update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Obj,
        *,
        subresource: str = "",
        field_manager: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        if rt.stored_as:
            updated = self.update(
                self._stored_type(rt),
                namespace,
                name,
                conversion.stored(rt, body),
                subresource=subresource,
                field_manager=field_manager,
                dry_run=dry_run,
            )
            return conversion.served(rt, updated)
        old = self.get(rt, namespace, name)
        body = _clone(body)
        self._check_type(rt, body)
        meta = body.setdefault("metadata", {})
        if meta.get("name", name) != name:
            raise errors.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        if rt.namespaced and meta.get("namespace", namespace) != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        wanted_rv = meta.get("resourceVersion")
        if wanted_rv and wanted_rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(plural=rt.plural, group=rt.group, name=name, why=errors.STALE)
        return self._write(
            rt, old, body, subresource=subresource, field_manager=field_manager, dry_run=dry_run
        )

    def _write(
        self,
        rt: ResourceType,
        old: Obj,
        body: Obj,
        *,
        subresource: str,
        field_manager: str | None,
        dry_run: bool,
        keep_managed_fields: bool = False,
    ) -> Obj:
        """Turn the client's full new object `body` into the stored one, and commit it."""
        old_meta = old["metadata"]
        if subresource == "status":
            new = _clone(old)
            if "status" in body:
                new["status"] = body["status"]
        else:
            new = body
            meta = new.setdefault("metadata", {})
            for key in (
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "generation",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ):
                if key in old_meta:
                    meta[key] = old_meta[key]
                else:
                    meta.pop(key, None)
            # stored versions are never changed in place, so the new one may share these
            if not keep_managed_fields and "managedFields" in old_meta:
                meta["managedFields"] = old_meta["managedFields"]
            if rt.status_split:
                if "status" in old:
                    new["status"] = old["status"]
                else:
                    new.pop("status", None)
            new["apiVersion"], new["kind"] = rt.api_version, rt.kind
            apply_defaults(rt.storage_key, new)
            validate(rt, new)
            if rt.status_split and _spec(new) != _spec(old):
                meta["generation"] = int(old_meta.get("generation", 1)) + 1
        new["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
        if field_manager:
            fieldsets.record_update(
                old, new, manager=field_manager, subresource=subresource, api_version=rt.api_version
            )
        if new == old or dry_run:
            return new
        return self.commit(rt, new)

    def commit(self, rt: ResourceType, new: Obj) -> Obj:
        """Store a new version of an existing object (controllers use this for status)."""
        meta = new["metadata"]
        if (
            meta.get("deletionTimestamp")
            and not meta.get("finalizers")
            and not meta.get("deletionGracePeriodSeconds")
        ):
            self._remove(rt, new)
            return new
        meta["resourceVersion"] = str(self.storage.next_revision())
        self.storage.put(rt.storage_key, new, "MODIFIED")
        return new

    # -- patch / apply -----------------------------------------------------------------

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        raw: bytes,
        *,
        patch_type: PatchType,
        subresource: str = "",
        field_manager: str | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """Returns (object, created); only apply creates."""
        if rt.stored_as and patch_type == "apply":
            try:
                applied = load_yaml(raw)
            except YAMLError:
                applied = None  # the stored type's apply answers the decoding error
            if isinstance(applied, dict):
                raw = orjson.dumps(conversion.stored(rt, applied))
            result, created = self.patch(
                self._stored_type(rt),
                namespace,
                name,
                raw,
                patch_type=patch_type,
                subresource=subresource,
                field_manager=field_manager,
                force=force,
                dry_run=dry_run,
            )
            return conversion.served(rt, result), created
        if patch_type == "apply":
            return self._apply(
                rt,
                namespace,
                name,
                raw,
                field_manager=field_manager,
                force=force,
                dry_run=dry_run,
                subresource=subresource,
            )
        old = self.get(rt, namespace, name)
        try:
            patch = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise errors.bad_request(f"error decoding patch: {exc}") from exc
        if patch_type == "json":
            patched = json_patch(old, patch)
        elif not isinstance(patch, dict):
            raise errors.bad_request("a merge patch must be a JSON object")
        elif patch_type == "merge":
            patched = merge_patch(old, patch)
        else:
            if rt.custom:
                raise errors.ApiError(
                    code=415,
                    reason="UnsupportedMediaType",
                    message="the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                )
            patched = strategic_merge(old, patch)
        if not isinstance(patched, dict):
            raise errors.bad_request("the patch did not produce an object")
        patched = _clone(patched)
        wanted_rv = (patched.get("metadata") or {}).get("resourceVersion")
        if wanted_rv and wanted_rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(plural=rt.plural, group=rt.group, name=name, why=errors.STALE)
        if rt.stored_as:
            return self.update(
                rt,
                namespace,
                name,
                patched,
                subresource=subresource,
                field_manager=field_manager,
                dry_run=dry_run,
            ), False
        return self._write(
            rt, old, patched, subresource=subresource, field_manager=field_manager, dry_run=dry_run
        ), False

    def _apply(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        raw: bytes,
        *,
        field_manager: str | None,
        force: bool,
        dry_run: bool,
        subresource: str,
    ) -> tuple[Obj, bool]:
        if not field_manager:
            raise errors.bad_request(
                "PATCH, application/apply-patch+yaml requests must have a fieldManager"
            )
        try:
            applied = load_yaml(raw)
        except YAMLError as exc:
            raise errors.bad_request(f"error decoding YAML: {exc}") from exc
        if not isinstance(applied, dict):
            raise errors.bad_request("the applied configuration must be an object")
        meta = applied.setdefault("metadata", {})
        if not applied.get("apiVersion") or not applied.get("kind"):
            raise errors.bad_request("apiVersion and kind must be set in an applied configuration")
        if meta.get("name", name) != name:
            raise errors.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        self._check_type(rt, applied)
        old = self.find(rt, namespace, name)
        if old is None:
            if subresource:
                raise errors.not_found(plural=rt.plural, group=rt.group, name=name)
            fields = fieldsets.object_fields_v1(applied)  # before defaults fill `applied` in
            seed = {**applied, "metadata": {**meta, "name": name}}
            created = self.create(
                seed, rt=rt, namespace=namespace or None, dry_run=True, owned=True
            )
            created["metadata"]["managedFields"] = [
                {
                    "manager": field_manager,
                    "operation": "Apply",
                    "apiVersion": rt.api_version,
                    "time": fieldsets.now_iso(),
                    "fieldsType": "FieldsV1",
                    "fieldsV1": fields,
                }
            ]
            if dry_run:
                return created, True
            created["metadata"]["resourceVersion"] = str(self.storage.next_revision())
            self.storage.put(rt.storage_key, created, "ADDED")
            if rt.storage_key == CRD_KEY:
                for crd_rt in crd_resource_types(created):
                    self.registry.add(crd_rt)
            return created, True
        wanted_rv = meta.get("resourceVersion")
        if wanted_rv and wanted_rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(plural=rt.plural, group=rt.group, name=name, why=errors.STALE)
        merged = fieldsets.apply(
            _clone(old), applied, manager=field_manager, force=force, api_version=rt.api_version
        )
        return self._write(
            rt,
            old,
            merged,
            subresource=subresource,
            field_manager=None,
            dry_run=dry_run,
            keep_managed_fields=True,
        ), False

    # -- delete ------------------------------------------------------------------------

    def delete(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        *,
        options: Obj | None = None,
        dry_run: bool = False,
    ) -> Obj:
        if rt.stored_as:
            result = self.delete(
                self._stored_type(rt), namespace, name, options=options, dry_run=dry_run
            )
            return conversion.served(rt, result) if result.get("kind") == rt.kind else result
        old = self.get(rt, namespace, name)
        meta = old["metadata"]
        pre = (options or {}).get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != meta["uid"]:
            raise errors.conflict(
                plural=rt.plural,
                group=rt.group,
                name=name,
                why=f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {meta['uid']}",
            )
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
            raise errors.conflict(
                plural=rt.plural,
                group=rt.group,
                name=name,
                why=f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, ResourceVersion in object meta: {meta['resourceVersion']}",
            )
        if dry_run:
            return old
        options = options or {}
        policy = options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is not None:
            policy = "Orphan" if options["orphanDependents"] else "Background"
        grace = self._grace_period(rt, old, options.get("gracePeriodSeconds"))
        if meta.get("deletionTimestamp"):
            return self._delete_again(rt, old, grace)
        finalizers = list(meta.get("finalizers") or [])
        if policy == "Foreground" and FOREGROUND not in finalizers:
            finalizers.append(FOREGROUND)
        if policy == "Orphan":
            self._orphan(meta["uid"], namespace)
        if finalizers or grace:
            # not gone yet: Terminating until the kubelet stops the pod, the garbage
            # collector deletes the dependents, or whoever set them removes the finalizers
            new = _clone(old)
            deadline = datetime.now(UTC) + timedelta(seconds=grace)
            new["metadata"]["deletionTimestamp"] = deadline.strftime("%Y-%m-%dT%H:%M:%SZ")
            new["metadata"]["deletionGracePeriodSeconds"] = grace
            if finalizers:
                new["metadata"]["finalizers"] = finalizers
            return self.commit(rt, new)
        self._remove(rt, old)
        if rt.storage_key in _RETURNS_OBJECT:
            return old
        return errors.success(name=name, group=rt.group, kind=rt.plural, uid=meta["uid"])

    def _grace_period(self, rt: ResourceType, obj: Obj, requested: object) -> int:
        """Seconds a pod may take to stop; 0 for everything else, and for pods that run
        nowhere (unbound, finished, or bound to a node that is gone)."""
        if rt.storage_key != POD_KEY:
            return 0
        node = (obj.get("spec") or {}).get("nodeName")
        phase = (obj.get("status") or {}).get("phase")
        if not node or phase in ("Succeeded", "Failed") or not self.storage.get(NODE_KEY, "", node):
            return 0
        if isinstance(requested, int | str) and str(requested).lstrip("-").isdigit():
            return max(int(requested), 0)
        return int((obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30))

    def _delete_again(self, rt: ResourceType, old: Obj, grace: int) -> Obj:
        """DELETE of what is already being deleted: only a shorter grace period changes it."""
        meta = old["metadata"]
        if rt.storage_key != POD_KEY or grace >= int(meta.get("deletionGracePeriodSeconds", 0)):
            return old
        new = _clone(old)
        new["metadata"]["deletionGracePeriodSeconds"] = grace
        deadline = datetime.now(UTC) + timedelta(seconds=grace)
        new["metadata"]["deletionTimestamp"] = deadline.strftime("%Y-%m-%dT%H:%M:%SZ")
        return self.commit(rt, new)

    def _orphan(self, owner_uid: str, namespace: str) -> None:
        """Strip ownerReferences to `owner_uid` so the garbage collector leaves them."""
        for key in self._namespaced_keys():
            for o in list(self.storage.iter(key, namespace)):
                refs = o["metadata"].get("ownerReferences") or []
                if any(r.get("uid") == owner_uid for r in refs):
                    new = _clone(o)
                    new["metadata"]["ownerReferences"] = [
                        r for r in refs if r.get("uid") != owner_uid
                    ]
                    self.commit(self.rt_for_key(key), new)

    def _namespaced_keys(self) -> set[str]:
        return {
            rt.storage_key
            for g, versions in self.registry.groups().items()
            for v in versions
            for rt in self.registry.in_group_version(g, v)
            if rt.namespaced
        }

    def rt_for_key(self, key: str) -> ResourceType:
        for g, versions in self.registry.groups().items():
            for v in versions:
                for rt in self.registry.in_group_version(g, v):
                    if rt.storage_key == key and not rt.stored_as:
                        return rt
        raise KeyError(key)

    def _remove(self, rt: ResourceType, obj: Obj) -> None:
        meta = obj["metadata"]
        if rt.storage_key == NAMESPACE_KEY:
            self._empty_namespace(meta["name"])
        if rt.storage_key == CRD_KEY:
            spec = obj.get("spec", {})
            group, plural = spec.get("group", ""), spec.get("names", {}).get("plural", "")
            for o in list(self.storage.iter(f"{group}/{plural}")):
                self.storage.remove(f"{group}/{plural}", o)
            self.storage.drop_key(f"{group}/{plural}")
            self.registry.remove_group_plural(group, plural)
        self.storage.remove(rt.storage_key, obj)

    def _empty_namespace(self, namespace: str) -> None:
        for key in self._namespaced_keys():
            for o in list(self.storage.iter(key, namespace)):
                self.storage.remove(key, o)

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        *,
        predicate: Predicate | None,
        options: Obj | None = None,
        dry_run: bool = False,
    ) -> Obj:
        listed = self.list(rt, namespace, predicate=predicate)
        deleted = []
        for obj in listed["items"]:
            meta = obj["metadata"]
            try:
                result = self.delete(
                    rt, meta.get("namespace", ""), meta["name"], options=options, dry_run=dry_run
                )
            except ApiError as exc:
                if exc.code != 404:
                    raise
                continue
            deleted.append(result if result.get("kind") == rt.kind else obj)
        listed["items"] = deleted
        listed["metadata"] = {"resourceVersion": str(self.storage.revision)}
        return listed


def _spec(obj: Obj) -> Obj:
    return _body_without(obj, "metadata", "status", "apiVersion", "kind")


def _sort_key(obj: Obj) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


def _encode_continue(rv: int, start: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"rv": rv, "start": start})).decode()


def _decode_continue(token: str) -> tuple[int, str]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        return int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        raise errors.bad_request(f"continue key is not valid: {exc}") from exc
