"""The three PATCH flavours: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and
strategic merge patch.

Strategic merge patch merges lists of objects by their patch merge key (containers, env
and volumes by `name`, ports by `containerPort` or `port`, ...) instead of replacing them;
the keys come from the Kubernetes Go types' `patchMergeKey` tags for the fields kubesim's
clients touch. Directives `$patch: delete|replace`, `$retainKeys`,
`$deleteFromPrimitiveList/<f>` are honoured; `$setElementOrder/<f>` is accepted and ignored.
"""

from __future__ import annotations

import copy
from typing import Any

from kubesim.errors import ApiError

MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "ports": "containerPort",
}
#: primitive lists whose strategic patch is a union rather than a replacement
MERGE_PRIMITIVES = frozenset({"finalizers"})


def merge_key(field: str, items: list[Any]) -> str | None:
    key = MERGE_KEYS.get(field)
    if field == "ports":
        has_container_port = any(isinstance(i, dict) and "containerPort" in i for i in items)
        return "containerPort" if has_container_port else "port"
    return key


def _invalid_patch(message: str) -> ApiError:
    return ApiError(
        code=422, reason="Invalid", message=f"the patch could not be applied: {message}"
    )


# -- JSON merge patch --------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- strategic merge patch ---------------------------------------------------------------


def strategic_merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            result[name] = [x for x in result.get(name) or [] if x not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            if value.get("$patch") == "delete":
                result.pop(key, None)
            else:
                result[key] = strategic_merge(result.get(key), value)
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value)
        else:
            result[key] = value
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain or k not in (target or {})}
    return result


def _merge_list(field: str, current: Any, patch: list[Any]) -> list[Any]:
    current_list = list(current) if isinstance(current, list) else []
    if field in MERGE_PRIMITIVES and all(not isinstance(i, dict) for i in patch):
        return current_list + [i for i in patch if i not in current_list]
    if not patch or not all(isinstance(i, dict) for i in patch):
        return copy.deepcopy(patch)
    if any(i.get("$patch") == "replace" for i in patch):
        return [copy.deepcopy(i) for i in patch if i.get("$patch") != "replace"]
    key = merge_key(field, patch + current_list)
    if key is None:
        return copy.deepcopy(patch)
    result = list(current_list)
    for item in patch:
        if key not in item:
            raise _invalid_patch(f"map in list {field!r} is missing its merge key {key!r}")
        index = next(
            (n for n, c in enumerate(result) if isinstance(c, dict) and c.get(key) == item[key]),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
        elif index is None:
            result.append(strategic_merge({}, item))
        else:
            result[index] = strategic_merge(result[index], item)
    return result


# -- JSON patch --------------------------------------------------------------------------


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _invalid_patch(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts[:-1]:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise _invalid_patch(f"path not found: /{'/'.join(parts)}") from exc
    return node


def _get(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return doc
    parent = _parent(doc, parts)
    try:
        return parent[int(parts[-1])] if isinstance(parent, list) else parent[parts[-1]]
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        raise _invalid_patch(f"path not found: /{'/'.join(parts)}") from exc


def _remove(doc: Any, parts: list[str]) -> Any:
    parent = _parent(doc, parts)
    try:
        if isinstance(parent, list):
            return parent.pop(int(parts[-1]))
        return parent.pop(parts[-1])
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        raise _invalid_patch(f"path not found: /{'/'.join(parts)}") from exc


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _parent(doc, parts)
    last = parts[-1]
    if isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            try:
                index = int(last)
            except ValueError as exc:
                raise _invalid_patch(f"bad index {last!r}") from exc
            if index > len(parent):
                raise _invalid_patch("index out of range")
            parent.insert(index, value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise _invalid_patch(f"cannot add to /{'/'.join(parts)}")
    return doc


def json_patch(doc: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise ApiError(code=400, reason="BadRequest", message="a JSON patch must be a list")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise _invalid_patch(f"malformed operation {op!r}")
        kind, parts = op["op"], _pointer(op["path"])
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, parts)
        elif kind == "replace":
            _get(doc, parts)
            if parts:
                _remove(doc, parts)
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from", ""))
            value = _remove(doc, source) if kind == "move" else copy.deepcopy(_get(doc, source))
            doc = _add(doc, parts, value)
        elif kind == "test":
            if _get(doc, parts) != op.get("value"):
                raise _invalid_patch(f"test failed at {op['path']}")
        else:
            raise _invalid_patch(f"unknown op {kind!r}")
    return doc
