"""The resource types kubesim serves: built-ins plus whatever CRDs are installed.

A `ResourceType` is one (group, version, plural). All served versions of a CRD share one
storage key, so an object created through v1 is visible through v1beta1 too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True, slots=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    subresources: frozenset[str] = frozenset()
    categories: tuple[str, ...] = ()
    #: whether `status` can only change through `/status` (and spec bumps `generation`)
    status_split: bool = True
    custom: bool = False
    #: the storage key of the resource this one is another shape of (events.k8s.io Events
    #: are core Events converted); empty for resources stored under their own key
    stored_as: str = ""
    #: the verbs it answers (a review such as SelfSubjectAccessReview is create only)
    verbs: tuple[str, ...] = VERBS
    #: where objects of this type are stored (computed once: every storage event and
    #: lookup reads it, about two million times while 10,000 Deployments settle)
    storage_key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "storage_key", self.stored_as or f"{self.group}/{self.plural}")

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


def _core(plural: str, kind: str, *, namespaced: bool, **kw: Any) -> ResourceType:
    return ResourceType("", "v1", plural, kind, namespaced, singular=kind.lower(), **kw)


STATUS = frozenset({"status"})
STATUS_SCALE = frozenset({"status", "scale"})


def _grouped(group: str, version: str, plural: str, kind: str, **kw: Any) -> ResourceType:
    namespaced = kw.pop("namespaced", True)
    return ResourceType(group, version, plural, kind, namespaced, singular=kind.lower(), **kw)


RBAC = "rbac.authorization.k8s.io"

BUILTINS: tuple[ResourceType, ...] = (
    _core("namespaces", "Namespace", namespaced=False, short_names=("ns",), subresources=STATUS),
    _core("nodes", "Node", namespaced=False, short_names=("no",), subresources=STATUS),
    _core(
        "pods",
        "Pod",
        namespaced=True,
        short_names=("po",),
        subresources=frozenset({"status", "log"}),
        categories=("all",),
    ),
    _core(
        "services",
        "Service",
        namespaced=True,
        short_names=("svc",),
        subresources=STATUS,
        categories=("all",),
    ),
    _core("secrets", "Secret", namespaced=True, status_split=False),
    _core("configmaps", "ConfigMap", namespaced=True, short_names=("cm",), status_split=False),
    _core(
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        namespaced=True,
        short_names=("pvc",),
        subresources=STATUS,
    ),
    _core("events", "Event", namespaced=True, short_names=("ev",), status_split=False),
    ResourceType(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        True,
        singular="deployment",
        short_names=("deploy",),
        subresources=frozenset({"status", "scale"}),
        categories=("all",),
    ),
    ResourceType(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        True,
        singular="replicaset",
        short_names=("rs",),
        subresources=frozenset({"status", "scale"}),
        categories=("all",),
    ),
    _core(
        "serviceaccounts",
        "ServiceAccount",
        namespaced=True,
        short_names=("sa",),
        status_split=False,
    ),
    _core(
        "replicationcontrollers",
        "ReplicationController",
        namespaced=True,
        short_names=("rc",),
        subresources=STATUS_SCALE,
        categories=("all",),
    ),
    _grouped(
        "apps",
        "v1",
        "daemonsets",
        "DaemonSet",
        short_names=("ds",),
        subresources=STATUS,
        categories=("all",),
    ),
    _grouped(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        short_names=("sts",),
        subresources=STATUS_SCALE,
        categories=("all",),
    ),
    _grouped("batch", "v1", "jobs", "Job", subresources=STATUS, categories=("all",)),
    _grouped(
        "batch",
        "v1",
        "cronjobs",
        "CronJob",
        short_names=("cj",),
        subresources=STATUS,
        categories=("all",),
    ),
    _grouped(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        short_names=("hpa",),
        subresources=STATUS,
        categories=("all",),
    ),
    _grouped(RBAC, "v1", "roles", "Role", status_split=False),
    _grouped(RBAC, "v1", "rolebindings", "RoleBinding", status_split=False),
    _grouped(RBAC, "v1", "clusterroles", "ClusterRole", namespaced=False, status_split=False),
    _grouped(
        RBAC,
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        namespaced=False,
        status_split=False,
    ),
    _grouped(
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        namespaced=False,
        status_split=False,
        verbs=("create",),
    ),
    _grouped(
        "apiregistration.k8s.io",
        "v1",
        "apiservices",
        "APIService",
        namespaced=False,
        subresources=STATUS,
    ),
    ResourceType(
        "events.k8s.io",
        "v1",
        "events",
        "Event",
        True,
        singular="event",
        short_names=("ev",),
        status_split=False,
        stored_as="/events",
    ),
    ResourceType(
        "storage.k8s.io",
        "v1",
        "storageclasses",
        "StorageClass",
        False,
        singular="storageclass",
        short_names=("sc",),
        status_split=False,
    ),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        singular="customresourcedefinition",
        short_names=("crd", "crds"),
        subresources=STATUS,
    ),
)


@dataclass
class Registry:
    """Lookup of served resource types by path and by apiVersion/kind."""

    _by_path: dict[tuple[str, str, str], ResourceType] = field(default_factory=dict)
    _group_versions: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def with_builtins(cls) -> Registry:
        registry = cls()
        for rt in BUILTINS:
            registry.add(rt)
        return registry

    def add(self, rt: ResourceType) -> None:
        self._by_path[(rt.group, rt.version, rt.plural)] = rt
        versions = self._group_versions.setdefault(rt.group, [])
        if rt.version not in versions:
            versions.append(rt.version)

    def remove_group_plural(self, group: str, plural: str) -> None:
        for key in [k for k in self._by_path if k[0] == group and k[2] == plural]:
            del self._by_path[key]
        still = {v for (g, v, _p) in self._by_path if g == group}
        if still:
            self._group_versions[group] = [v for v in self._group_versions[group] if v in still]
        else:
            self._group_versions.pop(group, None)

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        for rt in self._by_path.values():
            if rt.group == group and rt.version == version and rt.kind == kind:
                return rt
        return None

    def has_group_version(self, group: str, version: str) -> bool:
        return version in self._group_versions.get(group, [])

    def groups(self) -> dict[str, list[str]]:
        return {g: list(v) for g, v in self._group_versions.items()}

    def in_group_version(self, group: str, version: str) -> Iterator[ResourceType]:
        for (g, v, _p), rt in self._by_path.items():
            if g == group and v == version:
                yield rt


def crd_resource_types(crd: Obj) -> list[ResourceType]:
    """The resource types a CustomResourceDefinition object makes servable."""
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    namespaced = spec.get("scope", "Namespaced") == "Namespaced"
    result = []
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        subs = frozenset(version.get("subresources", {}) or {})
        result.append(
            ResourceType(
                spec["group"],
                version["name"],
                names["plural"],
                names["kind"],
                namespaced,
                singular=names.get("singular", names["kind"].lower()),
                short_names=tuple(names.get("shortNames", [])),
                subresources=subs,
                categories=tuple(names.get("categories", [])),
                status_split="status" in subs,
                custom=True,
            )
        )
    return result
