"""The cluster store's change feed: what each of its consumers has not dealt with yet.

The store (`store.ClusterStore`) holds the objects and their indexes; it knows nothing of
who reads its changes. Each consumer owns a feed and subscribes it to the store once, when
the service is wired, before any watch runs; the store tells every subscribed feed what
changed, and the consumer takes from its own feed alone. So the projection writer never
reads the tracker's backlog, nor the tracker the writer's; a feed that fails to finish
its work puts back what it took.

- `ProjectionBacklog` (the projection writer): the keys changed per projected kind, and
  the kinds relisted (a fresh list is the truth, so the collection is reconciled).
- `ModelBacklog` (the lifecycle tracker): the Deployments touched (their state may have
  changed: themselves, their pods, what Kubernetes said of their pods, a timer), the
  ones that vanished, and the models whose other objects appeared, vanished or changed
  generation.
- `reply_cache.ReplyCache` (the query replies): drops the one node's or Deployment's
  cached fragment a change names, and moves the reply versions.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.inventory.objects import ObservedWorkload
    from services.inventory.store import Watched


class ChangeFeed:
    """What the store tells a subscriber; a subscriber overrides what it cares about."""

    def object_changed(self, kind: Watched, key: str) -> None:
        """An object of a projected kind was added, changed or removed."""

    def relisted(self, kind: Watched) -> None:
        """A fresh list (or a kind no longer watched) replaced everything of `kind`."""

    def workload_touched(self, key: str) -> None:
        """A model Deployment, or something its state is judged from, changed."""

    def workload_vanished(self, key: str, last: ObservedWorkload) -> None:
        """A model Deployment was removed; `last` is how it was last seen."""

    def workload_appeared(self, key: str) -> None:
        """A model Deployment is there (again)."""

    def owned_touched(self, public_id: str) -> None:
        """One of the model's other objects appeared, vanished or changed generation."""

    def node_touched(self, name: str) -> None:
        """A node, or the GPUs its pods hold, changed (also for a node not seen yet)."""

    def cluster_touched(self) -> None:
        """Something else the cluster's status tells changed: whether the watches have
        synced or there is a cluster at all, the CRDs, the storage classes, the names
        no model owns."""


class ProjectionBacklog(ChangeFeed):
    def __init__(self) -> None:
        self._keys: defaultdict[Watched, set[str]] = defaultdict(set)
        self._relisted: set[Watched] = set()
        self._received: dict[tuple[Watched, str], float] = {}

    def note_received(self, kind: Watched, key: str, at: float) -> None:
        """When the watch event behind a change arrived (the first one not written yet)."""
        self._received.setdefault((kind, key), at)

    def received_at(self, kind: Watched, key: str) -> float | None:
        """When the change just written arrived, if it was noted; forgets it."""
        return self._received.pop((kind, key), None)

    def object_changed(self, kind: Watched, key: str) -> None:
        self._keys[kind].add(key)

    def relisted(self, kind: Watched) -> None:
        self._relisted.add(kind)

    def pending(self) -> bool:
        return bool(self._relisted) or any(self._keys.values())

    def take(self, kind: Watched) -> tuple[set[str], bool]:
        """The keys of `kind` to write, and whether the kind was relisted since."""
        relisted = kind in self._relisted
        self._relisted.discard(kind)
        keys = self._keys.pop(kind, set())
        return keys, relisted

    def put_back(self, kind: Watched, keys: set[str], *, relisted: bool) -> None:
        """What a failed write took: written by the next flush."""
        self._keys[kind] |= keys
        if relisted:
            self._relisted.add(kind)


class ModelBacklog(ChangeFeed):
    def __init__(self) -> None:
        self._touched: set[str] = set()
        self._vanished: dict[str, ObservedWorkload] = {}
        self._owned: set[str] = set()

    def workload_touched(self, key: str) -> None:
        self._touched.add(key)

    def workload_vanished(self, key: str, last: ObservedWorkload) -> None:
        self._vanished[key] = last

    def workload_appeared(self, key: str) -> None:
        self._vanished.pop(key, None)

    def owned_touched(self, public_id: str) -> None:
        self._owned.add(public_id)

    @property
    def touched(self) -> frozenset[str]:
        """The Deployments touched and not yet taken."""
        return frozenset(self._touched)

    def take_workloads(self) -> tuple[set[str], dict[str, ObservedWorkload]]:
        """The Deployments touched, and the ones that vanished, since the last take."""
        touched, self._touched = self._touched, set()
        vanished, self._vanished = self._vanished, {}
        return touched, vanished

    def take_owned(self) -> set[str]:
        owned, self._owned = self._owned, set()
        return owned
