"""The Events recorder the simulated controllers call: `record(store, involved=..., ...)`.

Events are stored once, as core `v1` Events, and served also as `events.k8s.io/v1`
Events (see `kubesim.conversion`). Like client-go's event correlator, a repeat of the
same (source, involved object, type, reason, message) does not create another Event: it
bumps `count`, `lastTimestamp` and `series` on the one already recorded. Events of
cluster-scoped objects (Nodes) go to the `default` namespace, as a real cluster's do.

Recorded Events live for a TTL after their last update (the apiserver's `--event-ttl`,
one hour unless `configure(store, ttl=...)` says otherwise); expired ones are deleted
(with a DELETED watch event) the next time something is recorded.

    from kubesim import events
    events.record(store, involved=pod, reason="Scheduled",
                  message=f"Successfully assigned {ns}/{name} to {node}",
                  component="default-scheduler")
"""

from __future__ import annotations

import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from kubesim.fieldsets import now_micro
from kubesim.resources import BUILTINS
from kubesim.storage import Storage, new_uid
from kubesim.store import ObjectStore

Obj = dict[str, Any]
EventType = Literal["Normal", "Warning"]

EVENTS = next(rt for rt in BUILTINS if rt.storage_key == "/events" and not rt.stored_as)
_Key = tuple[str, ...]
#: per storage: correlation key -> (namespace, name) of the Event already recorded for it,
#: least recently used first; bounded like client-go's correlator cache
_CACHE_ENTRIES = 4096
DEFAULT_TTL = 3600.0
_last_suffix = [0]


class _Recorded:
    """What the recorder remembers per storage: the correlation cache (least recently
    used first, bounded like client-go's) and when each recorded Event expires."""

    def __init__(self) -> None:
        self.ttl = DEFAULT_TTL
        self.clock: Callable[[], float] = time.monotonic
        self.seen: OrderedDict[_Key, tuple[str, str]] = OrderedDict()
        self.expires: dict[tuple[str, str], float] = {}
        self.queue: deque[tuple[float, str, str]] = deque()

    def touch(self, namespace: str, name: str) -> None:
        due = self.clock() + self.ttl
        self.expires[(namespace, name)] = due
        self.queue.append((due, namespace, name))

    def expire(self, store: ObjectStore) -> None:
        now = self.clock()
        while self.queue and self.queue[0][0] <= now:
            due, namespace, name = self.queue.popleft()
            if self.expires.get((namespace, name)) != due:
                continue  # updated since: a later entry stands for it
            del self.expires[(namespace, name)]
            event = store.find(EVENTS, namespace, name)
            if event is not None:
                store.storage.remove(EVENTS.storage_key, event)


_recorded: weakref.WeakKeyDictionary[Storage, _Recorded] = weakref.WeakKeyDictionary()


def _recorded_in(storage: Storage) -> _Recorded:
    recorded = _recorded.get(storage)
    if recorded is None:
        recorded = _recorded[storage] = _Recorded()
    return recorded


def configure(
    store: ObjectStore, *, ttl: float, clock: Callable[[], float] = time.monotonic
) -> None:
    """How long Events recorded in `store` live after their last update, in seconds of
    `clock` (tests may pass their own)."""
    recorded = _recorded_in(store.storage)
    recorded.ttl, recorded.clock = ttl, clock


def reference(obj: Obj, *, field_path: str = "") -> Obj:
    """The ObjectReference an Event keeps of `obj` (`involvedObject` / `regarding`)."""
    meta = obj["metadata"]
    ref = {
        "kind": obj.get("kind", ""),
        "namespace": meta.get("namespace", ""),
        "name": meta["name"],
        "uid": meta.get("uid", ""),
        "apiVersion": obj.get("apiVersion", ""),
        "resourceVersion": meta.get("resourceVersion", ""),
    }
    if field_path:
        ref["fieldPath"] = field_path
    return {k: v for k, v in ref.items() if v}


