"""Fault injection: latency, random error answers, targeted fault rules, cut watch
streams, forced 410s.

A `FaultRule` answers the API requests it matches (RBAC verb, resource such as `pods` or
`deployments/scale`, namespace, name; each left out matches anything) with its status
code, for its `count` of requests or for `seconds`, whichever ends first (neither: until
removed). The first live rule that matches wins.

Shared by the Python API (`sim.faults`) and the HTTP control endpoints under
`/_kubesim/`. Control endpoints, `/version` and the health checks are never faulted.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

_REASONS = {
    429: (
        "TooManyRequests",
        "the server has received too many requests and has asked us to try again later",
    ),
    500: ("InternalError", "Internal error occurred: injected by kubesim"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "the server was unable to return a response in the time allotted"),
}


_CODE_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
}


def reason_for(code: int) -> tuple[str, str]:
    if code in _CODE_REASONS:
        return _CODE_REASONS[code], f"injected error {code}"
    return _REASONS.get(code, ("InternalError", f"injected error {code}"))


_rule_ids = itertools.count(1)


@dataclass
class FaultRule:
    code: int
    verb: str | None = None
    resource: str | None = None
    namespace: str | None = None
    name: str | None = None
    message: str | None = None
    #: requests left to fail; None: no limit
    count: int | None = None
    #: how long the rule lasts from when it was added; None: no limit
    seconds: float | None = None
    id: int = field(default_factory=lambda: next(_rule_ids))
    hits: int = 0
    _until: float | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not 400 <= int(self.code) <= 599:
            raise ValueError(
                f"a fault rule's code must be an HTTP error (400-599), not {self.code}"
            )
        if self.count is not None and self.count < 1:
            raise ValueError("a fault rule's count must be at least 1")
        if self.seconds is not None:
            self._until = time.monotonic() + float(self.seconds)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultRule:
        known = {"code", "verb", "resource", "namespace", "name", "message", "count", "seconds"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault rule fields: {sorted(unknown)}")
        if "code" not in data:
            raise ValueError("a fault rule needs a code")
        return cls(**{k: data[k] for k in known if data.get(k) is not None})

    def live(self) -> bool:
        return (self.count is None or self.hits < self.count) and (
            self._until is None or time.monotonic() < self._until
        )

    def matches(self, *, verb: str, resource: str, namespace: str | None, name: str | None) -> bool:
        return (
            (self.verb is None or self.verb == verb)
            and (self.resource is None or self.resource == resource)
            and (self.namespace is None or self.namespace == namespace)
            and (self.name is None or self.name == name)
        )

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")} | {
            "live": self.live()
        }


@dataclass
class Faults:
    latency: float = 0.0
    error_rate: float = 0.0
    error_codes: tuple[int, ...] = (500,)
    rules: list[FaultRule] = field(default_factory=list)
    _expire_next: int = 0
    _cutter: Callable[[], int] = field(default=lambda: 0, repr=False)
    _random: random.Random = field(default_factory=random.Random, repr=False)

    def set(
        self,
        *,
        latency: float | None = None,
        error_rate: float | None = None,
        error_codes: Sequence[int] | None = None,
    ) -> None:
        if latency is not None:
            self.latency = max(0.0, float(latency))
        if error_rate is not None:
            self.error_rate = min(1.0, max(0.0, float(error_rate)))
        if error_codes is not None:
            self.error_codes = tuple(int(c) for c in error_codes) or (500,)

    def clear(self) -> None:
        self.latency, self.error_rate, self.error_codes = 0.0, 0.0, (500,)
        self._expire_next = 0
        self.rules.clear()

    def add_rule(self, rule: FaultRule) -> FaultRule:
        self.rules.append(rule)
        return rule

    def remove_rule(self, rule_id: int) -> bool:
        kept = [r for r in self.rules if r.id != rule_id]
        removed = len(kept) != len(self.rules)
        self.rules[:] = kept
        return removed

    def rule_for(
        self, *, verb: str, resource: str, namespace: str | None, name: str | None
    ) -> FaultRule | None:
        """The first live rule matching this request, its use counted (spent rules stay
        listed, no longer live)."""
        for rule in self.rules:
            if rule.live() and rule.matches(
                verb=verb, resource=resource, namespace=namespace, name=name
            ):
                rule.hits += 1
                return rule
        return None

    def cut_watches(self) -> int:
        """End every open watch stream now; returns how many were cut."""
        return self._cutter()

    def expire_next_watch(self) -> None:
        """The next watch request answers an ERROR event `410 Expired`."""
        self._expire_next += 1

    def take_expire(self) -> bool:
        if self._expire_next > 0:
            self._expire_next -= 1
            return True
        return False

    def pick_error(self) -> int | None:
        if self.error_rate > 0 and self._random.random() < self.error_rate:
            return self._random.choice(self.error_codes)
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "latency": self.latency,
            "error_rate": self.error_rate,
            "error_codes": list(self.error_codes),
            "expire_next_watch": self._expire_next,
            "rules": [r.as_dict() for r in self.rules],
        }
