"""Where an admitted model's starting replicas go, and what the cluster has left.

Pure: the inventory's per-node facts (allocatable, GPUs of bound pods, schedulable), the
reservations of models admitted before, and one new ask in; a plan or None out. The
adapter runs this inside the transaction that stores the model, so two racing
admissions never plan on the same free GPU.

A reservation holds GPUs on its planned nodes until the model's pods are bound. A bound
pod's GPUs are in the node's `allocated` from then on, so the reservation gives them back
as they bind: first on the node where the pod landed, then (the scheduler did not follow
the plan) on the other planned nodes.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from shared.errors import GpuQuotaExceededError
from shared.queries import NodeGpus

Plan = list[tuple[str, int]]
"""(node name, GPUs) for each planned replica."""
RELEASE_GRACE: Final = timedelta(seconds=60)
"""How long a released reservation still counts wherever the status does not show its
pods bound: longer than any status an admission plans with can be older than the one
that showed them bound."""


ADMISSION_STATUS_AGE: Final = 0.25
"""Seconds an admission may plan with a status asked before its turn. Each admission
used to ask the inventory afresh: at one create a batch that is 25 status replies a
second, each a full one while pods bind (every node and every bound model), and the
inventory building them fell behind on the watch events that bring models to running.
An older status is safe where it matters: a model's pods bound since still count by its
reservation, a reservation released since counts through `RELEASE_GRACE`; what it can
miss is a pod of another workload bound in that quarter second, the same kind of lag
the inventory's own view of the cluster has."""


@dataclass(frozen=True, slots=True)
class Ask:
    gpus: int
    """Per replica."""
    replicas: int
    memory_mib: int = 0
    """Each GPU's memory at least this (0: any)."""
    gpu_type: str | None = None


@dataclass(frozen=True, slots=True)
class Reservation:
    public_id: str
    plan: Plan


def outstanding(plan: Plan, bound: Mapping[str, int]) -> Plan:
    """What a reservation still holds once `bound` (node -> GPUs of its bound pods) is given back."""
    left = dict(bound)
    kept: Plan = []
    for node, gpus in plan:  # first what landed where it was planned
        taken = min(gpus, left.get(node, 0))
        left[node] = left.get(node, 0) - taken
        kept.append((node, gpus - taken))
    elsewhere = sum(left.values())
    result: Plan = []
    for node, gpus in kept:  # then what landed elsewhere
        taken = min(gpus, elsewhere)
        elsewhere -= taken
        if gpus - taken > 0:
            result.append((node, gpus - taken))
    return result


def reserved_by_node(
    reservations: Iterable[Reservation], bound: Mapping[str, Mapping[str, int]]
) -> dict[str, int]:
    totals: dict[str, int] = {}
    for reservation in reservations:
        for node, gpus in outstanding(reservation.plan, bound.get(reservation.public_id, {})):
            totals[node] = totals.get(node, 0) + gpus
    return totals


def free_by_node(nodes: Iterable[NodeGpus], reserved: Mapping[str, int]) -> dict[str, int]:
    """Eligible nodes only: allocatable - GPUs of bound pods - outstanding reservations."""
    return {
        node.node_name: max(0, node.allocatable - node.allocated - reserved.get(node.node_name, 0))
        for node in nodes
        if node.schedulable
    }


def place(ask: Ask, nodes: Iterable[NodeGpus], free: Mapping[str, int]) -> Plan | None:
    """First fit of each replica, in node-name order, on nodes of the right product and
    memory; None when a replica fits nowhere. Zero replicas (or zero GPUs) plan nothing."""
    if ask.gpus == 0 or ask.replicas == 0:
        return []
    left = dict(free)
    candidates = sorted(
        node.node_name
        for node in nodes
        if node.node_name in left
        and node.gpu_memory_mib >= ask.memory_mib
        and (ask.gpu_type is None or node.gpu_type == ask.gpu_type)
    )
    plan: Plan = []
    for _ in range(ask.replicas):
        node_name = next((name for name in candidates if left[name] >= ask.gpus), None)
        if node_name is None:
            return None
        left[node_name] -= ask.gpus
        plan.append((node_name, ask.gpus))
    return plan


def reservation_fields(plan: Plan, *, surge: int = 0) -> dict[str, Any]:
    """The model document's part of a plan: `planned_nodes` stays (the Deployment's
    preferred affinity must not change on a repair), `reservation` is released. The last
    `surge` entries are a rollout's extra pods (marked: the replicas the model runs with
    once rolled out are the others)."""
    first_surge = len(plan) - surge
    return {
        "planned_nodes": sorted({node for node, _ in plan}),
        "reservation": [
            {"node": node, "gpus": gpus} | ({"surge": True} if index >= first_surge else {})
            for index, (node, gpus) in enumerate(plan)
        ],
        "reserved": bool(plan),
    }


def check_quota(*, organization_id: int, limit: int | None, used: int, requested: int) -> None:
    """A model counts GPU ask x the most replicas it may run; none over the limit."""
    if limit is None or requested == 0 or used + requested <= limit:
        return
    raise GpuQuotaExceededError(
        organization_id=organization_id, requested=requested, used=used, limit=limit
    )


def quota_gpus(model: Mapping[str, Any]) -> int:
    """The GPUs a registry document counts against its organization's quota."""
    return int(model.get("quota_gpus") or 0)


def reserved_gpus(model: Mapping[str, Any], *, now: datetime) -> int:
    """The GPUs a registry document's reservation may still hold (see `holds_gpus`)."""
    holds = holds_gpus(
        reserved=bool(model.get("reserved")),
        status=model.get("status"),
        released_at=model.get("released_at"),
        now=now,
    )
    return sum(int(entry["gpus"]) for entry in model.get("reservation") or []) if holds else 0


def holds_gpus(
    *, reserved: bool, status: object, released_at: datetime | None, now: datetime
) -> bool:
    """Whether a reservation may still hold its GPUs: the model not failed, and either not
    released yet (`reserved`) or released less than the grace ago (`released_at` is the
    grace's end). A release takes the model out of the `reserved` index at once (one
    write); through its grace it counts wherever the status does not show its pods bound.
    A document released before this rule (still `reserved`, `released_at` set) is judged
    by its `released_at` too."""
    if status == "failed":
        return False
    if released_at is not None:
        return _aware(released_at) >= now
    return reserved


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def release_fields(*, now: datetime) -> dict[str, Any]:
    """What releases a reservation, in one write: out of the `reserved` index the
    admissions read, and still counted (where unbound) until `released_at`."""
    return {"reserved": False, "released_at": now + RELEASE_GRACE}