def _correlation_key(
    component: str, host: str, ref: Obj, type: str, reason: str, message: str
) -> _Key:
    """What makes two Events the same one, as client-go's correlator aggregates them."""
    return (
        component,
        host,
        ref.get("kind", ""),
        ref.get("namespace", ""),
        ref["name"],
        ref.get("fieldPath", ""),
        ref.get("uid", ""),
        ref.get("apiVersion", ""),
        type,
        reason,
        message,
    )


def resume(store: ObjectStore) -> None:
    """Take up the Events a store restored from a data directory holds: each expires a TTL
    after its last update (by the wall clock, which outlived the process), and the
    correlation cache knows the latest of them, so a repeat bumps the Event recorded
    before the restart instead of adding another."""
    recorded = _recorded_in(store.storage)
    stored = sorted(
        store.storage.iter(EVENTS.storage_key), key=lambda e: int(e["metadata"]["resourceVersion"])
    )
    now, wall = recorded.clock(), time.time()
    due = []
    for event in stored:
        meta = event["metadata"]
        where = (meta.get("namespace", ""), meta["name"])
        last = event.get("lastTimestamp") or meta.get("creationTimestamp") or ""
        try:
            age = wall - datetime.fromisoformat(last).timestamp()
        except ValueError:
            age = 0.0
        when = now + max(0.0, recorded.ttl - age)
        recorded.expires[where] = when
        due.append((when, *where))
        source = event.get("source") or {}
        key = _correlation_key(
            str(source.get("component", "")),
            str(source.get("host", "")),
            event.get("involvedObject") or {"name": ""},
            str(event.get("type", "")),
            str(event.get("reason", "")),
            str(event.get("message", "")),
        )
        recorded.seen[key] = where
        recorded.seen.move_to_end(key)
    while len(recorded.seen) > _CACHE_ENTRIES:
        recorded.seen.popitem(last=False)
    recorded.queue = deque(sorted(due))


def record(
    store: ObjectStore,
    *,
    involved: Obj,
    reason: str,
    message: str,
    type: EventType = "Normal",
    component: str,
    host: str = "",
    field_path: str = "",
    action: str = "",
) -> Obj:
    """Record that `reason`/`message` happened to the stored object `involved`.

    `component` is the reporting controller (`default-scheduler`, `kubelet`,
    `deployment-controller`, ...), `host` the node a kubelet runs on, `field_path` the
    part of the object concerned (`spec.containers{vllm}`). Returns the stored Event.
    """
    ref = reference(involved, field_path=field_path)
    key = _correlation_key(component, host, ref, type, reason, message)
    recorded = _recorded_in(store.storage)
    recorded.expire(store)
    seen = recorded.seen
    where = seen.get(key)
    existing = store.find(EVENTS, *where) if where else None
    if where:
        seen.move_to_end(key)
    micro = now_micro()
    now = f"{micro[:19]}Z"  # the same instant at the second, as the other timestamps
    if existing is not None:
        count = int(existing.get("count", 1)) + 1
        bumped = {
            **existing,
            "metadata": {**existing["metadata"]},
            "involvedObject": ref,
            "count": count,
            "lastTimestamp": now,
            "series": {"count": count, "lastObservedTime": micro},
        }
        assert where is not None  # an Event was found where the cache said
        recorded.touch(*where)
        return store.commit(EVENTS, bumped)
    namespace = ref.get("namespace") or "default"
    _last_suffix[0] = max(time.time_ns(), _last_suffix[0] + 1)
    name = f"{ref['name']}.{_last_suffix[0]:x}"
    event: Obj = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": new_uid(),
            "creationTimestamp": now,
        },
        "involvedObject": ref,
        "reason": reason,
        "message": message,
        "type": type,
        "source": {"component": component, **({"host": host} if host else {})},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "eventTime": micro,
        "reportingComponent": component,
        "reportingInstance": host or component,
    }
    if action:
        event["action"] = action
    event["metadata"]["resourceVersion"] = str(store.storage.next_revision())
    store.storage.put(EVENTS.storage_key, event, "ADDED")
    seen[key] = (namespace, name)
    recorded.touch(namespace, name)
    if len(seen) > _CACHE_ENTRIES:
        seen.popitem(last=False)
    return event
