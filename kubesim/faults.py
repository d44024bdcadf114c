"""Fault injection: latency, random error answers, cut watch streams, forced 410s.

Shared by the Python API (`sim.faults`) and the HTTP control endpoints under
`/_kubesim/`. Control endpoints, `/version` and the health checks are never faulted.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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


def reason_for(code: int) -> tuple[str, str]:
    return _REASONS.get(code, ("InternalError", f"injected error {code}"))


@dataclass
class Faults:
    latency: float = 0.0
    error_rate: float = 0.0
    error_codes: tuple[int, ...] = (500,)
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
        }
