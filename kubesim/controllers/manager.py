"""Runs the simulated controllers in the server's event loop.

Storage events are observed synchronously (each controller only records what became
dirty); one task then reconciles in passes until nothing is dirty. Writes made by a pass
produce events that may dirty more work, so passes repeat until the state settles.

After a restart from a data directory, `resume` hands every stored object to the
controllers as their informers' first list would: each reconciles what it finds, which
for a cluster left consistent writes nothing, and the kubelet adopts the pods it was
already running instead of starting them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable, Iterator, Mapping

from kubesim.controllers.accounts import ServiceAccountController
from kubesim.controllers.common import PODS
from kubesim.controllers.deployments import DeploymentController
from kubesim.controllers.gc import GarbageCollector
from kubesim.controllers.jobs import CronJobController, JobController
from kubesim.controllers.kubelet import Kubelet
from kubesim.controllers.nodes import NodeLifecycle
from kubesim.controllers.pvc import PvcBinder
from kubesim.controllers.replicasets import ReplicaSetController
from kubesim.controllers.scheduler import Scheduler
from kubesim.controllers.sets import DaemonSetController, StatefulSetController
from kubesim.events import EVENTS
from kubesim.storage import Event
from kubesim.store import ObjectStore

_MAX_PASSES = 50
log = logging.getLogger(__name__)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic collector off for a block that makes hundreds of thousands of
    acyclic dicts (a settle pass, a recovery): with a large cluster in memory each full
    collection would rescan all of it, and reference counting frees them anyway."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class ControllerManager:
    def __init__(
        self,
        store: ObjectStore,
        *,
        ready_delay: float,
        failing_images: Mapping[str, str],
        crash_interval: float = 1.0,
        termination_seconds: float = 1.0,
    ) -> None:
        self._wake = asyncio.Event()
        self.store = store
        self.gc = GarbageCollector(store)
        self.replica_sets = ReplicaSetController(store)
        self.deployments = DeploymentController(
            store, replica_sets=self.replica_sets, wake=self._wake.set
        )
        self.nodes = NodeLifecycle(store, wake=self._wake.set)
        self.scheduler = Scheduler(store)
        self.kubelet = Kubelet(
            store,
            ready_delay=ready_delay,
            failing_images=failing_images,
            crash_interval=crash_interval,
            wake=self._wake.set,
            termination_seconds=termination_seconds,
        )
        self.pvcs = PvcBinder(store)
        self.accounts = ServiceAccountController(store)
        self.jobs = JobController(store)
        self.cron_jobs = CronJobController(store)
        self.daemon_sets = DaemonSetController(store)
        self.stateful_sets = StatefulSetController(store)
        self.crash_interval = crash_interval
        self._controllers = (
            self.gc,
            self.deployments,
            self.nodes,
            self.replica_sets,
            self.cron_jobs,
            self.jobs,
            self.daemon_sets,
            self.stateful_sets,
            self.scheduler,
            self.kubelet,
            self.pvcs,
            self.accounts,
        )
        self._by_key: dict[str, tuple[Callable[[Event], bool], ...]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        store.storage.add_listener(self._observe)

    def _observers(self, key: str) -> tuple[Callable[[Event], bool], ...]:
        """The `observe` methods of the controllers that react to events on `key`, in order."""
        found = self._by_key.get(key)
        if found is None:
            found = self._by_key[key] = tuple(
                c.observe for c in self._controllers if c.observes is None or key in c.observes
            )
        return found

    def _observe(self, event: Event) -> None:
        if event.key == EVENTS.storage_key:
            return  # the controllers record Events; none of them reacts to one
        woke = False
        for observe in self._observers(event.key):
            woke = observe(event) or woke
        if woke:
            self._wake.set()

    def resume(self) -> None:
        storage = self.store.storage
        for key, obj in list(storage.items()):
            if key == EVENTS.storage_key:
                continue
            if key == PODS.storage_key:
                self.kubelet.adopt(obj)
            self._observe(Event("ADDED", key, obj, int(obj["metadata"]["resourceVersion"])))

    def settle(self) -> None:
        """Reconcile until nothing is dirty (bounded), synchronously, the cyclic
        collector paused."""
        with collector_paused():
            self._settle()

    def _settle(self) -> None:
        for _ in range(_MAX_PASSES):
            self._wake.clear()
            for controller in self._controllers:
                try:
                    controller.run()
                except Exception:
                    log.exception("kubesim controller %s failed", type(controller).__name__)
            if not self._wake.is_set():
                return

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self.settle()
            await asyncio.sleep(0)

    async def _crash_loop(self) -> None:
        while True:
            await asyncio.sleep(self.crash_interval)
            if self.kubelet.crashing:
                self.kubelet.crash_tick()

    async def _clock_loop(self) -> None:
        """Time-triggered work: CronJob schedules, checked every second."""
        while True:
            await asyncio.sleep(1.0)
            if self.cron_jobs.tick():
                self._wake.set()

    def start(self) -> None:
        self._wake.set()
        self._tasks = [
            asyncio.create_task(self._loop()),
            asyncio.create_task(self._crash_loop()),
            asyncio.create_task(self._clock_loop()),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
