"""Garbage collector: deleting an owner deletes its dependents (by ownerReferences uid).

Background (the default): the owner goes at once and its dependents after it. Foreground:
the owner keeps a `foregroundDeletion` finalizer, Terminating, while its dependents are
deleted (those with dependents of their own in the foreground too); the finalizer is
removed, and the owner goes, once none is left.
"""

from __future__ import annotations

from typing import Any

from kubesim.errors import ApiError
from kubesim.storage import Event
from kubesim.store import FOREGROUND, ObjectStore

Obj = dict[str, Any]
Where = tuple[str, str, str]  # storage key, namespace, name


class GarbageCollector:
    #: any object can be an owner or a dependent: `observe` sees every storage event
    observes: frozenset[str] | None = None

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._dependents: dict[str, set[Where]] = {}
        self._doomed: list[str] = []
        self._waiting: dict[str, Where] = {}  # owners deleting in the foreground
        self._check: set[str] = set()

    def observe(self, event: Event) -> bool:
        meta = event.obj["metadata"]
        refs = meta.get("ownerReferences") or ()
        if event.type == "DELETED":
            woke = False
            if meta.get("uid") in self._dependents:
                self._doomed.append(meta["uid"])
                woke = True
            self._waiting.pop(meta.get("uid", ""), None)
            for ref in refs:
                if ref.get("uid") in self._waiting:
                    self._check.add(ref["uid"])
                    woke = True
            return woke
        for ref in refs:
            uid = ref.get("uid")
            if uid:
                self._dependents.setdefault(uid, set()).add(
                    (event.key, meta.get("namespace", ""), meta["name"])
                )
        uid = meta.get("uid", "")
        deleting = meta.get("deletionTimestamp") and FOREGROUND in (meta.get("finalizers") or ())
        if deleting and uid not in self._waiting:
            self._waiting[uid] = (event.key, meta.get("namespace", ""), meta["name"])
            self._check.add(uid)
            return True
        return False

    def _live_dependents(self, owner: str) -> list[tuple[Where, Obj]]:
        found = []
        for where in self._dependents.get(owner, set()):
            obj = self.store.storage.get(*where)
            refs = obj["metadata"].get("ownerReferences") or () if obj is not None else ()
            if obj is not None and any(r.get("uid") == owner for r in refs):
                found.append((where, obj))
        return found

    def _delete(self, where: Where, policy: str | None = None) -> None:
        key, ns, name = where
        options = {"propagationPolicy": policy} if policy else None
        try:
            self.store.delete(self.store.rt_for_key(key), ns, name, options=options)
        except ApiError:
            return

    def run(self) -> None:
        while self._doomed:
            owner = self._doomed.pop()
            for where, _obj in self._live_dependents(owner):
                self._delete(where)
            self._dependents.pop(owner, None)
        while self._check:
            owner = self._check.pop()
            for where, obj in self._live_dependents(owner):
                meta = obj["metadata"]
                if not meta.get("deletionTimestamp"):
                    has_own = meta["uid"] in self._dependents
                    self._delete(where, "Foreground" if has_own else "Background")
            if owner in self._waiting and not self._live_dependents(owner):
                self._release(owner)

    def _release(self, owner: str) -> None:
        key, ns, name = self._waiting.pop(owner)
        obj = self.store.storage.get(key, ns, name)
        if obj is None or obj["metadata"].get("uid") != owner:
            return
        finalizers = [f for f in obj["metadata"].get("finalizers") or () if f != FOREGROUND]
        meta = {**obj["metadata"], "finalizers": finalizers}
        if not finalizers:
            del meta["finalizers"]
        self.store.commit(self.store.rt_for_key(key), {**obj, "metadata": meta})
