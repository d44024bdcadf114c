"""Unit tests of the inventory's pure logic: parsing, the store, health, lifecycle, replies."""

from datetime import UTC, datetime, timedelta
from typing import Any

from services.inventory.adapters.kube_watch import WatchTiming
from services.inventory.changes import ModelBacklog, ProjectionBacklog
from services.inventory.health import HealthPolicy
from services.inventory.objects import parse_pod
from services.inventory.replies import models_reply_bytes
from services.inventory.reply_cache import ReplyCache
from services.inventory.resource_version import is_stale
from services.inventory.store import REQUIRED_WATCHES, ClusterStore, Watched
from services.inventory.tracker import ModelTracker
from shared import labels
from shared.events import ModelDegraded, ModelDrifted, ModelFailed, ModelRunning, ModelScaled
from shared.queries import (
    MODELS_ANSWER,
    STATUS_ANSWER,
    CapacityQuery,
    ModelsReply,
    StatusReply,
)
from tests.inventory.support import deployment

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PUBLIC_ID = "mdl_abc123def456"
MANAGED = {"organization_id": 123, "public_id": PUBLIC_ID, "model_id": 7, "generation": 1}


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def node(name: str, *, gpus: int, product: str = "NVIDIA-A100-SXM4-40GB", rv: str = "1") -> Any:
    return {
        "metadata": {
            "name": name,
            "resourceVersion": rv,
            "labels": {labels.GPU_PRODUCT_LABEL: product, labels.GPU_MEMORY_LABEL: "40960"},
        },
        "status": {
            "capacity": {labels.GPU_RESOURCE: str(gpus)},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def pod(
    name: str,
    *,
    node_name: str = "",
    gpus: int = 1,
    phase: str = "Running",
    rv: str = "1",
    model: str = "qwen3",
    waiting: str | None = None,
    restarts: int = 0,
    unschedulable_since: datetime | None = None,
) -> Any:
    status: dict[str, Any] = {
        "phase": phase,
        "containerStatuses": [
            {
                "name": "vllm-openai",
                "restartCount": restarts,
                "state": {"waiting": {"reason": waiting, "message": "boom"}} if waiting else {},
            }
        ],
    }
    if unschedulable_since is not None:
        status["conditions"] = [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available",
                "lastTransitionTime": unschedulable_since.isoformat(),
            }
        ]
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "resourceVersion": rv,
            "labels": {labels.MODEL_NAME: model},
        },
        "spec": {
            "nodeName": node_name or None,
            "containers": [{"resources": {"limits": {labels.GPU_RESOURCE: str(gpus)}}}],
        },
        "status": status,
    }


def workload(*, ready: int, replicas: int = 1, rv: str = "1", generation: int = 1) -> Any:
    raw = deployment("qwen3", replicas=replicas, managed={**MANAGED, "generation": generation})
    raw["metadata"]["resourceVersion"] = rv
    raw["metadata"]["creationTimestamp"] = "2025-01-01T10:00:00Z"
    raw["status"] = {"replicas": replicas, "updatedReplicas": replicas, "readyReplicas": ready}
    return raw


def tracked(store: ClusterStore, *, seconds: int) -> tuple[ClusterStore, ModelTracker]:
    """The store, and a tracker following its changes (subscribed as the service wires it)."""
    changes = ModelBacklog()
    store.subscribe(changes)
    return store, ModelTracker(drift_grace=timedelta(seconds=seconds), changes=changes)


def answering(store: ClusterStore) -> ReplyCache:
    """The reply cache the queries are answered from, subscribed as the service wires it."""
    replies = ReplyCache(store)
    store.subscribe(replies)
    return replies


def synced_store(clock: Clock | None = None) -> ClusterStore:
    store = ClusterStore(
        policy=HealthPolicy(
            crashloop_restart_threshold=3, unschedulable_timeout=timedelta(minutes=1)
        ),
        clock=clock or Clock(),
    )
    for kind in REQUIRED_WATCHES:
        store.replace(kind, [])
    return store


def test_resource_versions_compare_as_integers_when_both_parse() -> None:
    assert is_stale("9", "10") is True
    assert is_stale("10", "9") is False
    assert is_stale("10", "10") is True
    assert is_stale("abc", "10") is False


