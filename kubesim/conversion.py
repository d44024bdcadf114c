"""Objects between their stored shape and the shape of the version a client asked for.

Most kinds differ between served versions only in `apiVersion` (all versions of a CRD
share one storage). `events.k8s.io/v1` Events are core `v1` Events with renamed fields,
stored once, as the apiserver converts them: `involvedObject` is `regarding`, `message`
is `note`, `source` is `deprecatedSource`, `count`/`firstTimestamp`/`lastTimestamp` are
`deprecatedCount`/`deprecatedFirstTimestamp`/`deprecatedLastTimestamp`, and
`reportingComponent` is `reportingController`.
"""

from __future__ import annotations

from typing import Any

from kubesim.resources import ResourceType

Obj = dict[str, Any]

#: core v1 Event field -> events.k8s.io/v1 Event field
_EVENT_FIELDS = {
    "involvedObject": "regarding",
    "message": "note",
    "source": "deprecatedSource",
    "count": "deprecatedCount",
    "firstTimestamp": "deprecatedFirstTimestamp",
    "lastTimestamp": "deprecatedLastTimestamp",
    "reportingComponent": "reportingController",
}
_EVENT_FIELDS_BACK = {v: k for k, v in _EVENT_FIELDS.items()}
_EVENTS_V1 = "events.k8s.io/v1"
#: storage key -> apiVersion of the stored shape, for resources served in another shape
_STORED_API_VERSION = {"/events": "v1"}


def _renamed(obj: Obj, names: dict[str, str], api_version: str) -> Obj:
    result = {names.get(k, k): v for k, v in obj.items()}
    result["apiVersion"] = api_version
    return result


def served(rt: ResourceType, obj: Obj) -> Obj:
    """The stored `obj` as `rt`'s version shows it (`obj` itself when nothing differs)."""
    if obj.get("apiVersion") == rt.api_version:
        return obj
    if rt.api_version == _EVENTS_V1:
        return _renamed(obj, _EVENT_FIELDS, rt.api_version)
    return {**obj, "apiVersion": rt.api_version}


def stored(rt: ResourceType, obj: Obj) -> Obj:
    """A client's `obj`, written through `rt`, in the shape its storage keeps."""
    if not rt.stored_as:
        return obj
    api_version = _STORED_API_VERSION[rt.stored_as]
    if rt.api_version == _EVENTS_V1:
        return _renamed(obj, _EVENT_FIELDS_BACK, api_version)
    return {**obj, "apiVersion": api_version}
