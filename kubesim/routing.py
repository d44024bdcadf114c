"""Parse REST paths (`/api/v1/namespaces/ns/pods/name/status`, `/apis/g/v/plural`) into
a `Target`: resource type, namespace, name and subresource. Trailing slashes are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubesim import errors
from kubesim.resources import Registry, ResourceType


@dataclass(frozen=True, slots=True)
class Target:
    rt: ResourceType
    namespace: str | None  # None: all namespaces (or cluster-scoped)
    name: str | None
    subresource: str = ""


def _lookup(registry: Registry, group: str, version: str, plural: str) -> ResourceType:
    rt = registry.lookup(group, version, plural)
    if rt is None:
        raise errors.page_not_found()
    return rt


def parse(registry: Registry, group: str, version: str, rest: list[str]) -> Target:
    """`rest` is what follows `/api/v1` or `/apis/<group>/<version>`, split on `/`."""
    if not rest:
        raise errors.page_not_found()
    if rest[0] == "namespaces" and len(rest) >= 3:
        ns = rest[1]
        candidate = registry.lookup(group, version, rest[2])
        if candidate is not None and candidate.namespaced:
            if len(rest) > 5:
                raise errors.page_not_found()
            name = rest[3] if len(rest) > 3 else None
            sub = rest[4] if len(rest) > 4 else ""
            return _checked(Target(candidate, ns, name, sub))
    rt = _lookup(registry, group, version, rest[0])
    if len(rest) > 3:
        raise errors.page_not_found()
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else ""
    if rt.namespaced and name is not None:
        raise errors.page_not_found()
    return _checked(Target(rt, None, name, sub))


def _checked(target: Target) -> Target:
    if target.subresource and target.subresource not in target.rt.subresources:
        raise errors.page_not_found()
    return target
