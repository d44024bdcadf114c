"""The scheduler's filter and score rules as data: node affinity operators, taints and
tolerations, and the FailedScheduling message's shape."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from kubesim import protobuf
from kubesim.controllers.nodes import eviction_delay, wanted_taints
from kubesim.controllers.placement import (
    Diagnosis,
    Wants,
    best,
    feasible_to_find,
    matches_node_selector,
    preferred_weight,
    tolerates,
    unschedulable_message,
)

Obj = dict[str, Any]


def node(name: str, *, taints: list[Obj] | None = None, **labels: Any) -> Obj:
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": taints} if taints else {},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def pod(**spec: Any) -> Obj:
    return {"metadata": {"name": "p", "namespace": "default"}, "spec": spec}


def required(*terms: list[Obj]) -> Obj:
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": list(t)} for t in terms]
            }
        }
    }


def expr(key: str, operator: str, *values: str) -> Obj:
    return {"key": key, "operator": operator, **({"values": list(values)} if values else {})}


@pytest.mark.parametrize(
    ("expression", "labels", "matches"),
    [
        (expr("zone", "In", "a", "b"), {"zone": "b"}, True),
        (expr("zone", "In", "a"), {}, False),
        (expr("zone", "NotIn", "a"), {"zone": "b"}, True),
        (expr("zone", "NotIn", "a"), {}, True),
        (expr("zone", "NotIn", "a"), {"zone": "a"}, False),
        (expr("zone", "Exists"), {"zone": ""}, True),
        (expr("zone", "Exists"), {}, False),
        (expr("zone", "DoesNotExist"), {}, True),
        (expr("zone", "DoesNotExist"), {"zone": "a"}, False),
        (expr("gpus", "Gt", "4"), {"gpus": "8"}, True),
        (expr("gpus", "Gt", "8"), {"gpus": "8"}, False),
        (expr("gpus", "Lt", "4"), {"gpus": "2"}, True),
        (expr("gpus", "Lt", "4"), {"gpus": "many"}, False),
        (expr("gpus", "Gt", "4"), {}, False),
        (expr("gpus", "Gt", "4", "5"), {"gpus": "8"}, False),
    ],
)
def test_node_affinity_operators(expression: Obj, labels: dict[str, str], matches: bool) -> None:
    assert (
        matches_node_selector(
            pod(affinity=required([expression])), {"metadata": {"name": "n", "labels": labels}}
        )
        is matches
    )


def test_terms_are_ored_and_expressions_anded() -> None:
    affinity = required(
        [expr("zone", "In", "a"), expr("gpus", "Gt", "4")], [expr("zone", "In", "c")]
    )
    assert matches_node_selector(pod(affinity=affinity), node("n", zone="a", gpus="8"))
    assert not matches_node_selector(pod(affinity=affinity), node("n", zone="a", gpus="2"))
    assert matches_node_selector(pod(affinity=affinity), node("n", zone="c"))


def test_empty_term_matches_nothing_and_match_fields_see_the_name() -> None:
    nothing: Obj = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{}]}
        }
    }
    assert not matches_node_selector(pod(affinity=nothing), node("n"))
    by_name = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchFields": [expr("metadata.name", "In", "n2")]}]
            }
        }
    }
    assert matches_node_selector(pod(affinity=by_name), node("n2"))
    assert not matches_node_selector(pod(affinity=by_name), node("n1"))


def test_node_selector_and_affinity_must_both_hold() -> None:
    spec = pod(nodeSelector={"zone": "a"}, affinity=required([expr("gpus", "Exists")]))
    assert matches_node_selector(spec, node("n", zone="a", gpus="1"))
    assert not matches_node_selector(spec, node("n", zone="b", gpus="1"))
    assert not matches_node_selector(spec, node("n", zone="a"))


@pytest.mark.parametrize(
    ("toleration", "taint", "ok"),
    [
        (
            {"key": "k", "value": "v", "effect": "NoSchedule"},
            {"key": "k", "value": "v", "effect": "NoSchedule"},
            True,
        ),
        (
            {"key": "k", "value": "w", "effect": "NoSchedule"},
            {"key": "k", "value": "v", "effect": "NoSchedule"},
            False,
        ),
        (
            {"key": "k", "operator": "Exists"},
            {"key": "k", "value": "v", "effect": "NoExecute"},
            True,
        ),
        (
            {"key": "k", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "k", "effect": "NoExecute"},
            False,
        ),
        ({"operator": "Exists"}, {"key": "anything", "effect": "NoSchedule"}, True),
        ({"key": "other", "operator": "Exists"}, {"key": "k", "effect": "NoSchedule"}, False),
        ({"key": "k"}, {"key": "k", "effect": "NoSchedule"}, True),
    ],
)
def test_tolerations(toleration: Obj, taint: Obj, ok: bool) -> None:
    assert tolerates(toleration, taint) is ok


def test_filters_report_the_first_failing_plugin_in_order() -> None:
    wants = Wants.of(pod(nodeSelector={"zone": "a"}), {"pods": Decimal(1), "cpu": Decimal(8)})
    cordoned = node("c", zone="b")
    cordoned["spec"]["unschedulable"] = True
    tainted = node(
        "t", zone="b", taints=[{"key": "dedicated", "value": "infer", "effect": "NoSchedule"}]
    )
    room = {"pods": Decimal(10), "cpu": Decimal(2)}
    assert wants.misfit(cordoned, room) == Diagnosis(
        ("node(s) were unschedulable",), resolvable=False
    )
    assert wants.misfit(tainted, room) == Diagnosis(
        ("node(s) had untolerated taint {dedicated: infer}",), resolvable=False
    )
    assert wants.misfit(node("b", zone="b"), room) == Diagnosis(
        ("node(s) didn't match Pod's node affinity/selector",), resolvable=False
    )
    assert wants.misfit(node("a", zone="a"), room) == Diagnosis(
        ("Insufficient cpu",), resolvable=True
    )
    assert wants.misfit(node("a", zone="a"), {"pods": Decimal(1), "cpu": Decimal(8)}) is None


def test_cordon_is_tolerated_like_its_taint_and_prefer_no_schedule_never_filters() -> None:
    cordoned = node("c", taints=[{"key": "soft", "effect": "PreferNoSchedule"}])
    cordoned["spec"]["unschedulable"] = True
    tolerant = Wants.of(
        pod(tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists"}]),
        {"pods": Decimal(1)},
    )
    assert tolerant.misfit(cordoned, {"pods": Decimal(1)}) is None


def test_preferred_weights_and_soft_taints_decide_between_feasible_nodes() -> None:
    preferred = {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 10, "preference": {"matchExpressions": [expr("zone", "In", "b")]}},
                {"weight": 50, "preference": {"matchExpressions": [expr("gpu", "Exists")]}},
            ]
        }
    }
    wants = Wants.of(pod(affinity=preferred), {"pods": Decimal(1)})
    nodes = [node("a", zone="a"), node("b", zone="b"), node("g", zone="a", gpu="h100")]
    assert [preferred_weight(wants.pod, n) for n in nodes] == [0, 10, 50]
    assert best(wants, nodes, **EMPTY)["metadata"]["name"] == "g"
    soft = node("g2", zone="b", gpu="h100", taints=[{"key": "s", "effect": "PreferNoSchedule"}])
    assert best(wants, [soft, *nodes], **EMPTY)["metadata"]["name"] == "g"
    plain = Wants.of(pod(), {"pods": Decimal(1)})
    assert best(plain, [nodes[1], nodes[0]], **EMPTY)["metadata"]["name"] == "b"


EMPTY: dict[str, Any] = {"allocatable": {}, "free": {}}


def test_least_allocated_spreads_equal_nodes() -> None:
    wants = Wants.of(pod(), {"pods": Decimal(1), "cpu": Decimal(1), "memory": Decimal(2**30)})
    alloc = {"cpu": Decimal(4), "memory": Decimal(4 * 2**30)}
    allocatable = {"busy": alloc, "idle": alloc}
    free = {"busy": {"cpu": Decimal(2), "memory": Decimal(2 * 2**30)}, "idle": dict(alloc)}
    nodes = [node("busy"), node("idle")]
    assert best(wants, nodes, allocatable=allocatable, free=free)["metadata"]["name"] == "idle"


def test_feasible_nodes_to_find_follows_the_adaptive_share() -> None:
    assert feasible_to_find(12) == 12
    assert feasible_to_find(5000) == 500
    assert feasible_to_find(200) == 100
    assert feasible_to_find(100_000) == 5000


def test_message_sorts_reasons_as_strings_and_adds_preemption() -> None:
    diagnoses = [Diagnosis(("Insufficient nvidia.com/gpu",), resolvable=True)] * 4 + [
        Diagnosis(("node(s) didn't match Pod's node affinity/selector",), resolvable=False)
    ] * 8
    assert unschedulable_message(12, diagnoses) == (
        "0/12 nodes are available: 4 Insufficient nvidia.com/gpu, 8 node(s) didn't match "
        "Pod's node affinity/selector. preemption: 0/12 nodes are available: "
        "4 No preemption victims found for incoming pod, 8 Preemption is not helpful for "
        "scheduling."
    )
    many = [Diagnosis(("node(s) were unschedulable",), resolvable=False)] * 12 + [
        Diagnosis(("Insufficient cpu", "Insufficient memory"), resolvable=True)
    ] * 3
    assert unschedulable_message(15, many) == (
        "0/15 nodes are available: 12 node(s) were unschedulable, 3 Insufficient cpu, "
        "3 Insufficient memory. preemption: 0/15 nodes are available: 12 Preemption is not "
        "helpful for scheduling, 3 No preemption victims found for incoming pod."
    )
    assert unschedulable_message(0, []) == "no nodes available to schedule pods"


def test_control_plane_taints_follow_cordon_and_readiness() -> None:
    n = node("n")
    assert wanted_taints(n) == []
    n["spec"]["unschedulable"] = True
    n["status"]["conditions"][0]["status"] = "False"
    assert wanted_taints(n) == [
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
        ("node.kubernetes.io/not-ready", "NoSchedule"),
        ("node.kubernetes.io/not-ready", "NoExecute"),
    ]
    n["status"]["conditions"][0]["status"] = "Unknown"
    assert ("node.kubernetes.io/unreachable", "NoExecute") in wanted_taints(n)


def test_eviction_delay_is_the_shortest_toleration() -> None:
    taint = {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}
    forever = {"key": taint["key"], "operator": "Exists", "effect": "NoExecute"}
    short = {**forever, "tolerationSeconds": 5}
    assert eviction_delay([], [taint]) == 0.0
    assert eviction_delay([forever], [taint]) is None
    assert eviction_delay([forever, short, {**short, "tolerationSeconds": 30}], [taint]) == 5.0
    assert eviction_delay([short], [taint, {"key": "other", "effect": "NoExecute"}]) == 0.0


def _field(number: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def test_protobuf_delete_options_as_kubectl_drain_sends_them() -> None:
    options = (
        _field(1, 30)
        + _field(2, _field(1, b"uid-1") + _field(2, b"42"))
        + _field(4, b"Foreground")
        + _field(5, b"All")
    )
    envelope = (
        b"k8s\x00" + _field(1, _field(1, b"v1") + _field(2, b"DeleteOptions")) + _field(2, options)
    )
    assert protobuf.delete_options(envelope) == {
        "kind": "DeleteOptions",
        "apiVersion": "meta.k8s.io/v1",
        "gracePeriodSeconds": 30,
        "preconditions": {"uid": "uid-1", "resourceVersion": "42"},
        "propagationPolicy": "Foreground",
        "dryRun": ["All"],
    }
    with pytest.raises(protobuf.ProtobufError):
        protobuf.delete_options(b"{}")
    with pytest.raises(protobuf.ProtobufError):
        protobuf.delete_options(b"k8s\x00" + _field(2, b"\x0a\xff"))
