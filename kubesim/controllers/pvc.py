"""PVC binder: a claim without a storage class gets the default one (the DefaultStorageClass
admission plugin's job) and every claim is bound at once to a made-up volume."""

from __future__ import annotations

from kubesim.controllers.common import PVCS, STORAGE_CLASSES, evolve
from kubesim.storage import Event
from kubesim.store import ObjectStore

DEFAULT_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


class PvcBinder:
    #: the storage keys whose events `observe` reacts to (the manager sends it no others)
    observes: frozenset[str] | None = frozenset({PVCS.storage_key})

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.dirty: set[tuple[str, str]] = set()

    def observe(self, event: Event) -> bool:
        if event.key != PVCS.storage_key or event.type == "DELETED":
            return False
        if event.obj.get("status", {}).get("phase") == "Bound":
            return False
        meta = event.obj["metadata"]
        self.dirty.add((meta["namespace"], meta["name"]))
        return True

    def _default_class(self) -> str | None:
        for sc in self.store.storage.iter(STORAGE_CLASSES.storage_key):
            if (sc["metadata"].get("annotations") or {}).get(DEFAULT_ANNOTATION) == "true":
                return str(sc["metadata"]["name"])
        return None

    def run(self) -> None:
        while self.dirty:
            pvc = self.store.find(PVCS, *self.dirty.pop())
            if pvc is None or pvc.get("status", {}).get("phase") == "Bound":
                continue
            spec = {**(pvc.get("spec") or {})}
            new = evolve(pvc, spec=spec)
            if not spec.get("storageClassName"):
                default = self._default_class()
                if default:
                    spec["storageClassName"] = default
            spec["volumeName"] = f"pvc-{new['metadata']['uid']}"
            storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
            new["status"] = {
                "phase": "Bound",
                "accessModes": spec.get("accessModes", ["ReadWriteOnce"]),
                "capacity": {"storage": storage},
            }
            self.store.commit(PVCS, new)
