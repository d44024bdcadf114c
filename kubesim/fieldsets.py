"""Field ownership (`metadata.managedFields`) and server-side apply.

A field set is a set of paths in the FieldsV1 vocabulary: `f:<field>` steps into a map,
`k:{"name":"x"}` into the list item with that merge key, and `.` marks the item itself.
Apply merges the applied configuration into the live object (lists by merge key), then
removes the fields the same manager applied last time but no longer does, unless another
manager still owns them. Fields owned by any other manager (one that applied, or one that
wrote them with an update or patch) with a different value are conflicts (409) unless
`force=true`, which takes them over; the 409 names each manager as the apiserver prints
it (`"kubectl-edit" using apps/v1 at <time>` for updaters). Writes through update/patch
take ownership of the fields whose value they changed, as the apiserver does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from kubesim.errors import ApiError
from kubesim.patching import merge_key, strategic_merge

Obj = dict[str, Any]
Path = tuple[str, ...]
_MISSING = object()

#: metadata fields a manager can own (identity and server-set fields are not owned)
_OWNED_METADATA = ("labels", "annotations", "finalizers", "ownerReferences")


_clock: list[Any] = [-1, ""]  # the second last formatted, and its text


def _second_text(second: int) -> str:
    if second != _clock[0]:
        _clock[0], _clock[1] = second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
    text: str = _clock[1]
    return text


def now_iso() -> str:
    """The current UTC time at one-second resolution, as the apiserver writes timestamps."""
    return _second_text(int(time.time()))


def now_micro() -> str:
    """The current UTC time at microsecond resolution (`2026-01-02T03:04:05.123456Z`), as
    the apiserver writes MicroTime fields (an Event's `eventTime`)."""
    second, nanos = divmod(time.time_ns(), 1_000_000_000)
    return f"{_second_text(second)[:-1]}.{nanos // 1000:06d}Z"


def _item_key(field: str, item: Obj, items: list[Any]) -> str | None:
    key = merge_key(field, items)
    if key is None or key not in item:
        return None
    return "k:" + json.dumps({key: item[key]}, separators=(",", ":"))


def _keyed_items(field: str, value: Any) -> list[tuple[Obj, str]] | None:
    """A list of objects each with its merge key, as managedFields tracks them item by
    item; None for anything else (a scalar, a map, a list tracked as a whole)."""
    if not (isinstance(value, list) and value and all(isinstance(i, dict) for i in value)):
        return None
    keyed = [(item, _item_key(field, item, value)) for item in value]
    if any(key is None for _, key in keyed):
        return None
    return [(item, key) for item, key in keyed if key is not None]


def fields_of(value: Obj, path: Path = ()) -> set[Path]:
    out: set[Path] = set()
    for k, v in value.items():
        p = (*path, f"f:{k}")
        items = _keyed_items(k, v)
        if isinstance(v, dict) and v:
            out |= fields_of(v, p)
        elif items is not None:
            for item, ik in items:
                out.add((*p, ik, "."))
                out |= fields_of(item, (*p, ik))
        else:
            out.add(p)
    return out


def _ownable(obj: Obj) -> Obj:
    meta = obj.get("metadata") or {}
    owned = {k: meta[k] for k in _OWNED_METADATA if k in meta}
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    if owned:
        body["metadata"] = owned
    return body


def object_fields(obj: Obj) -> set[Path]:
    """The fields of a whole object that managers can own."""
    return fields_of(_ownable(obj))


def object_fields_v1(obj: Obj) -> Obj:
    """`to_fields_v1(object_fields(obj))`, built straight from the object.

    The create-by-apply path needs only the tree; going through a set of path tuples and
    sorting them was a fifth of kubesim's CPU under the deployer benchmark.
    """
    tree: Obj = {}
    _grow(_ownable(obj), tree)
    return tree


def _grow(value: Obj, node: Obj) -> None:
    """Add `value`'s fields under `node`, children in sorted order as `to_fields_v1` has them.

    A map node holds only `f:` children, a list only `k:` items, an item `.` then `f:`
    children ("." sorts first), so inserting in sorted order at each level is enough.
    """
    for k in sorted(value):
        v = value[k]
        child = node.setdefault(f"f:{k}", {})
        if isinstance(v, dict) and v:
            _grow(v, child)
        elif isinstance(v, list) and v and all(isinstance(i, dict) for i in v):
            keys = [_item_key(k, i, v) for i in v]
            if None in keys:
                continue
            for ik, item in sorted(zip(keys, v, strict=True), key=lambda pair: str(pair[0])):
                assert ik is not None
                entry = child.setdefault(ik, {})
                entry.setdefault(".", {})
                _grow(item, entry)


def _step(node: Any, part: str) -> Any:
    if part.startswith("f:"):
        return node.get(part[2:], _MISSING) if isinstance(node, dict) else _MISSING
    if part.startswith("k:") and isinstance(node, list):
        want = json.loads(part[2:])
        for item in node:
            if isinstance(item, dict) and all(item.get(k) == v for k, v in want.items()):
                return item
    return _MISSING


def get_path(obj: Any, path: Path) -> Any:
    node = obj
    for part in path:
        if part == ".":
            return True
        node = _step(node, part)
        if node is _MISSING:
            return _MISSING
    return node


def changed_fields(old: Obj, new: Obj) -> set[Path]:
    """`{p for p in object_fields(new) if get_path(old, p) != get_path(new, p)}`, in one
    walk of both objects that skips equal subtrees: looking every field of a Deployment
    up from the root was a third of kubesim's CPU per PATCH."""
    out: set[Path] = set()
    _changed(_ownable(old), _ownable(new), (), out)
    return out


def _changed(old: Any, new: Obj, path: Path, out: set[Path]) -> None:
    for k, v in new.items():
        o = old.get(k, _MISSING) if isinstance(old, dict) else _MISSING
        if o is not _MISSING and o == v:
            continue  # equal subtrees: none of their fields changed
        p = (*path, f"f:{k}")
        items = _keyed_items(k, v)
        if isinstance(v, dict) and v:
            _changed(o, v, p, out)
        elif items is not None:
            for item, ik in items:
                held = _step(o, ik)
                if held is _MISSING:
                    out.add((*p, ik, "."))
                    out |= fields_of(item, (*p, ik))
                else:
                    _changed(held, item, (*p, ik), out)
        else:
            out.add(p)


def remove_path(obj: Any, path: Path) -> None:
    node = obj
    for i, part in enumerate(path[:-1]):
        if path[i + 1] == "." and isinstance(node, list):
            item = _step(node, part)
            if item is not _MISSING:
                node.remove(item)
            return
        node = _step(node, part)
        if node is _MISSING:
            return
    last = path[-1]
    if last.startswith("f:") and isinstance(node, dict):
        node.pop(last[2:], None)


def to_fields_v1(paths: Iterable[Path]) -> Obj:
    root: Obj = {}
    for path in sorted(paths):
        node = root
        for part in path:
            node = node.setdefault(part, {})
    return root


def from_fields_v1(tree: Obj, path: Path = ()) -> set[Path]:
    out: set[Path] = set()
    for part, sub in tree.items():
        p = (*path, part)
        if sub:
            out |= from_fields_v1(sub, p)
        else:
            out.add(p)
    return out


def _entries(obj: Obj) -> list[Obj]:
    return list(obj.get("metadata", {}).get("managedFields") or [])


def _entry_paths(entry: Obj) -> set[Path]:
    return from_fields_v1(entry.get("fieldsV1") or {})


def _set_entries(
    obj: Obj, entries: list[tuple[str, str, str, set[Path]]], *, api_version: str
) -> None:
    result = []
    for manager, operation, subresource, paths in entries:
        if not paths:
            continue
        entry: Obj = {
            "manager": manager,
            "operation": operation,
            "apiVersion": api_version,
            "time": now_iso(),
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(paths),
        }
        if subresource:
            entry["subresource"] = subresource
        result.append(entry)
    obj["metadata"]["managedFields"] = result


def _parse_entries(obj: Obj) -> list[tuple[str, str, str, set[Path]]]:
    return [
        (e.get("manager", ""), e.get("operation", ""), e.get("subresource", ""), _entry_paths(e))
        for e in _entries(obj)
    ]


def record_update(
    old: Obj | None, new: Obj, *, manager: str, subresource: str = "", api_version: str
) -> None:
    """Give `manager` the fields whose value changed from `old` to `new` (in place)."""
    changed = object_fields(new) if old is None else changed_fields(old, new)
    entries = [(m, op, sub, paths - changed) for (m, op, sub, paths) in _parse_entries(new)]
    for i, (m, op, sub, paths) in enumerate(entries):
        if m == manager and op == "Update" and sub == subresource:
            entries[i] = (m, op, sub, paths | changed)
            break
    else:
        entries.append((manager, "Update", subresource, changed))
    _set_entries(new, entries, api_version=api_version)


def apply(live: Obj, applied: Obj, *, manager: str, force: bool, api_version: str) -> Obj:
    """Server-side apply of `applied` onto `live` (a private copy); returns the result."""
    new_paths = object_fields(applied)
    entries = _parse_entries(live)
    previous: set[Path] = set()
    others: set[Path] = set()
    conflicts: list[tuple[str, Path]] = []
    for raw, (m, op, _sub, paths) in zip(_entries(live), entries, strict=True):
        if m == manager and op == "Apply":
            previous = paths
            continue
        others |= paths
        if not force:
            for p in sorted(paths & new_paths):
                if p[-1] != "." and get_path(live, p) != get_path(applied, p):
                    conflicts.append((_manager_label(raw), p))
    if conflicts:
        raise _conflict_error(conflicts)
    body = {k: v for k, v in applied.items() if k not in ("apiVersion", "kind", "metadata")}
    meta_patch = {k: v for k, v in (applied.get("metadata") or {}).items() if k in _OWNED_METADATA}
    merged: Obj = strategic_merge(live, body)
    merged["metadata"] = strategic_merge(live["metadata"], meta_patch)
    for path in sorted(previous - new_paths - others, key=lambda p: (len(p), p[-1] != ".")):
        remove_path(merged, path)
    kept = [
        (m, op, sub, paths - new_paths if force else paths)
        for (m, op, sub, paths) in entries
        if not (m == manager and op == "Apply")
    ]
    kept.append((manager, "Apply", "", new_paths))
    if _same_content(live, merged) and _same_entries(entries, kept):
        # Nothing changed: keep the entries (and their times) so the object stays equal to
        # the stored one and the store does not write a new resourceVersion, as the
        # apiserver does for a no-op apply.
        merged["metadata"]["managedFields"] = live["metadata"].get("managedFields")
        return merged
    _set_entries(merged, kept, api_version=api_version)
    return merged


def _same_content(live: Obj, merged: Obj) -> bool:
    if {k: v for k, v in live.items() if k != "metadata"} != {
        k: v for k, v in merged.items() if k != "metadata"
    }:
        return False
    before, after = live["metadata"], merged["metadata"]
    return {k: v for k, v in before.items() if k != "managedFields"} == {
        k: v for k, v in after.items() if k != "managedFields"
    }


def _same_entries(
    before: list[tuple[str, str, str, set[Path]]], after: list[tuple[str, str, str, set[Path]]]
) -> bool:
    return before == [entry for entry in after if entry[3]]


def _manager_label(entry: Obj) -> str:
    """A managedFields entry as the apiserver names it in a conflict (`printManager`)."""
    label = json.dumps(entry.get("manager", ""))
    if entry.get("subresource"):
        label += f" with subresource {json.dumps(entry['subresource'])}"
    if entry.get("operation") == "Update":
        label += f" using {entry.get('apiVersion', '')}"
        if entry.get("time"):
            label += f" at {entry['time']}"
    return label


def _dotted(path: Path) -> str:
    """A field path as structured-merge-diff prints it: `.spec.containers[name="c"].image`."""
    parts = []
    for part in path:
        if part.startswith("f:"):
            parts.append("." + part[2:])
        elif part.startswith("k:"):
            key = json.loads(part[2:])
            parts.append("[" + ",".join(f"{k}={json.dumps(v)}" for k, v in key.items()) + "]")
        elif part.startswith("v:"):
            parts.append(f"[={part[2:]}]")
    return "".join(parts)


def _conflict_error(conflicts: list[tuple[str, Path]]) -> ApiError:
    if len(conflicts) == 1:
        ((manager, path),) = conflicts
        message = f"Apply failed with 1 conflict: conflict with {manager}: {_dotted(path)}"
    else:
        lines = []
        for manager in sorted({m for m, _p in conflicts}):
            lines.append(f"conflicts with {manager}:")
            lines += [f"- {_dotted(p)}" for m, p in conflicts if m == manager]
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return ApiError(
        code=409,
        reason="Conflict",
        message=message,
        details={
            "causes": [
                {
                    "reason": "FieldManagerConflict",
                    "message": f"conflict with {m}",
                    "field": _dotted(p),
                }
                for m, p in conflicts
            ]
        },
    )
