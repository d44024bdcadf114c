"""ServiceAccount controller: every active namespace has a `default` ServiceAccount,
created with the namespace and re-created when deleted, as kube-controller-manager's
serviceaccount controller keeps it."""

from __future__ import annotations

import contextlib

from kubesim.controllers.common import NAMESPACES, SERVICE_ACCOUNTS
from kubesim.errors import ApiError
from kubesim.storage import Event
from kubesim.store import ObjectStore

DEFAULT = "default"


class ServiceAccountController:
    observes: frozenset[str] | None = frozenset(
        {NAMESPACES.storage_key, SERVICE_ACCOUNTS.storage_key}
    )

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.dirty: set[str] = set()
        self._started = False

    def observe(self, event: Event) -> bool:
        meta = event.obj["metadata"]
        if event.key == NAMESPACES.storage_key:
            if event.type != "DELETED":
                self.dirty.add(meta["name"])
                return True
            return False
        if event.type == "DELETED" and meta["name"] == DEFAULT:
            self.dirty.add(meta.get("namespace", ""))
            return True
        return False

    def run(self) -> None:
        if not self._started:  # the namespaces that existed before the controller ran
            self._started = True
            self.dirty.update(
                ns["metadata"]["name"] for ns in self.store.storage.iter(NAMESPACES.storage_key)
            )
        while self.dirty:
            name = self.dirty.pop()
            namespace = self.store.find(NAMESPACES, "", name)
            if namespace is None or namespace["metadata"].get("deletionTimestamp"):
                continue
            if self.store.find(SERVICE_ACCOUNTS, name, DEFAULT) is not None:
                continue
            account = {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": DEFAULT, "namespace": name},
            }
            with contextlib.suppress(ApiError):
                self.store.create(account, rt=SERVICE_ACCOUNTS)