def test_pod_gpu_request_takes_limits_and_the_larger_init_container() -> None:
    raw = pod("p", gpus=1)
    raw["spec"]["initContainers"] = [{"resources": {"requests": {labels.GPU_RESOURCE: "3"}}}]
    assert parse_pod(raw).gpu_request == 3


def test_gpus_are_allocated_only_to_bound_non_terminated_pods() -> None:
    store = synced_store()
    store.replace(Watched.NODES, [node("n1", gpus=4)])
    store.apply(Watched.PODS, "ADDED", pod("a", node_name="n1", gpus=2, rv="2"))
    store.apply(Watched.PODS, "ADDED", pod("pending", gpus=1, rv="3"))
    assert store.allocated["n1"] == 2

    store.apply(
        Watched.PODS, "MODIFIED", pod("a", node_name="n1", gpus=2, rv="4", phase="Succeeded")
    )
    assert store.allocated["n1"] == 0
    store.apply(Watched.PODS, "MODIFIED", pod("pending", node_name="n1", gpus=1, rv="5"))
    store.apply(Watched.PODS, "DELETED", pod("a", node_name="n1", rv="6", phase="Succeeded"))
    assert store.allocated["n1"] == 1


def test_a_stale_event_never_overwrites_a_newer_object() -> None:
    store = synced_store()
    store.apply(Watched.NODES, "ADDED", node("n1", gpus=4, rv="10"))
    assert store.apply(Watched.NODES, "MODIFIED", node("n1", gpus=1, rv="9")) is False
    assert store.nodes["n1"].gpu_count == 4


def test_a_fresh_list_removes_what_vanished() -> None:
    store, backlog = synced_store(), ProjectionBacklog()
    store.subscribe(backlog)
    store.replace(Watched.NODES, [node("n1", gpus=1), node("n2", gpus=2)])
    assert backlog.take(Watched.NODES) == ({"n1", "n2"}, True)
    store.replace(Watched.NODES, [node("n2", gpus=2)])
    assert set(store.nodes) == {"n2"}
    assert backlog.take(Watched.NODES) == ({"n1"}, True)  # removed from the projection too


def test_status_reply_is_the_pydantic_model_with_vram_from_free_gpus() -> None:
    store = synced_store()
    replies = answering(store)
    store.replace(Watched.NODES, [node("n1", gpus=2), node("cpu", gpus=0)])
    store.apply(Watched.PODS, "ADDED", pod("a", node_name="n1", gpus=1, rv="2"))

    reply = STATUS_ANSWER.validate_json(replies.status_reply())

    assert isinstance(reply, StatusReply)
    assert reply.cluster_status.total_nodes == 2
    assert [n.model_dump() for n in reply.cluster_status.gpu_nodes] == [
        {
            "node_name": "n1",
            "gpu_count": 2,
            "gpu_type": "NVIDIA-A100-SXM4-40GB",
            "total_vram": "80Gi",
            "available_vram": "40Gi",
            "allocated_gpus": 1,
            "reserved_gpus": 0,
            "free_gpus": 1,
            "schedulable": True,
            "unschedulable_reason": None,
        }
    ]
    assert reply.missing[-1] == "storage class"
    assert reply.cluster_status.aibrix_ok is False


def test_models_reply_pages_within_the_byte_budget() -> None:
    fragments = [
        b'{"name":"m%d","namespace":"d","is_managed":false,"status":"Running","replicas":1}' % i
        for i in range(50)
    ]
    first = ModelsReply.model_validate_json(
        models_reply_bytes(fragments, offset=0, limit=None, max_bytes=1000)
    )
    assert first.total == 50
    assert first.next_offset == len(first.models)
    assert 0 < len(first.models) < 50
    last = MODELS_ANSWER.validate_json(
        models_reply_bytes(fragments, offset=45, limit=None, max_bytes=100_000)
    )
    assert isinstance(last, ModelsReply)
    assert last.next_offset is None
    assert [m.name for m in last.models] == [f"m{i}" for i in range(45, 50)]


