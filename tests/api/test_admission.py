"""Admission's pure planning: eligible free GPUs, reservations, first fit, quota."""

import pytest

from services.api.admission import (
    Ask,
    Reservation,
    check_quota,
    free_by_node,
    outstanding,
    place,
    reserved_by_node,
)
from shared.errors import GpuQuotaExceededError
from shared.queries import NodeGpus


def node(
    name: str,
    *,
    allocatable: int,
    allocated: int = 0,
    memory_mib: int = 81920,
    product: str = "NVIDIA-H100-80GB-HBM3",
    schedulable: bool = True,
) -> NodeGpus:
    facts = {"node_name": name, "gpu_type": product, "gpu_memory_mib": memory_mib}
    facts |= {"allocatable": allocatable, "allocated": allocated, "schedulable": schedulable}
    return NodeGpus.model_validate(facts)


def test_free_gpus_are_allocatable_minus_bound_minus_reserved_on_eligible_nodes_only() -> None:
    nodes = [
        node("a", allocatable=8, allocated=3),
        node("b", allocatable=4, schedulable=False),
        node("c", allocatable=2, allocated=1),
    ]
    assert free_by_node(nodes, {"a": 2, "c": 5}) == {"a": 3, "c": 0}


def test_a_reservation_is_given_back_as_its_pods_bind_wherever_they_land() -> None:
    plan = [("a", 1), ("a", 1), ("b", 2)]
    assert outstanding(plan, {}) == plan
    assert outstanding(plan, {"a": 1}) == [("a", 1), ("b", 2)]
    assert outstanding(plan, {"b": 2, "a": 2}) == []
    assert outstanding(plan, {"c": 2}) == [("b", 2)]  # the scheduler chose c: the plan follows


def test_reserved_by_node_sums_what_each_model_still_holds() -> None:
    reservations = [
        Reservation(public_id="mdl_a", plan=[("n1", 1)]),
        Reservation(public_id="mdl_b", plan=[("n1", 2), ("n2", 2)]),
    ]
    assert reserved_by_node(reservations, {"mdl_a": {"n1": 1}}) == {"n1": 2, "n2": 2}


def test_first_fit_in_node_order_on_the_right_product_and_memory() -> None:
    nodes = [
        node("l4", allocatable=4, memory_mib=23034, product="NVIDIA-L4"),
        node("h100-b", allocatable=8),
        node("h100-a", allocatable=1),
    ]
    free = free_by_node(nodes, {})
    assert place(Ask(gpus=1, replicas=2, memory_mib=40960), nodes, free) == [
        ("h100-a", 1),
        ("h100-b", 1),
    ]
    assert place(Ask(gpus=1, replicas=1, gpu_type="NVIDIA-L4"), nodes, free) == [("l4", 1)]
    assert (
        place(Ask(gpus=2, replicas=1, memory_mib=30000, gpu_type="NVIDIA-L4"), nodes, free) is None
    )
    assert place(Ask(gpus=8, replicas=2), nodes, free) is None
    assert place(Ask(gpus=1, replicas=0), nodes, free) == []


def test_n_free_gpus_admit_exactly_n_one_gpu_models_one_after_another() -> None:
    nodes = [node("a", allocatable=2, allocated=1), node("b", allocatable=3)]
    reservations: list[Reservation] = []
    admitted = 0
    for index in range(10):
        free = free_by_node(nodes, reserved_by_node(reservations, {}))
        plan = place(Ask(gpus=1, replicas=1), nodes, free)
        if plan is not None:
            reservations.append(Reservation(public_id=f"mdl_{index}", plan=plan))
            admitted += 1
    assert admitted == 4


def test_quota_counts_and_refuses_with_the_design_text() -> None:
    check_quota(organization_id=123, limit=None, used=100, requested=8)
    check_quota(organization_id=123, limit=8, used=6, requested=2)
    check_quota(organization_id=123, limit=0, used=0, requested=0)
    with pytest.raises(GpuQuotaExceededError) as caught:
        check_quota(organization_id=123, limit=8, used=7, requested=2)
    assert caught.value.message == (
        "GPU quota exceeded for organization 123: 2 requested, 7 of 8 in use"
    )
