"""What went wrong talking to the cluster, and whether trying again can help.

Transient: the apiserver or the network is unwell (5xx, 429, timeouts, refused or
reset connections), or something the object needs is not there yet (404 on a write,
e.g. a namespace deleted under us, 409 from a concurrent create). Everything else the
apiserver answers (400, 403, 422...) is permanent for this command: the same request
will be refused again, so the command ends in a `failed` event.
"""

from typing import Final

TRANSIENT_STATUSES: Final = frozenset({404, 408, 409, 425, 429, 500, 502, 503, 504})


class ClusterError(Exception):
    """A request to the Kubernetes API failed."""

    def __init__(
        self, *, status: int, reason: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        return self.status == 0 or self.status in TRANSIENT_STATUSES


class ClusterUnreachableError(ClusterError):
    """No answer at all: connection refused or reset, DNS, timeout."""

    def __init__(self, message: str) -> None:
        super().__init__(status=0, reason="Unreachable", message=message)


class CommandRejectedError(Exception):
    """The command itself cannot be carried out (e.g. its token does not decrypt)."""

    def __init__(self, *, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


def retry_delay(*, attempt: int, base: float, ceiling: float, hint: float | None = None) -> float:
    """Exponential backoff for the `attempt`-th delivery (1-based), honouring Retry-After."""
    delay: float = min(ceiling, base * 2.0 ** max(0, attempt - 1))
    if hint is not None:
        delay = min(ceiling, max(delay, hint))
    return delay
