"""Which nodes a pod may run on, and which it prefers: the kube-scheduler's default
filter and score plugins that matter here, as pure functions over objects.

Filters run in the scheduler's order and a node's diagnosis is the first one that fails
(`NodeUnschedulable`, `TaintToleration`, `NodeAffinity`, `NodeResourcesFit`), in the
scheduler's own words. Failures of the first three cannot be resolved by preemption;
resource shortfalls could be, were there lower-priority pods to evict (there never are:
kubesim does not model priorities), so the FailedScheduling message reports them as
"No preemption victims found for incoming pod".

Scoring keeps the plugins that express a pod's wishes: preferred node affinity (weight
2) and intolerable `PreferNoSchedule` taints (weight 3), each normalised to 0-100 over
the feasible nodes found, as `DefaultNormalizeScore` does, plus the least-allocated
resource score (weight 1) that spreads pods. Ties go to the first feasible node in the
scan order (the real scheduler picks one at random).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

Obj = dict[str, Any]

UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"

REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"

#: the kube-scheduler's adaptive share of nodes to score (`numFeasibleNodesToFind`)
_MIN_FEASIBLE = 100


# -- tolerations ---------------------------------------------------------------------------


def tolerates(toleration: Obj, taint: Obj) -> bool:
    """`Toleration.ToleratesTaint`: effect and key must match when set; Equal compares values."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def tolerated(tolerations: Iterable[Obj], taint: Obj) -> bool:
    return any(tolerates(t, taint) for t in tolerations)


def untolerated_taint(node: Obj, tolerations: list[Obj], effects: Iterable[str]) -> Obj | None:
    """The first of the node's taints with one of `effects` that no toleration matches."""
    wanted = set(effects)
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in wanted and not tolerated(tolerations, taint):
            return dict(taint)
    return None


def taint_reason(taint: Obj) -> str:
    return f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value', '')}}}"


# -- node affinity ---------------------------------------------------------------------------


def _as_int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _requirement(labels: dict[str, str], expr: Obj) -> bool:
    key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
    present = key in labels
    if op == "In":
        return present and labels[key] in values
    if op == "NotIn":
        return not present or labels[key] not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and len(values) == 1:
        have, bound = _as_int(labels[key]), _as_int(str(values[0]))
        if have is None or bound is None:
            return False
        return have > bound if op == "Gt" else have < bound
    return False


def term_matches(node: Obj, term: Obj) -> bool:
    """A NodeSelectorTerm: its matchExpressions and matchFields ANDed; an empty term
    matches no node."""
    exprs, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not exprs and not fields:
        return False
    labels = node["metadata"].get("labels") or {}
    name_field = {"metadata.name": node["metadata"]["name"]}
    return all(_requirement(labels, e) for e in exprs) and all(
        _requirement(name_field, f) for f in fields
    )


def _node_affinity(pod: Obj) -> Obj:
    return ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}


def matches_node_selector(pod: Obj, node: Obj) -> bool:
    """`nodeSelector` and required node affinity (terms ORed), as the NodeAffinity filter."""
    spec = pod.get("spec") or {}
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    required = _node_affinity(pod).get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is None:
        return True
    return any(term_matches(node, t) for t in required.get("nodeSelectorTerms") or [])


def preferred_weight(pod: Obj, node: Obj) -> int:
    """The sum of weights of the preferred node affinity terms `node` matches."""
    preferred = _node_affinity(pod).get("preferredDuringSchedulingIgnoredDuringExecution") or []
    return sum(
        int(p.get("weight", 0)) for p in preferred if term_matches(node, p.get("preference") or {})
    )


# -- the pod as the scheduler sees it ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """Why a node was filtered out: its reasons, and whether preemption could help."""

    reasons: tuple[str, ...]
    resolvable: bool