def test_capacity_checks_free_gpus_per_gpu_memory_and_type() -> None:
    store = synced_store()
    replies = answering(store)
    store.replace(Watched.NODES, [node("n1", gpus=2)])
    assert replies.capacity(CapacityQuery(min_gpus=2, min_vram="80Gi")).node_name == "n1"
    assert not replies.capacity(CapacityQuery(min_gpus=1, min_vram="48Gi")).fits
    assert not replies.capacity(CapacityQuery(min_gpus=1, gpu_type="NVIDIA-L4")).fits
    store.apply(Watched.PODS, "ADDED", pod("a", node_name="n1", gpus=1, rv="2"))
    reply = replies.capacity(CapacityQuery(min_gpus=2, min_vram="48Gi"))
    assert reply.message == "no GPU node can satisfy the requirements: min 2 GPUs with 48Gi VRAM"


def process(store: ClusterStore, tracker: ModelTracker, now: datetime = NOW) -> list[Any]:
    return [emission.event for emission in tracker.process(store, now=now).events]


def test_events_fire_on_transitions_only() -> None:
    store, tracker = tracked(synced_store(), seconds=2)
    store.apply(Watched.WORKLOADS, "ADDED", workload(ready=0, rv="2"))
    assert process(store, tracker) == []

    store.apply(Watched.WORKLOADS, "MODIFIED", workload(ready=1, rv="3"))
    assert [type(e) for e in process(store, tracker)] == [ModelRunning]
    store.apply(Watched.WORKLOADS, "MODIFIED", workload(ready=1, rv="4"))
    assert process(store, tracker) == []

    store.apply(Watched.WORKLOADS, "MODIFIED", workload(ready=0, replicas=2, rv="5"))
    emitted = process(store, tracker)
    assert [type(e) for e in emitted] == [ModelScaled, ModelDegraded]
    assert emitted[0].data.previous_replicas == 1
    assert emitted[1].data.reason == "NoReadyReplica"


def test_a_running_models_ready_count_that_moves_alone_is_told_as_scaled() -> None:
    """A scale-up's new pod becomes ready after `running` of its generation was told."""
    store, tracker = tracked(synced_store(), seconds=2)
    store.apply(Watched.WORKLOADS, "ADDED", workload(ready=1, rv="2"))
    process(store, tracker)
    store.apply(Watched.WORKLOADS, "MODIFIED", workload(ready=1, replicas=2, rv="3", generation=2))
    assert [(type(e), e.data.ready_replicas) for e in process(store, tracker)] == [
        (ModelScaled, 1),
        (ModelRunning, 1),
    ]

    store.apply(Watched.WORKLOADS, "MODIFIED", workload(ready=2, replicas=2, rv="4", generation=2))
    [scaled] = process(store, tracker)
    assert isinstance(scaled, ModelScaled)
    assert (scaled.data.replicas, scaled.data.ready_replicas, scaled.data.previous_replicas) == (
        2,
        2,
        2,
    )
    store.apply(Watched.WORKLOADS, "MODIFIED", workload(ready=2, replicas=2, rv="5", generation=2))
    assert process(store, tracker) == []


def test_ready_counts_move_silently_until_the_model_runs() -> None:
    store, tracker = tracked(synced_store(), seconds=2)
    store.apply(Watched.WORKLOADS, "ADDED", workload(ready=0, replicas=3, rv="2"))
    process(store, tracker)
    store.apply(Watched.WORKLOADS, "MODIFIED", workload(ready=1, replicas=3, rv="3"))
    assert [type(e) for e in process(store, tracker)] == [ModelRunning]
    store.apply(Watched.WORKLOADS, "MODIFIED", workload(ready=0, replicas=3, rv="4"))
    assert [type(e) for e in process(store, tracker)] == [ModelDegraded]
    store.apply(Watched.WORKLOADS, "MODIFIED", workload(ready=0, replicas=3, rv="5"))
    assert process(store, tracker) == []


def test_restart_with_persisted_memory_does_not_emit_again() -> None:
    store, tracker = tracked(synced_store(), seconds=2)
    store.apply(Watched.WORKLOADS, "ADDED", workload(ready=1, rv="2"))
    memories = tracker.process(store, now=NOW).memories

    restarted_view, restarted = tracked(synced_store(), seconds=2)
    restarted.load(memories)
    restarted_view.replace(Watched.WORKLOADS, [workload(ready=1, rv="2")])
    assert process(restarted_view, restarted) == []


def test_a_new_generation_hears_running_again() -> None:
    store, tracker = tracked(synced_store(), seconds=2)
    store.apply(Watched.WORKLOADS, "ADDED", workload(ready=1, rv="2"))
    process(store, tracker)
    store.apply(Watched.WORKLOADS, "MODIFIED", workload(ready=1, rv="3", generation=2))
    emitted = process(store, tracker)
    assert [(type(e), e.data.generation) for e in emitted] == [(ModelRunning, 2)]


