"""`/openapi/v2` and `/openapi/v3`: the schemas of every kind kubesim serves.

Built-in kinds come from `openapi_schemas.json` (generated from the official client's
models by `scripts/gen_kubesim_openapi.py`); CRDs from their `openAPIV3Schema`. kubectl
reads v2 as protobuf (gnostic's `openapi.v2.Document`) to validate manifests and v3 as
JSON for `explain`, so both carry `x-kubernetes-group-version-kind` on each kind.

Documents are built once per set of CRDs (their names and resourceVersions) and cached.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import orjson

from kubesim.resources import Registry, ResourceType
from kubesim.storage import Storage

Obj = dict[str, Any]

CRD_KEY = "apiextensions.k8s.io/customresourcedefinitions"
#: what kubectl asks for, and what the apiserver answers (Go's mime parser refuses the `@`)
V2_PROTOBUF_ACCEPT = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_SCHEMAS = Path(__file__).with_name("openapi_schemas.json")
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"
_INFO = {"title": "Kubernetes", "version": "v1.32.0-kubesim"}


@functools.cache
def _bundled() -> Obj:
    data: Obj = orjson.loads(_SCHEMAS.read_bytes())
    return data


def _gvk(group: str, version: str, kind: str) -> list[Obj]:
    return [{"group": group, "version": version, "kind": kind}]


def _crd_definitions(crd: Obj) -> dict[str, tuple[str, Obj]]:
    """Definition name -> (group/version, v3 schema) for each served version of a CRD."""
    spec = crd.get("spec") or {}
    group, kind = spec.get("group", ""), (spec.get("names") or {}).get("kind", "")
    prefix = ".".join(reversed(group.split(".")))
    result = {}
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        schema = dict(((version.get("schema") or {}).get("openAPIV3Schema")) or {"type": "object"})
        schema["properties"] = {
            "apiVersion": {"type": "string", "description": "APIVersion of this object."},
            "kind": {"type": "string", "description": "Kind of this object."},
            "metadata": {"$ref": f"#/definitions/{_OBJECT_META}"},
            **(schema.get("properties") or {}),
        }
        schema["x-kubernetes-group-version-kind"] = _gvk(group, version["name"], kind)
        result[f"{prefix}.{version['name']}.{kind}"] = (f"{group}/{version['name']}", schema)
    return result


def _v2_crd_schema(schema: Obj) -> Obj:
    """What swagger 2.0 can say of a structural schema: types, fields, items, required."""
    if schema.get("x-kubernetes-preserve-unknown-fields") or schema.get(
        "x-kubernetes-int-or-string"
    ):
        return {k: schema[k] for k in ("description",) if k in schema}
    out: Obj = {k: schema[k] for k in ("format", "description", "required") if k in schema}
    if isinstance(schema.get("type"), str):
        out["type"] = schema["type"]
    for key, value in schema.items():
        if key == "x-kubernetes-group-version-kind" or key == "$ref":
            out[key] = value
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {k: _v2_crd_schema(v) for k, v in schema["properties"].items()}
    if isinstance(schema.get("items"), dict):
        out["items"] = _v2_crd_schema(schema["items"])
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        out["additionalProperties"] = _v2_crd_schema(extra)
    return out


def _v3_schema(schema: Obj) -> Obj:
    """A bundled (swagger 2.0) schema in OpenAPI 3 form, as the apiserver publishes it."""
    out: Obj = {}
    for key, value in schema.items():
        if key == "$ref":
            ref = value.replace("#/definitions/", "#/components/schemas/")
            if len(schema) > 1:  # siblings of $ref are ignored in v3: wrap it
                out["allOf"] = [{"$ref": ref}]
            else:
                out["$ref"] = ref
        elif key == "format" and value == "int-or-string":
            out.pop("type", None)
            out["x-kubernetes-int-or-string"] = True
            out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        elif key == "type" and schema.get("format") == "int-or-string":
            continue
        elif key == "properties":
            out[key] = {k: _v3_schema(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _v3_schema(value)
        else:
            out[key] = value
    return out


def _refs(schema: Any, found: set[str]) -> None:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value.rpartition("/")[2])
            else:
                _refs(value, found)
    elif isinstance(schema, list):
        for item in schema:
            _refs(item, found)


def _closure(roots: list[str], definitions: dict[str, Obj]) -> list[str]:
    seen: list[str] = []
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name not in definitions:
            continue
        seen.append(name)
        found: set[str] = set()
        _refs(definitions[name], found)
        todo.extend(sorted(found))
    return sorted(seen)


class OpenApi:
    def __init__(self, storage: Storage, registry: Registry) -> None:
        self.storage = storage
        self.registry = registry
        self._key: tuple[tuple[str, str], ...] | None = None
        self._cache: dict[str, Any] = {}

    def _cached(self) -> dict[str, Any]:
        key = tuple(
            (str(c["metadata"]["name"]), str(c["metadata"]["resourceVersion"]))
            for c in self.storage.iter(CRD_KEY)
        )
        if key != self._key:
            self._key, self._cache = key, {}
        return self._cache

    def _crds(self) -> dict[str, tuple[str, Obj]]:
        cache = self._cached()
        if "crds" not in cache:
            found: dict[str, tuple[str, Obj]] = {}
            for crd in self.storage.iter(CRD_KEY):
                found |= _crd_definitions(crd)
            cache["crds"] = found
        result: dict[str, tuple[str, Obj]] = cache["crds"]
        return result

    # -- v2 ----------------------------------------------------------------------------

    def v2(self) -> Obj:
        cache = self._cached()
        if "v2" not in cache:
            definitions = dict(_bundled()["definitions"])
            for name, (_gv, schema) in self._crds().items():
                definitions[name] = _v2_crd_schema(schema)
            cache["v2"] = {
                "swagger": "2.0",
                "info": _INFO,
                "paths": {},
                "definitions": dict(sorted(definitions.items())),
            }
        doc: Obj = cache["v2"]
        return doc

    def v2_protobuf(self) -> bytes:
        cache = self._cached()
        if "v2pb" not in cache:
            cache["v2pb"] = _document_pb(self.v2())
        data: bytes = cache["v2pb"]
        return data

    # -- v3 ----------------------------------------------------------------------------

    def _v3_docs(self) -> dict[str, Obj]:
        """Served group-version path (`api/v1`, `apis/apps/v1`) -> its document."""
        cache = self._cached()
        if "v3" in cache:
            docs: dict[str, Obj] = cache["v3"]
            return docs
        bundled = _bundled()
        kinds: dict[str, str] = bundled["kinds"]
        definitions: dict[str, Obj] = dict(bundled["definitions"])
        crds = self._crds()
        for name, (_gv, schema) in crds.items():
            definitions[name] = schema
        docs = {}
        for group, versions in self.registry.groups().items():
            for version in versions:
                api_version = f"{group}/{version}" if group else version
                roots: list[str] = []
                extra: dict[str, Obj] = {}
                paths: dict[str, Obj] = {}
                for rt in self.registry.in_group_version(group, version):
                    paths |= _paths(rt)
                    if rt.custom:
                        roots += [n for n, (gv, _s) in crds.items() if gv == api_version]
                        continue
                    for kind in (rt.kind, rt.list_kind):
                        bundled_name = kinds.get(f"{api_version}/{kind}")
                        if bundled_name is not None:
                            roots.append(bundled_name)
                        else:
                            extra[f"kubesim.{api_version}.{kind}"] = {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                                "x-kubernetes-group-version-kind": _gvk(group, version, kind),
                            }
                schemas = {
                    name: _v3_schema(definitions[name]) for name in _closure(roots, definitions)
                }
                path = f"apis/{group}/{version}" if group else f"api/{version}"
                docs[path] = {
                    "openapi": "3.0.0",
                    "info": _INFO,
                    "paths": dict(sorted(paths.items())),
                    "components": {"schemas": {**schemas, **extra}},
                }
        cache["v3"] = docs
        return docs

    def v3_index(self) -> Obj:
        paths = {}
        for path, doc in sorted(self._v3_docs().items()):
            digest = hashlib.sha512(orjson.dumps(doc)).hexdigest()[:128].upper()
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
        return {"paths": paths}

    def v3_document(self, path: str) -> Obj | None:
        return self._v3_docs().get(path.strip("/"))


_QUERY = {"in": "query", "schema": {"type": "string", "uniqueItems": True}}
_WRITE_PARAMETERS = [{"name": n, **_QUERY} for n in ("dryRun", "fieldManager")]


def _paths(rt: ResourceType) -> dict[str, Obj]:
    """The REST paths of one resource type, each operation tagged with its kind.

    kubectl finds a resource's kind through these (`explain`), and reads the PATCH
    parameters to learn whether the server validates fields itself: kubesim does not
    take `fieldValidation`, so kubectl validates client-side against the schemas.
    """
    prefix = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
    collection = (
        f"{prefix}/namespaces/{{namespace}}/{rt.plural}"
        if rt.namespaced
        else (f"{prefix}/{rt.plural}")
    )
    gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}

    def op(action: str, verb: str, parameters: list[Obj] | None = None) -> Obj:
        operation: Obj = {
            "operationId": f"{verb}{rt.kind}",
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
            "responses": {"200": {"description": "OK"}},
        }
        if parameters:
            operation["parameters"] = parameters
        return operation

    force = [*_WRITE_PARAMETERS, {"name": "force", **_QUERY}]
    return {
        collection: {
            "get": op("list", "list"),
            "post": op("post", "create", _WRITE_PARAMETERS),
            "delete": op("deletecollection", "deleteCollection"),
        },
        f"{collection}/{{name}}": {
            "get": op("get", "read"),
            "put": op("put", "replace", _WRITE_PARAMETERS),
            "patch": op("patch", "patch", force),
            "delete": op("delete", "delete", _WRITE_PARAMETERS[:1]),
        },
    }


# -- protobuf (gnostic openapi.v2.Document) ------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _string(number: int, value: str) -> bytes:
    return _field(number, value.encode())


def _named(name: str, value: bytes) -> bytes:
    return _string(1, name) + _field(2, value)


def _schema_pb(schema: Obj) -> bytes:
    out = bytearray()
    if "$ref" in schema:
        out += _string(1, schema["$ref"])
    if "format" in schema:
        out += _string(2, str(schema["format"]))
    if "description" in schema:
        out += _string(4, str(schema["description"]))
    for name in schema.get("required") or ():
        out += _string(19, str(name))
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        out += _field(21, _field(1, _schema_pb(extra)))
    elif isinstance(extra, bool):
        out += _field(21, _varint(2 << 3) + _varint(int(extra)))
    if isinstance(schema.get("type"), str):
        out += _field(22, _string(1, schema["type"]))
    if isinstance(schema.get("items"), dict):
        out += _field(23, _field(1, _schema_pb(schema["items"])))
    if isinstance(schema.get("properties"), dict):
        props = b"".join(
            _field(1, _named(k, _schema_pb(v))) for k, v in schema["properties"].items()
        )
        out += _field(25, props)
    for key, value in schema.items():
        if key.startswith("x-"):
            out += _field(31, _named(key, _string(2, orjson.dumps(value).decode())))
    return bytes(out)


def _document_pb(doc: Obj) -> bytes:
    info = _string(1, doc["info"]["title"]) + _string(2, doc["info"]["version"])
    definitions = b"".join(
        _field(1, _named(name, _schema_pb(schema))) for name, schema in doc["definitions"].items()
    )
    return _string(1, doc["swagger"]) + _field(2, info) + _field(8, b"") + _field(9, definitions)