@dataclass(frozen=True, slots=True)
class Wants:
    pod: Obj
    requests: dict[str, Decimal]
    tolerations: list[Obj]
    scores: bool

    @classmethod
    def of(cls, pod: Obj, requests: dict[str, Decimal]) -> Wants:
        spec = pod.get("spec") or {}
        preferred = _node_affinity(pod).get("preferredDuringSchedulingIgnoredDuringExecution")
        return cls(pod, requests, list(spec.get("tolerations") or []), bool(preferred))

    def misfit(self, node: Obj, room: dict[str, Decimal]) -> Diagnosis | None:
        """The first failing filter for `node` (None: the pod fits), in plugin order."""
        if (node.get("spec") or {}).get("unschedulable") and not tolerated(
            self.tolerations, {"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}
        ):
            return Diagnosis((REASON_UNSCHEDULABLE,), resolvable=False)
        taint = untolerated_taint(node, self.tolerations, ("NoSchedule", "NoExecute"))
        if taint is not None:
            return Diagnosis((taint_reason(taint),), resolvable=False)
        if not matches_node_selector(self.pod, node):
            return Diagnosis((REASON_AFFINITY,), resolvable=False)
        short = tuple(
            "Too many pods" if name == "pods" else f"Insufficient {name}"
            for name, qty in self.requests.items()
            if qty > 0 and room.get(name, Decimal(0)) < qty
        )
        return Diagnosis(short, resolvable=True) if short else None

    def intolerable_preferences(self, node: Obj) -> int:
        return sum(
            1
            for taint in (node.get("spec") or {}).get("taints") or []
            if taint.get("effect") == "PreferNoSchedule" and not tolerated(self.tolerations, taint)
        )


def feasible_to_find(node_count: int) -> int:
    """How many feasible nodes the scheduler looks for before scoring (adaptive share)."""
    if node_count < _MIN_FEASIBLE:
        return node_count
    percentage = max(5, 50 - node_count // 125)
    return max(_MIN_FEASIBLE, node_count * percentage // 100)


def least_allocated(wants: Wants, allocatable: dict[str, Decimal], room: dict[str, Decimal]) -> int:
    """NodeResourcesFit's default score: the share of cpu and memory left once the pod is
    placed, 0-100, averaged."""
    shares = []
    for name in ("cpu", "memory"):
        total = allocatable.get(name, Decimal(0))
        if total <= 0:
            continue
        left = room.get(name, Decimal(0)) - wants.requests.get(name, Decimal(0))
        shares.append(int(max(Decimal(0), left) * 100 / total))
    return sum(shares) // len(shares) if shares else 0


def best(
    wants: Wants,
    feasible: list[Obj],
    *,
    allocatable: dict[str, dict[str, Decimal]],
    free: dict[str, dict[str, Decimal]],
) -> Obj:
    """The highest-scoring node of `feasible` (the first one on ties): preferred affinity
    (weight 2), intolerable PreferNoSchedule taints (3) and least allocated (1)."""
    if len(feasible) == 1:
        return feasible[0]
    affinity = [preferred_weight(wants.pod, n) for n in feasible]
    penalties = [wants.intolerable_preferences(n) for n in feasible]
    top_affinity, top_penalty = max(affinity), max(penalties)
    scores = [
        2 * (100 * a // top_affinity if top_affinity else 0)
        + 3 * (100 - 100 * p // top_penalty if top_penalty else 100)
        + least_allocated(
            wants, allocatable.get(n["metadata"]["name"], {}), free.get(n["metadata"]["name"], {})
        )
        for a, p, n in zip(affinity, penalties, feasible, strict=True)
    ]
    return feasible[scores.index(max(scores))]


def unschedulable_message(node_count: int, diagnoses: list[Diagnosis]) -> str:
    """The FailedScheduling message: reasons per node, then what preemption found."""
    if not node_count:
        return "no nodes available to schedule pods"
    reasons: Counter[str] = Counter(r for d in diagnoses for r in d.reasons)
    preemption: Counter[str] = Counter(
        NO_VICTIMS if d.resolvable else NOT_HELPFUL for d in diagnoses
    )
    return (
        f"0/{node_count} nodes are available: {_histogram(reasons)}. "
        f"preemption: 0/{node_count} nodes are available: {_histogram(preemption)}."
    )


def _histogram(counts: Counter[str]) -> str:
    # sorted as the scheduler sorts them: as strings, count first
    return ", ".join(sorted(f"{n} {reason}" for reason, n in counts.items()))
