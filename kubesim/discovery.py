"""Legacy (unaggregated) discovery documents built from the live registry.

Clients asking for aggregated discovery (`as=APIGroupDiscoveryList`) also accept plain
`application/json` and fall back to these, as they do with older apiservers.
"""

from __future__ import annotations

from typing import Any

from kubesim.resources import Registry, ResourceType

Obj = dict[str, Any]

#: group order matters to kubectl's shortname resolution; core groups first
_PREFERRED_ORDER = ("apps", "storage.k8s.io", "apiextensions.k8s.io")


def _version_sort_key(version: str) -> tuple[int, int, int]:
    import re

    m = re.match(r"^v(\d+)(?:(alpha|beta)(\d+))?$", version)
    if not m:
        return (0, 0, 0)
    stability = {"alpha": 1, "beta": 2, None: 3}[m.group(2)]
    return (stability, int(m.group(1)), int(m.group(3) or 0))


def api_versions(server_address: str) -> Obj:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(name: str, versions: list[str]) -> Obj:
    ordered = sorted(versions, key=_version_sort_key, reverse=True)
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in ordered]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(registry: Registry) -> Obj:
    groups = registry.groups()
    names = [g for g in _PREFERRED_ORDER if g in groups]
    names += sorted(g for g in groups if g and g not in names)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(n, groups[n]) for n in names],
    }


def api_group(registry: Registry, group: str) -> Obj | None:
    versions = registry.groups().get(group)
    if not group or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group, versions)}


def _entries(rt: ResourceType) -> list[Obj]:
    main: Obj = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        main["shortNames"] = list(rt.short_names)
    if rt.categories:
        main["categories"] = list(rt.categories)
    result = [main]
    if "status" in rt.subresources:
        result.append(
            {
                "name": f"{rt.plural}/status",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": ["get", "patch", "update"],
            }
        )
    if "scale" in rt.subresources:
        result.append(
            {
                "name": f"{rt.plural}/scale",
                "singularName": "",
                "namespaced": rt.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }
        )
    return result


def api_resource_list(registry: Registry, group: str, version: str) -> Obj | None:
    if not registry.has_group_version(group, version):
        return None
    resources = [e for rt in registry.in_group_version(group, version) for e in _entries(rt)]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }
