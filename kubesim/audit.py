"""Who asked for what: each API request as RBAC would see it, counted, and in order.

The user is the bearer token of the request (each kubeconfig may carry its own), the verb
is the RBAC verb (get, list, watch, create, update, patch, delete, deletecollection), and
the resource is the group, plural and subresource. A test compares what each service
really asked for with the Roles in `deploy/` (`records`, distinct requests counted).

`log` keeps the requests in the order they arrived, each with its time, user agent, object
name, the status code answered and, for writes, the resourceVersion the write produced,
so a test can check who wrote what and in which order. It keeps the last `log_size`
entries, each numbered (`seq`) so a reader can ask for what came after what it has seen.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from typing import Any


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


@dataclass(slots=True)
class AuditEntry:
    seq: int
    time: float
    user: str
    user_agent: str
    verb: str
    api_group: str
    resource: str
    namespace: str | None
    name: str | None
    #: the status code answered (filled in once the request is handled)
    code: int = 0
    #: for writes that succeeded, the resourceVersion they produced
    resource_version: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Audit:
    """Distinct requests seen, counted (bounded by the number of distinct tuples), and
    the last `log_size` requests in order."""

    log_size: int = 100_000
    records: Counter[AuditRecord] = field(default_factory=Counter)
    log: deque[AuditEntry] = field(init=False)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1), repr=False)

    def __post_init__(self) -> None:
        self.log = deque(maxlen=self.log_size)

    def record(
        self, record: AuditRecord, *, name: str | None = None, user_agent: str = ""
    ) -> AuditEntry:
        self.records[record] += 1
        entry = AuditEntry(
            seq=next(self._seq),
            time=time.time(),
            user=record.user,
            user_agent=user_agent,
            verb=record.verb,
            api_group=record.api_group,
            resource=record.resource,
            namespace=record.namespace,
            name=name,
        )
        self.log.append(entry)
        return entry

    def since(self, seq: int = 0) -> list[AuditEntry]:
        """Logged requests numbered after `seq`, oldest first."""
        return [e for e in self.log if e.seq > seq]

    def clear(self) -> None:
        self.records.clear()
        self.log.clear()

    def for_user(self, user: str) -> set[AuditRecord]:
        return {record for record in self.records if record.user == user}
