"""In-memory object storage with etcd-like resourceVersions and a bounded event history.

One global, monotonically increasing revision is shared by every kind (as etcd's is), so a
watch can resume from any resourceVersion a client has seen. Stored objects are treated as
immutable: every write stores a new dict, which lets lists and watches hand out references
without deep copies. The history keeps the last `history_size` events; a watch from a
revision older than the window gets `410 Expired`, like after an etcd compaction.

With a `Journal` attached (`attach`), every change is also written to it before anyone
hears of it, and `restore` rebuilds objects, revision and history from what a journal
recovered (see `kubesim.journal`); without one, nothing is written anywhere.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from kubesim.journal import Journal, Recovered

Obj = dict[str, Any]
EventType = Literal["ADDED", "MODIFIED", "DELETED"]


@dataclass(frozen=True, slots=True)
class Event:
    type: EventType
    key: str
    obj: Obj
    rv: int
    #: for MODIFIED, the object as it was before: a watch with a selector needs it to
    #: tell an object leaving its selection (DELETED) from one entering it (ADDED)
    old: Obj | None = None

    @property
    def namespace(self) -> str:
        ns: str = self.obj["metadata"].get("namespace", "")
        return ns


def new_uid() -> str:
    """A random (version 4) UUID's text, as `str(uuid.uuid4())` gives it, at a third of
    the cost (no system call: a simulator's uids need to be unique, not unguessable)."""
    h = f"{random.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


#: put on a watcher's queue to end its stream (server stop, fault injection)
CLOSE = object()


@dataclass(eq=False)
class Watcher:
    key: str
    namespace: str | None
    queue: asyncio.Queue[Event | object] = field(default_factory=asyncio.Queue)

    def close(self) -> None:
        self.queue.put_nowait(CLOSE)


class Storage:
    def __init__(self, *, history_size: int) -> None:
        self.revision = 0
        self._objects: dict[str, dict[str, dict[str, Obj]]] = {}
        self._history: deque[Event] = deque(maxlen=max(1, history_size))
        #: every event with rv > history_start is still in the history
        self.history_start = 0
        self._watchers: dict[str, set[Watcher]] = {}
        self._listeners: list[Callable[[Event], None]] = []
        self.journal: Journal | None = None

    # -- reads -------------------------------------------------------------------------

    def get(self, key: str, namespace: str, name: str) -> Obj | None:
        return self._objects.get(key, {}).get(namespace, {}).get(name)

    def iter(self, key: str, namespace: str | None = None) -> Iterator[Obj]:
        by_ns = self._objects.get(key, {})
        if namespace is not None:
            yield from by_ns.get(namespace, {}).values()
            return
        for objs in by_ns.values():
            yield from objs.values()

    def count(self, key: str) -> int:
        return sum(len(v) for v in self._objects.get(key, {}).values())

    # -- writes ------------------------------------------------------------------------

    def next_revision(self) -> int:
        self.revision += 1
        return self.revision

    def put(self, key: str, obj: Obj, event_type: EventType) -> None:
        """Store `obj` whose metadata.resourceVersion was set from `next_revision()`."""
        meta = obj["metadata"]
        ns = meta.get("namespace", "")
        objects = self._objects.setdefault(key, {}).setdefault(ns, {})
        old = objects.get(meta["name"]) if event_type == "MODIFIED" else None
        objects[meta["name"]] = obj
        if self.journal is not None:
            self.journal.put(event_type, key, obj)
        self._emit(Event(event_type, key, obj, int(meta["resourceVersion"]), old))

    def remove(self, key: str, obj: Obj) -> None:
        """Drop `obj`; the DELETED event carries it with a fresh resourceVersion."""
        meta = obj["metadata"]
        ns = meta.get("namespace", "")
        by_ns = self._objects.get(key, {})
        by_ns.get(ns, {}).pop(meta["name"], None)
        if ns in by_ns and not by_ns[ns]:
            del by_ns[ns]
        rv = self.next_revision()
        if self.journal is not None:
            self.journal.remove(key, ns, meta["name"], rv)
        gone = {**obj, "metadata": {**meta, "resourceVersion": str(rv)}}
        self._emit(Event("DELETED", key, gone, rv))

    def drop_key(self, key: str) -> None:
        self._objects.pop(key, None)

    # -- durability --------------------------------------------------------------------

    def restore(self, recovered: Recovered) -> None:
        """Take the state a journal recovered: the snapshot's objects, then its logged
        changes replayed in order into objects, revision and watch history (no watcher
        or listener hears of them: they happened before this process)."""
        from kubesim.journal import Remove

        self._objects = recovered.objects
        self.revision = self.history_start = recovered.revision
        self._history.clear()
        for change in recovered.changes:
            if isinstance(change, Remove):
                by_ns = self._objects.get(change.key, {})
                obj = by_ns.get(change.namespace, {}).pop(change.name, None)
                if change.namespace in by_ns and not by_ns[change.namespace]:
                    del by_ns[change.namespace]
                self.revision = change.rv
                if obj is not None:
                    meta = {**obj["metadata"], "resourceVersion": str(change.rv)}
                    self._remember(
                        Event("DELETED", change.key, {**obj, "metadata": meta}, change.rv)
                    )
                continue
            meta = change.obj["metadata"]
            objects = self._objects.setdefault(change.key, {}).setdefault(
                meta.get("namespace", ""), {}
            )
            old = objects.get(meta["name"]) if change.type == "MODIFIED" else None
            objects[meta["name"]] = change.obj
            self.revision = int(meta["resourceVersion"])
            self._remember(Event(change.type, change.key, change.obj, self.revision, old))

    def items(self) -> Iterator[tuple[str, Obj]]:
        """(storage key, object) for every stored object."""
        for key, by_ns in self._objects.items():
            for objs in by_ns.values():
                for obj in objs.values():
                    yield key, obj

    def attach(self, journal: Journal) -> None:
        """Write every change from now on to `journal`."""
        self.journal = journal

    def compact(self) -> None:
        """Replace the journal's log by a snapshot of every object at this revision."""
        if self.journal is not None:
            self.journal.snapshot(self.revision, self.items())

    # -- events ------------------------------------------------------------------------

    def _remember(self, event: Event) -> None:
        if len(self._history) == self._history.maxlen:
            self.history_start = self._history[0].rv
        self._history.append(event)

    def _emit(self, event: Event) -> None:
        self._remember(event)
        for watcher in self._watchers.get(event.key, ()):
            if watcher.namespace is None or watcher.namespace == event.namespace:
                watcher.queue.put_nowait(event)
        for listener in self._listeners:
            listener(event)

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        self._listeners.append(listener)

    def covers(self, rv: int) -> bool:
        return rv >= self.history_start

    def history_since(self, key: str, rv: int, namespace: str | None) -> list[Event]:
        return [
            e
            for e in self._history
            if e.rv > rv and e.key == key and (namespace is None or e.namespace == namespace)
        ]

    def watch(self, key: str, namespace: str | None) -> Watcher:
        watcher = Watcher(key, namespace)
        self._watchers.setdefault(key, set()).add(watcher)
        return watcher

    def watcher_count(self, key: str | None = None) -> int:
        """Open watch streams (on one storage key, or on all)."""
        if key is not None:
            return len(self._watchers.get(key, ()))
        return sum(len(w) for w in self._watchers.values())

    def unwatch(self, watcher: Watcher) -> None:
        self._watchers.get(watcher.key, set()).discard(watcher)

    def close_watchers(self) -> int:
        n = 0
        for watchers in self._watchers.values():
            for watcher in watchers:
                watcher.close()
                n += 1
        return n
