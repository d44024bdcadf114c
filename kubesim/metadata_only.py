"""Metadata-only answers: `Accept: application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1`.

What client-go's metadata client asks for (and what a watcher of Secrets asks for when it
must never hold their values): each object reduced to `kind: PartialObjectMetadata` with
its `metadata` only. As the apiserver does, a list asks for `PartialObjectMetadataList`
and a single object or a watch for `PartialObjectMetadata`; the other way round a list or
get is refused with 406, while a watch's events, failing to convert, carry the whole
object (the apiserver logs the error and sends the object as it is).
"""

from __future__ import annotations

import re
from typing import Any, Final, Literal

from kubesim.errors import ApiError
from kubesim.resources import ResourceType

Obj = dict[str, Any]
Shape = Literal["PartialObjectMetadata", "PartialObjectMetadataList"]
API_VERSION: Final = "meta.k8s.io/v1"
_GROUP_VERSIONS: Final = frozenset({"meta.k8s.io/v1", "meta.k8s.io/v1beta1"})
_AS = re.compile(r"(?:^|;)\s*as=(PartialObjectMetadata(?:List)?)\s*(?:;|$)")
_G = re.compile(r"(?:^|;)\s*g=([^;,\s]+)")
_V = re.compile(r"(?:^|;)\s*v=([^;,\s]+)")


def requested(accept: str) -> tuple[Shape, str] | None:
    """The metadata shape the first media type of `accept` asks for, and its group/version."""
    first = accept.split(",", 1)[0]
    shape = _AS.search(first)
    if shape is None:
        return None
    group, version = _G.search(first), _V.search(first)
    return shape.group(
        1
    ), f"{group.group(1) if group else ''}/{version.group(1) if version else ''}"  # type: ignore[return-value]


def _go_type(rt: ResourceType, *, as_list: bool) -> str:
    if rt.custom:
        return "*unstructured.UnstructuredList" if as_list else "*unstructured.Unstructured"
    package = "core" if not rt.group else rt.group.split(".", 1)[0]
    return f"*{package}.{rt.kind}{'List' if as_list else ''}"


def _not_acceptable(message: str) -> ApiError:
    return ApiError(code=406, reason="NotAcceptable", message=message)


def _check(shape: Shape, group_version: str, rt: ResourceType, *, as_list: bool) -> None:
    if shape == "PartialObjectMetadata" and as_list:
        raise _not_acceptable(
            "you requested PartialObjectMetadata, but the requested object is a list "
            f"({_go_type(rt, as_list=True)})"
        )
    if shape == "PartialObjectMetadataList" and not as_list:
        raise _not_acceptable(
            "you requested PartialObjectMetadataList, but the requested object is not a list "
            f"({_go_type(rt, as_list=False)})"
        )
    if group_version not in _GROUP_VERSIONS:
        raise _not_acceptable(
            f"no PartialObjectMetadataList exists in group version {group_version}"
        )


def partial(obj: Obj, group_version: str = API_VERSION) -> Obj:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": group_version,
        "metadata": obj["metadata"],
    }


def partial_object(asked: tuple[Shape, str], rt: ResourceType, obj: Obj) -> Obj:
    _check(*asked, rt, as_list=False)
    return partial(obj, asked[1])


def partial_list(asked: tuple[Shape, str], rt: ResourceType, body: Obj) -> Obj:
    _check(*asked, rt, as_list=True)
    return {
        "kind": "PartialObjectMetadataList",
        "apiVersion": asked[1],
        "metadata": body["metadata"],
        "items": [partial(item, asked[1]) for item in body["items"]],
    }


def watch_shape(asked: tuple[Shape, str] | None) -> str | None:
    """The group/version a watch's objects are reduced to; None sends them whole (no
    metadata asked, or a list shape a single event cannot take)."""
    if asked is None or asked[0] != "PartialObjectMetadata" or asked[1] not in _GROUP_VERSIONS:
        return None
    return asked[1]
