"""Who asked for what: one record per API request, as RBAC would see it.

The user is the bearer token of the request (each kubeconfig may carry its own), the verb
is the RBAC verb (get, list, watch, create, update, patch, delete, deletecollection), and
the resource is the group, plural and subresource. A test compares what each service
really asked for with the Roles in `deploy/`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AuditRecord:
    user: str
    verb: str
    api_group: str
    resource: str
    namespace: str | None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "user": self.user,
            "verb": self.verb,
            "api_group": self.api_group,
            "resource": self.resource,
            "namespace": self.namespace,
        }


def rbac_verb(method: str, *, has_name: bool, watch: bool) -> str:
    if method in ("GET", "HEAD"):
        if watch:
            return "watch"
        return "get" if has_name else "list"
    if method == "POST":
        return "create"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "delete" if has_name else "deletecollection"
    return method.lower()


class Audit:
    """Distinct requests seen, counted; bounded by the number of distinct tuples."""

    def __init__(self) -> None:
        self.records: Counter[AuditRecord] = Counter()

    def record(self, record: AuditRecord) -> None:
        self.records[record] += 1

    def clear(self) -> None:
        self.records.clear()

    def for_user(self, user: str) -> set[AuditRecord]:
        return {record for record in self.records if record.user == user}
