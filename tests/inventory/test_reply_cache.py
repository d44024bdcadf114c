"""The reply cache follows the store's change feed: one change rebuilds what it touched."""

from datetime import timedelta
from typing import Any

import pytest

from services.inventory import replies
from services.inventory.health import Assessment
from services.inventory.objects import ObservedNode, ObservedWorkload
from services.inventory.reply_cache import ReplyCache
from services.inventory.store import REQUIRED_WATCHES, ClusterStore, Watched
from shared import labels
from shared.queries import MODELS_ANSWER, STATUS_ANSWER, ModelsReply, StatusReply
from tests.inventory.support import deployment
from tests.inventory.test_domain import NOW, Clock, answering, node, pod, synced_store

MAX_BYTES = 1024 * 1024


class Built:
    """The names of the fragments the reply builders were asked for, in order."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.nodes: list[str] = []
        self.workloads: list[str] = []
        node_fragment, workload_fragment = replies.gpu_node_fragment, replies.workload_fragment

        def gpu_node_fragment(node: ObservedNode, *, allocated: int) -> bytes:
            self.nodes.append(node.name)
            return node_fragment(node, allocated=allocated)

        def counted_workload_fragment(
            workload: ObservedWorkload, *, assessment: Assessment
        ) -> bytes:
            self.workloads.append(workload.key)
            return workload_fragment(workload, assessment=assessment)

        monkeypatch.setattr(replies, "gpu_node_fragment", gpu_node_fragment)
        monkeypatch.setattr(replies, "workload_fragment", counted_workload_fragment)

    def clear(self) -> None:
        self.nodes.clear()
        self.workloads.clear()


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> Built:
    return Built(monkeypatch)


def model(name: str, *, rv: str, ready: int = 1) -> Any:
    raw = deployment(name)
    raw["metadata"]["resourceVersion"] = rv
    raw["status"] = {"replicas": 1, "updatedReplicas": 1, "readyReplicas": ready}
    return raw


def status(cache: ReplyCache) -> StatusReply:
    reply = STATUS_ANSWER.validate_json(cache.status_reply())
    assert isinstance(reply, StatusReply)
    return reply


def models(cache: ReplyCache) -> ModelsReply:
    reply = MODELS_ANSWER.validate_json(
        cache.models_reply(offset=0, limit=None, max_bytes=MAX_BYTES)
    )
    assert isinstance(reply, ModelsReply)
    return reply


def test_replies_are_the_same_bytes_until_something_changes(built: Built) -> None:
    store = synced_store()
    cache = answering(store)
    store.replace(Watched.NODES, [node("n1", gpus=2)])
    store.apply(Watched.WORKLOADS, "ADDED", model("a", rv="2"))

    first_status, first_page = (
        cache.status_reply(),
        cache.models_reply(offset=0, limit=None, max_bytes=MAX_BYTES),
    )
    built.clear()

    assert cache.status_reply() is first_status
    assert cache.models_reply(offset=0, limit=None, max_bytes=MAX_BYTES) is first_page
    assert built.nodes == built.workloads == []


def test_a_node_change_rebuilds_that_nodes_fragment_only(built: Built) -> None:
    store = synced_store()
    cache = answering(store)
    store.replace(Watched.NODES, [node(f"n{i}", gpus=2) for i in range(5)])
    before = status(cache)
    assert sorted(built.nodes) == [f"n{i}" for i in range(5)]
    built.clear()

    store.apply(Watched.NODES, "MODIFIED", node("n3", gpus=4, rv="2"))
    after = status(cache)

    assert built.nodes == ["n3"]
    assert after.version != before.version
    assert [n.gpu_count for n in after.cluster_status.gpu_nodes] == [2, 2, 2, 4, 2]


def test_a_pod_bound_to_a_node_rebuilds_that_nodes_fragment_and_a_running_one_nothing(
    built: Built,
) -> None:
    store = synced_store()
    cache = answering(store)
    store.replace(Watched.NODES, [node("n1", gpus=2), node("n2", gpus=2)])
    store.apply(Watched.PODS, "ADDED", pod("p", gpus=1, phase="Pending", rv="2"))
    unbound = status(cache)
    built.clear()

    store.apply(Watched.PODS, "MODIFIED", pod("p", node_name="n2", gpus=1, phase="Pending", rv="3"))
    bound = status(cache)
    assert built.nodes == ["n2"]
    assert bound.version != unbound.version
    assert [n.allocated_gpus for n in bound.cluster_status.gpu_nodes] == [0, 1]
    built.clear()

    store.apply(Watched.PODS, "MODIFIED", pod("p", node_name="n2", gpus=1, rv="4"))  # Running
    assert status(cache).version == bound.version
    assert built.nodes == []


def test_a_cluster_change_moves_the_status_version_and_rebuilds_no_node(built: Built) -> None:
    store = synced_store()
    cache = answering(store)
    store.replace(Watched.NODES, [node("n1", gpus=2)])
    before = status(cache)
    built.clear()

    store.replace(
        Watched.STORAGE_CLASSES, [{"metadata": {"name": "standard", "resourceVersion": "1"}}]
    )
    after = status(cache)

    assert after.version != before.version
    assert after.storage_classes == ["standard"]
    assert built.nodes == []


def test_a_workload_change_moves_the_models_version_and_rebuilds_its_fragment_only(
    built: Built,
) -> None:
    store = synced_store()
    cache = answering(store)
    store.replace(Watched.WORKLOADS, [model(name, rv="1") for name in ("a", "b", "c")])
    before, status_before = models(cache), status(cache)
    built.clear()

    store.apply(Watched.WORKLOADS, "MODIFIED", model("b", rv="2", ready=0))
    after = models(cache)

    assert built.workloads == ["default/b"]
    assert after.version != before.version
    assert status(cache).version == status_before.version
    assert [(m.name, m.status) for m in after.models] == [
        ("a", "Running"),
        ("b", "Pending"),
        ("c", "Running"),
    ]


def test_a_workload_added_or_removed_is_in_the_next_page(built: Built) -> None:
    store = synced_store()
    cache = answering(store)
    store.replace(Watched.WORKLOADS, [model("b", rv="1")])
    assert models(cache).total == 1
    built.clear()

    store.apply(Watched.WORKLOADS, "ADDED", model("a", rv="2"))
    assert [m.name for m in models(cache).models] == ["a", "b"]
    assert built.workloads == ["default/a"]
    built.clear()

    store.apply(Watched.WORKLOADS, "DELETED", model("b", rv="3"))
    assert [m.name for m in models(cache).models] == ["a"]
    assert built.workloads == []


def test_a_pods_change_rebuilds_its_models_fragment(built: Built) -> None:
    store = synced_store()
    cache = answering(store)
    store.replace(Watched.WORKLOADS, [model("a", rv="1"), model("qwen3", rv="1", ready=0)])
    before = models(cache)
    built.clear()

    store.apply(Watched.PODS, "ADDED", pod("p", rv="2", waiting="ImagePullBackOff"))

    after = models(cache)
    assert built.workloads == ["default/qwen3"]
    assert after.version != before.version
    assert after.models[1].status == "Failed"


def test_a_due_timer_rejudges_its_workload_in_the_models_reply(built: Built) -> None:
    clock = Clock()
    store = synced_store(clock)
    cache = answering(store)
    store.apply(Watched.WORKLOADS, "ADDED", model("qwen3", rv="2", ready=0))
    store.apply(Watched.PODS, "ADDED", pod("p", rv="3", unschedulable_since=NOW))
    pending = models(cache)
    assert pending.models[0].status == "Pending"

    clock.now = NOW + timedelta(seconds=30)
    store.recheck(clock.now)  # not due yet: the page stays
    assert models(cache).version == pending.version
    built.clear()

    clock.now = NOW + timedelta(minutes=2)
    store.recheck(clock.now)
    failed = models(cache)
    assert failed.version != pending.version
    assert failed.models[0].status == "Failed"
    assert built.workloads == ["default/qwen3"]


def test_syncing_and_having_no_cluster_move_the_status_version() -> None:
    store = ClusterStore(policy=synced_store().policy, clock=Clock())
    cache = answering(store)
    syncing = status(cache)
    assert not syncing.connected

    for kind in REQUIRED_WATCHES:
        store.replace(kind, [])
    synced = status(cache)
    assert synced.connected
    assert synced.synced_at == NOW
    assert synced.version != syncing.version

    store.set_no_cluster()
    alone = status(cache)
    assert alone.in_cluster is False
    assert alone.version != synced.version


def test_gpus_bound_on_a_node_not_seen_yet_move_the_status_version() -> None:
    store = synced_store()
    cache = answering(store)
    before = status(cache)
    bound = pod("p", node_name="later", gpus=2, rv="2")
    bound["metadata"]["labels"][labels.MODEL_ID] = "mdl_abc123def456"

    store.apply(Watched.PODS, "ADDED", bound)

    after = status(cache)
    assert after.version != before.version
    assert after.bound_gpus == {"mdl_abc123def456": {"later": 2}}