def test_crash_loop_past_the_threshold_fails_below_it_degrades() -> None:
    store, tracker = tracked(synced_store(), seconds=2)
    store.apply(Watched.WORKLOADS, "ADDED", workload(ready=1, rv="2"))
    process(store, tracker)
    store.apply(Watched.WORKLOADS, "MODIFIED", workload(ready=0, rv="3"))
    store.apply(
        Watched.PODS,
        "ADDED",
        pod("p", node_name="n1", rv="4", waiting="CrashLoopBackOff", restarts=1),
    )
    assert [e.data.reason for e in process(store, tracker)] == ["CrashLoopBackOff"]

    store.apply(
        Watched.PODS,
        "MODIFIED",
        pod("p", node_name="n1", rv="5", waiting="CrashLoopBackOff", restarts=3),
    )
    failed = process(store, tracker)
    assert [type(e) for e in failed] == [ModelFailed]
    assert (failed[0].data.stage, failed[0].data.reason) == ("runtime", "CrashLoopBackOff")


def test_unschedulable_fails_only_after_the_timeout() -> None:
    clock = Clock()
    store, tracker = tracked(synced_store(clock), seconds=2)
    store.apply(Watched.WORKLOADS, "ADDED", workload(ready=0, rv="2"))
    store.apply(Watched.PODS, "ADDED", pod("p", rv="3", unschedulable_since=NOW))
    assert process(store, tracker) == []

    clock.now = NOW + timedelta(minutes=2)
    store.recheck(clock.now)
    failed = process(store, tracker, clock.now)
    assert [(type(e), e.data.reason) for e in failed] == [(ModelFailed, "Unschedulable")]


def test_recheck_rejudges_a_workload_only_once_its_timer_is_due() -> None:
    clock = Clock()
    store, tracker = tracked(synced_store(clock), seconds=2)
    store.apply(Watched.WORKLOADS, "ADDED", workload(ready=0, rv="2"))
    store.apply(Watched.PODS, "ADDED", pod("p", rv="3", unschedulable_since=NOW))
    process(store, tracker)

    store.recheck(NOW + timedelta(seconds=30))
    assert tracker.changes.touched == set()
    store.recheck(NOW + timedelta(minutes=2))
    assert tracker.changes.touched == set(store.workloads)

    clock.now = NOW + timedelta(minutes=2)
    process(store, tracker, clock.now)  # judged Failed: no timer left
    store.recheck(NOW + timedelta(minutes=10))
    assert tracker.changes.touched == set()


def test_vanished_deployment_is_drift_after_the_grace_unless_deleting() -> None:
    store, tracker = tracked(synced_store(), seconds=2)
    store.apply(Watched.WORKLOADS, "ADDED", workload(ready=1, rv="2"))
    process(store, tracker)
    store.apply(Watched.WORKLOADS, "DELETED", workload(ready=1, rv="3"))
    assert process(store, tracker) == []
    assert [type(e) for e in process(store, tracker, NOW + timedelta(seconds=3))] == [ModelDrifted]

    store.apply(Watched.WORKLOADS, "ADDED", workload(ready=1, rv="4"))
    process(store, tracker)
    tracker.deleting(PUBLIC_ID)
    store.apply(Watched.WORKLOADS, "DELETED", workload(ready=1, rv="5"))
    assert process(store, tracker, NOW + timedelta(seconds=10)) == []
    assert tracker.memories[PUBLIC_ID].present is False


def test_restart_notices_a_deployment_that_vanished_while_down() -> None:
    store, tracker = tracked(synced_store(), seconds=0)
    store.apply(Watched.WORKLOADS, "ADDED", workload(ready=1, rv="2"))
    memories = tracker.process(store, now=NOW).memories

    restarted_view, restarted = tracked(synced_store(), seconds=0)
    restarted.load(memories)
    assert [type(e) for e in process(restarted_view, restarted)] == [ModelDrifted]


def test_backoff_is_jittered_and_capped() -> None:
    timing = WatchTiming(backoff_initial=0.2, backoff_max=10.0)
    assert timing.backoff(0, rand=lambda: 1.0) == 0.2
    assert timing.backoff(3, rand=lambda: 0.5) == 0.8
    assert timing.backoff(50, rand=lambda: 1.0) == 10.0


