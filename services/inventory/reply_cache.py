"""The query replies as bytes, kept between changes: what the query responder sends.

The cache is one of the store's change feeds (see `changes`). It reads the store
through its read-only API only, and keeps what it built until the feed names a change:
a node's change drops that node's status fragment and the status reply, a Deployment's
(or its pods', or a timer's) drops that Deployment's fragment and every models page.
So a query between changes costs a dictionary read, and one change re-serializes one
fragment, never thousands: `replies` splices the cached fragments into the envelope.

Each reply carries a version that names its content: an epoch that tells this process's
counters from another's (a restarted inventory, a second replica), and a counter that
moves on every change the reply may show.
"""

import secrets

from services.inventory import replies
from services.inventory.changes import ChangeFeed
from services.inventory.objects import ObservedWorkload
from services.inventory.store import ClusterStore
from shared.names import replica_models_subject
from shared.queries import CapacityQuery, CapacityReply


class ReplyCache(ChangeFeed):
    def __init__(self, store: ClusterStore) -> None:
        self._store = store
        self._status: bytes | None = None
        self._node_fragments: dict[str, bytes] = {}
        self._workload_fragments: dict[str, bytes] = {}
        self._sorted_workloads: list[str] | None = None
        self._models_pages: dict[tuple[int, int | None, int], bytes] = {}
        self._epoch = secrets.token_hex(4)
        self._status_serial = 0
        self._models_serial = 0

    # --- the feed -------------------------------------------------------------------

    def node_touched(self, name: str) -> None:
        self._node_fragments.pop(name, None)
        self.cluster_touched()

    def cluster_touched(self) -> None:
        self._status = None
        self._status_serial += 1

    def workload_touched(self, key: str) -> None:
        self._workload_fragments.pop(key, None)
        self._models_pages.clear()
        self._models_serial += 1

    def workload_appeared(self, key: str) -> None:
        self._sorted_workloads = None

    def workload_vanished(self, key: str, last: ObservedWorkload) -> None:
        self._sorted_workloads = None

    # --- the replies ----------------------------------------------------------------

    @property
    def replica(self) -> str:
        """This process among the inventory's replicas (the versions' epoch)."""
        return self._epoch

    @property
    def status_version(self) -> str:
        """Names the status reply's content: it changes whenever the reply may."""
        return f"{self._epoch}-{self._status_serial}"

    @property
    def models_version(self) -> str:
        """Names the whole models list (every page): it changes whenever a page may."""
        return f"{self._epoch}-{self._models_serial}"

    def status_reply(self) -> bytes:
        if self._status is None:
            self._status = self._build_status()
        return self._status

    def _build_status(self) -> bytes:
        store = self._store
        allocated = store.allocated
        gpu_nodes = [node for _, node in sorted(store.nodes.items()) if node.gpu_count]
        fragments = []
        for node in gpu_nodes:
            fragment = self._node_fragments.get(node.name)
            if fragment is None:
                fragment = replies.gpu_node_fragment(node, allocated=allocated.get(node.name, 0))
                self._node_fragments[node.name] = fragment
            fragments.append(fragment)
        return replies.status_reply_bytes(
            connected=store.connected,
            in_cluster=store.in_cluster,
            placement=[
                replies.node_gpus(node, allocated=allocated.get(node.name, 0)) for node in gpu_nodes
            ],
            bound_gpus=store.bound_by_model,
            total_nodes=len(store.nodes),
            total_gpus=sum(node.gpu_count for node in gpu_nodes),
            gpu_node_fragments=fragments,
            crd_names=set(store.crds),
            storage_classes=store.storage_classes.values(),
            synced_at=store.synced_at,
            version=self.status_version,
            foreign_objects=store.foreign_objects(),
        )

    def models_reply(self, *, offset: int, limit: int | None, max_bytes: int) -> bytes:
        cache_key = (offset, limit, max_bytes)
        page = self._models_pages.get(cache_key)
        if page is None:
            if self._sorted_workloads is None:
                self._sorted_workloads = sorted(self._store.workloads)
            page = replies.models_reply_bytes(
                [self.workload_fragment(key) for key in self._sorted_workloads],
                offset=offset,
                limit=limit,
                max_bytes=max_bytes,
                version=self.models_version,
                pages_subject=replica_models_subject(self.replica),
            )
            self._models_pages[cache_key] = page
        return page

    def workload_fragment(self, key: str) -> bytes:
        fragment = self._workload_fragments.get(key)
        if fragment is None:
            fragment = replies.workload_fragment(
                self._store.workloads[key], assessment=self._store.assessment(key)
            )
            self._workload_fragments[key] = fragment
        return fragment

    def capacity(self, query: CapacityQuery) -> CapacityReply:
        """Computed for each query (it depends on the query), from the store as it is now."""
        return replies.capacity_reply(query, self._store.gpu_nodes())
