"""Validation of obviously invalid input, answered with 422 `Invalid` like the apiserver.

Covers object names, label keys and values, container resources (quantities; extended
resources such as `nvidia.com/gpu` need equal requests and limits), Deployment selectors
against template labels, Service ports, and what an RBAC binding refers to. Field paths use the apiserver's notation,
e.g. `spec.template.spec.containers[0].resources.requests[cpu]`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kubesim.cron import CronError, parse
from kubesim.defaults import RBAC_GROUP
from kubesim.errors import invalid
from kubesim.quantity import is_quantity, parse_quantity
from kubesim.resources import ResourceType
from kubesim.selectors import match_labels_selector

Obj = dict[str, Any]
Causes = list[tuple[str, str]]

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_SUBJECT_KINDS = ("ServiceAccount", "User", "Group")
_STANDARD_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage", "storage"})

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)


DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
    "an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
#: kinds whose names are DNS labels: RFC 1123 for Namespaces, RFC 1035 for Services
_LABEL_NAMES = {"/namespaces": (_LABEL, LABEL_MSG), "/services": (_DNS1035, DNS1035_MSG)}


def _value(v: object) -> str:
    return f'Invalid value: "{v}"' if isinstance(v, str) else f"Invalid value: {v}"


def _name(rt: ResourceType, name: str, causes: Causes) -> None:
    if rt.storage_key in _LABEL_NAMES:
        pattern, message = _LABEL_NAMES[rt.storage_key]
        if len(name) > 63:
            causes.append(("metadata.name", f"{_value(name)}: must be no more than 63 characters"))
        if not pattern.match(name):
            causes.append(("metadata.name", f"{_value(name)}: {message}"))
    elif len(name) > 253 or not _SUBDOMAIN.match(name):
        causes.append(("metadata.name", f"{_value(name)}: {SUBDOMAIN_MSG}"))


def _labels(labels: object, field: str, causes: Causes) -> None:
    if not isinstance(labels, dict):
        return
    for key, value in labels.items():
        prefix, _, name = str(key).rpartition("/")
        ok_key = (
            0 < len(name) <= 63
            and bool(_QUALIFIED.match(name))
            and (not prefix or bool(_SUBDOMAIN.match(prefix)))
        )
        if not ok_key:
            causes.append((field, f"{_value(key)}: name part must be a valid qualified name"))
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            causes.append(
                (
                    field,
                    f"{_value(value)}: a valid label must be an empty string or consist of "
                    "alphanumeric characters, '-', '_' or '.', and must start and end with an "
                    "alphanumeric character, and must be no more than 63 characters",
                )
            )


def _resources(resources: Obj, field: str, causes: Causes) -> None:
    lists = {}
    for section in ("requests", "limits"):
        values = resources.get(section) or {}
        parsed = {}
        for name, qty in values.items():
            path = f"{field}.{section}[{name}]"
            if not is_quantity(qty):
                causes.append(
                    (
                        path,
                        f"{_value(qty)}: quantities must match the regular expression "
                        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                    )
                )
                continue
            parsed[name] = parse_quantity(qty)
            if parsed[name] < 0:
                causes.append((path, f"{_value(qty)}: must be greater than or equal to 0"))
        lists[section] = parsed
    requests, limits = lists["requests"], lists["limits"]
    for name, value in requests.items():
        extended = name not in _STANDARD_RESOURCES and "/" in name
        if extended and name not in limits:
            causes.append(
                (
                    f"{field}.limits",
                    "Required value: Limit must be set for non overcommitable resources",
                )
            )
        elif extended and limits[name] != value:
            causes.append(
                (
                    f"{field}.requests[{name}]",
                    f"{_value(str(value))}: must be equal to {name} limit",
                )
            )
        elif name in limits and value > limits[name]:
            causes.append(
                (
                    f"{field}.requests[{name}]",
                    f"{_value(str(value))}: must be less than or equal to {name} limit",
                )
            )


def _pod_spec(spec: object, field: str, causes: Causes) -> None:
    if not isinstance(spec, dict):
        causes.append((field, "Required value"))
        return
    containers = spec.get("containers")
    if not containers:
        causes.append((f"{field}.containers", "Required value"))
        return
    for group in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(group) or []):
            cf = f"{field}.{group}[{i}]"
            if not isinstance(c, dict):
                causes.append((cf, "Invalid value: must be an object"))
                continue
            if not c.get("name"):
                causes.append((f"{cf}.name", "Required value"))
            elif not _LABEL.match(str(c["name"])):
                causes.append((f"{cf}.name", f"{_value(c['name'])}: {LABEL_MSG}"))
            if not c.get("image"):
                causes.append((f"{cf}.image", "Required value"))
            if isinstance(c.get("resources"), dict):
                _resources(c["resources"], f"{cf}.resources", causes)
            for j, port in enumerate(c.get("ports") or []):
                number = port.get("containerPort") if isinstance(port, dict) else None
                if not isinstance(number, int) or not 0 < number < 65536:
                    causes.append(
                        (
                            f"{cf}.ports[{j}].containerPort",
                            f"{_value(number)}: must be between 1 and 65535, inclusive",
                        )
                    )


def _deployment(obj: Obj, causes: Causes) -> None:
    spec = obj.get("spec") or {}
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or replicas < 0:
        causes.append(("spec.replicas", f"{_value(replicas)}: must be greater than or equal to 0"))
    selector = spec.get("selector")
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        causes.append(("spec.selector", "Required value"))
    elif not match_labels_selector(selector)(labels):
        causes.append(
            (
                "spec.template.metadata.labels",
                f"{_value(labels)}: `selector` does not match template `labels`",
            )
        )
    _labels(labels, "spec.template.metadata.labels", causes)
    _pod_spec(template.get("spec"), "spec.template.spec", causes)


def _job_template(spec: Obj, field: str, causes: Causes) -> None:
    template = spec.get("template") or {}
    policy = (template.get("spec") or {}).get("restartPolicy")
    if policy not in ("OnFailure", "Never"):
        causes.append(
            (
                f"{field}.template.spec.restartPolicy",
                f'Unsupported value: "{policy}": supported values: "OnFailure", "Never"',
            )
        )
    _labels(
        (template.get("metadata") or {}).get("labels") or {},
        f"{field}.template.metadata.labels",
        causes,
    )
    _pod_spec(template.get("spec"), f"{field}.template.spec", causes)


def _cron_job(obj: Obj, causes: Causes) -> None:
    spec = obj.get("spec") or {}
    try:
        parse(str(spec.get("schedule", "")))
    except CronError as exc:
        causes.append(("spec.schedule", f"Invalid value: {_value(spec.get('schedule'))}: {exc}"))
    _job_template(
        (spec.get("jobTemplate") or {}).get("spec") or {}, "spec.jobTemplate.spec", causes
    )


def _service(obj: Obj, causes: Causes) -> None:
    for i, port in enumerate((obj.get("spec") or {}).get("ports") or []):
        number = port.get("port") if isinstance(port, dict) else None
        if not isinstance(number, int) or not 0 < number < 65536:
            causes.append(
                (
                    f"spec.ports[{i}].port",
                    f"{_value(number)}: must be between 1 and 65535, inclusive",
                )
            )


def _unsupported(value: object, supported: tuple[str, ...]) -> str:
    listed = ", ".join(f'"{s}"' for s in supported)
    return f'Unsupported value: "{value or ""}": supported values: {listed}'


def _binding(role_kinds: tuple[str, ...]) -> Callable[[Obj, Causes], None]:
    """RoleBinding (to a Role or ClusterRole) or ClusterRoleBinding (to a ClusterRole):
    the roleRef's group, kind and name, and each subject's kind and name."""

    def check(obj: Obj, causes: Causes) -> None:
        ref: Obj = obj["roleRef"] if isinstance(obj.get("roleRef"), dict) else {}
        if ref.get("apiGroup") != RBAC_GROUP:
            causes.append(("roleRef.apiGroup", _unsupported(ref.get("apiGroup"), (RBAC_GROUP,))))
        if ref.get("kind") not in role_kinds:
            causes.append(("roleRef.kind", _unsupported(ref.get("kind"), role_kinds)))
        if not ref.get("name"):
            causes.append(("roleRef.name", "Required value"))
        for i, given in enumerate(obj.get("subjects") or []):
            subject: Obj = given if isinstance(given, dict) else {}
            if not subject.get("name"):
                causes.append((f"subjects[{i}].name", "Required value"))
            if subject.get("kind") not in _SUBJECT_KINDS:
                causes.append(
                    (f"subjects[{i}].kind", _unsupported(subject.get("kind"), _SUBJECT_KINDS))
                )

    return check


def _crd(obj: Obj, causes: Causes) -> None:
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    for field in ("group", "names", "versions"):
        if not spec.get(field):
            causes.append((f"spec.{field}", "Required value"))
    for field in ("plural", "kind"):
        if not names.get(field):
            causes.append((f"spec.names.{field}", "Required value"))
    expected = f"{names.get('plural')}.{spec.get('group')}"
    if obj["metadata"].get("name") != expected:
        causes.append(
            (
                "metadata.name",
                f'{_value(obj["metadata"].get("name"))}: must be spec.names.plural+"."+spec.group',
            )
        )


_KIND_CHECKS = {
    "apps/deployments": _deployment,
    "apps/replicasets": _deployment,  # the same replicas, selector and template rules
    "apps/statefulsets": _deployment,
    "apps/daemonsets": _deployment,
    "batch/jobs": lambda obj, causes: _job_template(obj.get("spec") or {}, "spec", causes),
    "batch/cronjobs": _cron_job,
    "/pods": lambda obj, causes: _pod_spec(obj.get("spec"), "spec", causes),
    "/services": _service,
    "apiextensions.k8s.io/customresourcedefinitions": _crd,
    f"{RBAC_GROUP}/rolebindings": _binding(("Role", "ClusterRole")),
    f"{RBAC_GROUP}/clusterrolebindings": _binding(("ClusterRole",)),
}


def validate(rt: ResourceType, obj: Obj) -> None:
    meta = obj["metadata"]
    causes: Causes = []
    _name(rt, str(meta.get("name", "")), causes)
    _labels(meta.get("labels"), "metadata.labels", causes)
    check = _KIND_CHECKS.get(rt.storage_key)
    if check is not None:
        check(obj, causes)
    if causes:
        raise invalid(kind=rt.kind, group=rt.group, name=str(meta.get("name", "")), causes=causes)