def test_each_transition_has_a_message_id_of_its_own_and_a_re_derived_one_the_same() -> None:
    store, tracker = tracked(synced_store(), seconds=2)
    store.apply(Watched.WORKLOADS, "ADDED", workload(ready=1, rv="2"))
    [running] = tracker.process(store, now=NOW).events
    store.apply(Watched.WORKLOADS, "MODIFIED", workload(ready=0, replicas=2, rv="3"))
    scaled, degraded = tracker.process(store, now=NOW).events

    public_id = running.event.subject
    assert [e.msg_id for e in (running, scaled, degraded)] == [
        f"{public_id}:running:1:1",
        f"{public_id}:scaled:1:2",
        f"{public_id}:degraded:1:3",
    ]
    assert len({e.event.id for e in (running, scaled, degraded)}) == 3
    # A restart from the memory as it was before `running` went out: the same transition
    # is derived again, with the same ids, so JetStream drops it if it has it already.
    again_view, again = tracked(synced_store(), seconds=2)
    again_view.replace(Watched.WORKLOADS, [workload(ready=1, rv="2")])
    [rederived] = again.process(again_view, now=NOW).events
    assert (rederived.msg_id, rederived.event.id) == (running.msg_id, running.event.id)


def test_only_ready_uncordoned_untainted_nodes_are_eligible_and_gpus_come_from_allocatable() -> (
    None
):
    cordoned = {**node("cordoned", gpus=2), "spec": {"unschedulable": True}}
    not_ready = node("not-ready", gpus=2)
    not_ready["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    tainted = {**node("tainted", gpus=2), "spec": {"taints": [{"key": "x", "effect": "NoExecute"}]}}
    gpu_tainted = {
        **node("gpu-tainted", gpus=2),
        "spec": {"taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]},
    }
    soft = {
        **node("soft", gpus=2),
        "spec": {"taints": [{"key": "x", "effect": "PreferNoSchedule"}]},
    }
    short = node("short", gpus=4)
    short["status"]["allocatable"] = {labels.GPU_RESOURCE: "1"}
    store = synced_store()
    replies = answering(store)
    store.replace(Watched.NODES, [cordoned, not_ready, tainted, gpu_tainted, soft, short])

    reply = STATUS_ANSWER.validate_json(replies.status_reply())
    assert isinstance(reply, StatusReply)
    nodes = {n.node_name: n for n in reply.cluster_status.gpu_nodes}
    assert {name: n.unschedulable_reason for name, n in nodes.items()} == {
        "cordoned": "cordoned",
        "gpu-tainted": None,
        "not-ready": "not_ready",
        "short": None,
        "soft": None,
        "tainted": "tainted",
    }
    assert [n.free_gpus for n in (nodes["cordoned"], nodes["short"], nodes["soft"])] == [0, 1, 2]
    assert not nodes["tainted"].schedulable
    assert nodes["gpu-tainted"].schedulable
    assert replies.capacity(CapacityQuery(min_gpus=2)).node_name in {"gpu-tainted", "soft"}
    assert not replies.capacity(CapacityQuery(min_gpus=3)).fits  # `short` has 4, 1 allocatable

    restored = node("cordoned", gpus=2, rv="2")
    store.apply(Watched.NODES, "MODIFIED", restored)
    reply = STATUS_ANSWER.validate_json(replies.status_reply())
    assert isinstance(reply, StatusReply)
    assert next(n for n in reply.cluster_status.gpu_nodes if n.node_name == "cordoned").schedulable


def test_capacity_needs_per_gpu_memory_of_min_vram_over_the_ask() -> None:
    store = synced_store()
    replies = answering(store)
    small, large = node("small", gpus=1), node("large", gpus=1)
    large["metadata"]["labels"][labels.GPU_MEMORY_LABEL] = "81920"
    small["metadata"]["labels"][labels.GPU_MEMORY_LABEL] = "24576"
    store.replace(Watched.NODES, [small, large])
    assert replies.capacity(CapacityQuery(min_gpus=1, min_vram="40Gi")).node_name == "large"
    assert replies.capacity(CapacityQuery(min_gpus=1, min_vram="24Gi")).fits


def rolling(*, ready: int, updated: int, pods: int, generation: int, rv: str) -> Any:
    """A Deployment in the middle of a rollout: `pods` pods, `updated` of the newest template."""
    raw = workload(ready=ready, generation=generation, rv=rv)
    raw["metadata"]["generation"] = generation
    raw["status"] |= {"observedGeneration": generation, "updatedReplicas": updated}
    raw["status"]["replicas"] = pods
    return raw


def test_a_new_generation_runs_only_once_no_old_pod_is_left() -> None:
    store, tracker = tracked(synced_store(), seconds=2)
    store.apply(
        Watched.WORKLOADS, "ADDED", rolling(ready=1, updated=1, pods=1, generation=1, rv="2")
    )
    assert [type(e) for e in process(store, tracker)] == [ModelRunning]

    # generation 2 surges a new pod beside the old, still-ready one
    store.apply(
        Watched.WORKLOADS, "MODIFIED", rolling(ready=1, updated=1, pods=2, generation=2, rv="3")
    )
    assert process(store, tracker) == []
    store.apply(
        Watched.WORKLOADS, "MODIFIED", rolling(ready=1, updated=1, pods=1, generation=2, rv="4")
    )
    emitted = process(store, tracker)
    assert [type(e) for e in emitted] == [ModelRunning]
    assert emitted[0].data.generation == 2


def test_a_new_generation_that_cannot_pull_fails_while_old_pods_serve() -> None:
    store, tracker = tracked(synced_store(), seconds=2)
    store.apply(
        Watched.WORKLOADS, "ADDED", rolling(ready=1, updated=1, pods=1, generation=1, rv="2")
    )
    process(store, tracker)
    store.apply(
        Watched.WORKLOADS, "MODIFIED", rolling(ready=1, updated=1, pods=2, generation=2, rv="3")
    )
    stuck = pod("qwen3-new", node_name="n1", gpus=0, phase="Pending", waiting="ImagePullBackOff")
    store.apply(Watched.PODS, "ADDED", stuck)
    emitted = process(store, tracker)
    assert [type(e) for e in emitted] == [ModelFailed]
    assert (emitted[0].data.generation, emitted[0].data.reason) == (2, "ImagePullBackOff")


def test_each_consumer_takes_from_its_own_feed_and_puts_back_what_it_failed() -> None:
    store, tracker = tracked(synced_store(), seconds=2)
    projection = ProjectionBacklog()
    store.subscribe(projection)
    store.apply(Watched.WORKLOADS, "ADDED", workload(ready=1, rv="2"))
    key = next(iter(store.workloads))

    # the writer taking its keys leaves the tracker's untouched, and the other way round
    keys, relisted = projection.take(Watched.WORKLOADS)
    assert (keys, relisted) == ({key}, False)
    assert tracker.changes.touched == {key}
    assert [type(e) for e in process(store, tracker)] == [ModelRunning]
    assert tracker.changes.touched == set()

    # a failed write puts back what it took; the next flush finds it
    projection.put_back(Watched.WORKLOADS, keys, relisted=True)
    assert projection.pending()
    assert projection.take(Watched.WORKLOADS) == ({key}, True)
    assert not projection.pending()

    # a Deployment removed: the writer deletes its document, the tracker hears it vanish
    store.apply(Watched.WORKLOADS, "DELETED", workload(ready=1, rv="3"))
    assert projection.take(Watched.WORKLOADS) == ({key}, False)
    touched, vanished = tracker.changes.take_workloads()
    assert (touched, set(vanished)) == ({key}, {key})


def test_only_a_list_of_several_pages_names_where_to_ask_the_others() -> None:
    """A one-page list carries no `pages_subject` key at all, so an api from before the
    field (whose models forbid unknown keys) reads it as it did during a rolling upgrade."""
    fragments = [
        b'{"name":"m","namespace":"d","is_managed":false,"status":"Running","replicas":1}'
    ] * 3
    subject = "inventory.query.models.abc"
    one_page = models_reply_bytes(
        fragments, offset=0, limit=None, max_bytes=100_000, version="v", pages_subject=subject
    )
    first_of_two = models_reply_bytes(
        fragments, offset=0, limit=2, max_bytes=100_000, version="v", pages_subject=subject
    )

    assert b"pages_subject" not in one_page
    assert ModelsReply.model_validate_json(first_of_two).pages_subject == subject
