"""Garbage collector: deleting an owner deletes its dependents (by ownerReferences uid)."""

from __future__ import annotations

from kubesim.errors import ApiError
from kubesim.storage import Event
from kubesim.store import ObjectStore


class GarbageCollector:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._dependents: dict[str, set[tuple[str, str, str]]] = {}
        self._doomed: list[str] = []

    def observe(self, event: Event) -> bool:
        meta = event.obj["metadata"]
        if event.type == "DELETED":
            if meta.get("uid") in self._dependents:
                self._doomed.append(meta["uid"])
                return True
            return False
        for ref in meta.get("ownerReferences") or ():
            uid = ref.get("uid")
            if uid:
                self._dependents.setdefault(uid, set()).add(
                    (event.key, meta.get("namespace", ""), meta["name"])
                )
        return False

    def run(self) -> None:
        while self._doomed:
            owner = self._doomed.pop()
            for key, ns, name in self._dependents.pop(owner, set()):
                obj = self.store.storage.get(key, ns, name)
                if obj is None:
                    continue
                if not any(
                    r.get("uid") == owner for r in obj["metadata"].get("ownerReferences") or ()
                ):
                    continue
                rt = self.store.rt_for_key(key)
                try:
                    self.store.delete(rt, ns, name)
                except ApiError:
                    continue
