"""`kubectl auth can-i`: SelfSubjectAccessReviews answered from the RBAC objects.

kubesim checks no credentials: a request's bearer token is its user's identity. The
default token (the one `make dev` and the tests' kubeconfigs carry) is a cluster admin,
in `system:masters`, as a kind or kubeadm admin kubeconfig is. A token shaped
`system:serviceaccount:NS:NAME` is that ServiceAccount; any other token is a user of
that name. Either is allowed what the Roles and ClusterRoles bound to it (directly, or
to `system:authenticated` or its ServiceAccount groups) allow, as the RBAC authorizer
decides; nothing is enforced on other requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kubesim.kubeconfig import DEFAULT_TOKEN
from kubesim.storage import Storage

Obj = dict[str, Any]
RBAC = "rbac.authorization.k8s.io"
ADMIN = "kubernetes-admin"
SA_PREFIX = "system:serviceaccount:"


def identity(token: str) -> tuple[str, list[str]]:
    """(user name, groups) of a bearer token."""
    if token in ("", DEFAULT_TOKEN):
        return ADMIN, ["kubeadm:cluster-admins", "system:masters", "system:authenticated"]
    if token.startswith(SA_PREFIX) and token.count(":") == 3:
        namespace = token.split(":")[2]
        groups = ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
        return token, [*groups, "system:authenticated"]
    return token, ["system:authenticated"]


def _subject_matches(subject: Obj, binding_namespace: str, user: str, groups: list[str]) -> bool:
    kind, name = subject.get("kind"), subject.get("name", "")
    if kind == "User":
        return bool(name == user)
    if kind == "Group":
        return name in groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return user == f"{SA_PREFIX}{namespace}:{name}"
    return False


def _covers(values: list[str] | None, wanted: str) -> bool:
    return "*" in (values or ()) or wanted in (values or ())


def _resource_covers(resources: list[str] | None, resource: str, subresource: str) -> bool:
    full = f"{resource}/{subresource}" if subresource else resource
    return any(
        r in ("*", full) or bool(subresource and r == f"*/{subresource}") for r in resources or ()
    )


def rule_allows(rule: Obj, attributes: Obj, *, non_resource: bool) -> bool:
    if not _covers(rule.get("verbs"), attributes.get("verb", "")):
        return False
    if non_resource:
        path = attributes.get("path", "")
        return any(
            url == path or url == "*" or (url.endswith("*") and path.startswith(url[:-1]))
            for url in rule.get("nonResourceURLs") or []
        )
    if not _covers(rule.get("apiGroups"), attributes.get("group", "")):
        return False
    if not _resource_covers(
        rule.get("resources"), attributes.get("resource", ""), attributes.get("subresource", "")
    ):
        return False
    names = rule.get("resourceNames") or []
    return not names or attributes.get("name", "") in names


def _grants(
    storage: Storage, user: str, groups: list[str], namespace: str
) -> Iterator[tuple[str, Obj, list[Obj]]]:
    """(description, binding, rules) of every binding that applies to the subject."""
    roles = {r["metadata"]["name"]: r for r in storage.iter(f"{RBAC}/clusterroles")}
    for binding in storage.iter(f"{RBAC}/clusterrolebindings"):
        if any(_subject_matches(s, "", user, groups) for s in binding.get("subjects") or []):
            ref = binding.get("roleRef") or {}
            role = roles.get(ref.get("name", "")) if ref.get("kind") == "ClusterRole" else None
            if role is not None:
                yield (
                    f'ClusterRoleBinding "{binding["metadata"]["name"]}" of ClusterRole "{ref["name"]}"',
                    binding,
                    role.get("rules") or [],
                )
    if not namespace:
        return
    for binding in storage.iter(f"{RBAC}/rolebindings"):
        if binding["metadata"].get("namespace") != namespace:
            continue
        if not any(
            _subject_matches(s, namespace, user, groups) for s in binding.get("subjects") or []
        ):
            continue
        ref = binding.get("roleRef") or {}
        if ref.get("kind") == "ClusterRole":
            role = roles.get(ref.get("name", ""))
        else:
            role = storage.get(f"{RBAC}/roles", namespace, ref.get("name", ""))
        if role is not None:
            where = f'RoleBinding "{binding["metadata"]["name"]}/{namespace}"'
            yield (
                f'{where} of {ref.get("kind")} "{ref.get("name")}"',
                binding,
                role.get("rules") or [],
            )


def review(
    storage: Storage,
    token: str,
    spec: Obj,
    *,
    impersonate_user: str = "",
    impersonate_groups: tuple[str, ...] = (),
) -> Obj:
    """The `status` of a SelfSubjectAccessReview with this `spec`, for this token, or for
    the user it impersonates (`kubectl --as NAME --as-group G`) when it may (an admin)."""
    user, groups = identity(token)
    if impersonate_user and "system:masters" in groups:
        user, groups = identity(impersonate_user)
        if user == ADMIN:  # `--as kubernetes-admin`: the name, not the default token
            groups = ["system:authenticated"]
        groups = [*impersonate_groups, *groups]
    if "system:masters" in groups:
        return {"allowed": True}
    resource = spec.get("resourceAttributes")
    non_resource = resource is None
    attributes = spec.get("nonResourceAttributes") or {} if non_resource else resource or {}
    namespace = "" if non_resource else str(attributes.get("namespace") or "")
    for description, _binding, rules in _grants(storage, user, groups, namespace):
        if any(rule_allows(r, attributes, non_resource=non_resource) for r in rules):
            who = "ServiceAccount" if user.startswith(SA_PREFIX) else "User"
            name = user.split(":")[-1] if who == "ServiceAccount" else user
            where = f'"{user.split(":")[2]}/{name}"' if who == "ServiceAccount" else f'"{name}"'
            return {"allowed": True, "reason": f"RBAC: allowed by {description} to {who} {where}"}
    return {"allowed": False}
