"""Latency summaries: nearest-rank percentiles over seconds, reported in milliseconds."""

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of a non-empty sequence."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class Latency:
    n: int
    errors: int
    p50_ms: float | None
    p99_ms: float | None
    rps: float | None

    @classmethod
    def of(cls, seconds: Sequence[float], *, errors: int = 0, elapsed: float | None) -> "Latency":
        if not seconds:
            return cls(n=0, errors=errors, p50_ms=None, p99_ms=None, rps=None)
        rps = len(seconds) / elapsed if elapsed else None
        return cls(
            n=len(seconds),
            errors=errors,
            p50_ms=percentile(seconds, 0.5) * 1000,
            p99_ms=percentile(seconds, 0.99) * 1000,
            rps=rps,
        )
