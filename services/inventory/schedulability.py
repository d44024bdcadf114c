"""Whether a node can take new model pods, and if not, why.

A node is eligible when its Ready condition is True, it is not cordoned
(`spec.unschedulable`), and it carries no NoSchedule/NoExecute taint other than
`nvidia.com/gpu` (which model pods tolerate). When several reasons hold, the first of
`not_ready`, `cordoned`, `tainted` is reported: a node that is down matters before one
that was drained.
"""

from typing import Any, Final

from shared import labels
from shared.queries import UnschedulableReason

Reason = UnschedulableReason

REASONS: Final[tuple[Reason, ...]] = ("not_ready", "cordoned", "tainted")
BLOCKING_EFFECTS: Final = frozenset({"NoSchedule", "NoExecute"})
TOLERATED_TAINTS: Final = frozenset({labels.GPU_RESOURCE})


def unschedulable_reason(node: dict[str, Any]) -> Reason | None:
    """None when the node is eligible; the reason it is not otherwise."""
    spec, status = _dict(node.get("spec")), _dict(node.get("status"))
    if not _ready(status.get("conditions")):
        return "not_ready"
    if spec.get("unschedulable") is True:
        return "cordoned"
    if any(_blocks(taint) for taint in _list(spec.get("taints"))):
        return "tainted"
    return None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _ready(conditions: object) -> bool:
    return any(
        isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True"
        for c in _list(conditions)
    )


def _blocks(taint: object) -> bool:
    return (
        isinstance(taint, dict)
        and taint.get("effect") in BLOCKING_EFFECTS
        and taint.get("key") not in TOLERATED_TAINTS
    )
