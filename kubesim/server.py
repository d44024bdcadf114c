"""`KubeSim`: the simulator assembled (storage, registry, verbs, controllers, HTTP)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

from kubesim import events
from kubesim.control import control_routes
from kubesim.controllers import ControllerManager
from kubesim.controllers.manager import collector_paused
from kubesim.controllers.nodes import set_ready
from kubesim.faults import Faults
from kubesim.http_api import KubeApi
from kubesim.journal import Journal
from kubesim.kubeconfig import DEFAULT_TOKEN, write_kubeconfig
from kubesim.logs import LogBook, Script
from kubesim.resources import Registry, crd_resource_types
from kubesim.scenario import Scenario, default_scenario, manifests
from kubesim.storage import Storage
from kubesim.store import CRD_KEY, ObjectStore


class KubeSim:
    """A simulated Kubernetes cluster seeded from a scenario.

    `ready_delay`: seconds from binding until a pod is Running and Ready.
    `history_size`: events kept for watches to resume from (older ones answer 410).
    `failing_image_patterns`: image substring or glob -> `ImagePullBackOff` or
    `CrashLoopBackOff`; defaults to the scenario's `failing_images`.
    `event_ttl`: seconds a recorded Event lives after its last update (as `--event-ttl`).
    `data_dir`: keep the cluster there (see `kubesim.journal`): a new simulator on the same
    directory finds it as it was left, and is not seeded from the scenario again. Without
    one, everything stays in memory and nothing is written.
    """

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        ready_delay: float = 1.0,
        history_size: int = 10_000,
        failing_image_patterns: Mapping[str, str] | None = None,
        bookmark_interval: float = 5.0,
        crash_interval: float = 1.0,
        event_ttl: float = events.DEFAULT_TTL,
        data_dir: str | Path | None = None,
    ) -> None:
        self.scenario = scenario if scenario is not None else default_scenario()
        self.storage = Storage(history_size=history_size)
        self.registry = Registry.with_builtins()
        self.store = ObjectStore(self.storage, self.registry)
        events.configure(self.store, ttl=event_ttl)
        self.faults = Faults()
        self.faults._cutter = self.storage.close_watchers
        patterns = (
            self.scenario.failing_images
            if failing_image_patterns is None
            else failing_image_patterns
        )
        self.controllers = ControllerManager(
            self.store,
            ready_delay=ready_delay,
            failing_images=patterns,
            crash_interval=crash_interval,
            termination_seconds=self.scenario.pod_termination_seconds,
        )
        self.api = KubeApi(
            store=self.store,
            faults=self.faults,
            bookmark_interval=bookmark_interval,
            logs=LogBook(
                [Script(s.image, tuple(s.lines), tuple(s.previous)) for s in self.scenario.logs]
            ),
        )
        self.url = ""
        self.journal = Journal(data_dir) if data_dir is not None else None
        #: whether this simulator took up a cluster kept in its data directory
        self.restored = self.journal is not None and self._recover(self.journal)
        if not self.restored:
            self.store.create_many(manifests(self.scenario))
        if self.journal is not None:
            self.storage.attach(self.journal)
            if not self.restored:
                self.storage.compact()  # the seeded cluster, whole: a directory's first state

    def _recover(self, journal: Journal) -> bool:
        """Take up the cluster kept in the journal's directory, if it holds one: objects,
        revision and history, the CRDs' resources, the Events' lifetimes, and what the
        controllers make of it all."""
        with collector_paused():
            recovered = journal.recover()
            if recovered is None:
                return False
            self.storage.restore(recovered)
            for crd in self.storage.iter(CRD_KEY):
                for crd_rt in crd_resource_types(crd):
                    self.registry.add(crd_rt)
            events.resume(self.store)
            self.controllers.resume()
        return True

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[KubeSim]:
        """Serve the API in the running event loop until the block exits."""
        app = self.api.app(control_routes(self.faults, self.api.audit, self.store))
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        self.url = f"http://{host if host not in ('0.0.0.0', '::') else '127.0.0.1'}:{bound_port}"
        del bound_host
        self.controllers.start()
        keeper = asyncio.create_task(self._keep()) if self.journal is not None else None
        try:
            yield self
        finally:
            self.storage.close_watchers()
            await self.controllers.stop()
            await runner.cleanup()
            if keeper is not None:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper
            self.close()

    async def _keep(self) -> None:
        """fsync the journal's log once a second when it was written to, and replace it by
        a snapshot when it has grown past its bound."""
        journal = self.journal
        assert journal is not None
        while True:
            await asyncio.sleep(journal.sync_interval)
            await asyncio.to_thread(journal.sync)
            if journal.wants_compaction:
                self.storage.compact()

    def close(self) -> None:
        """Flush and release the data directory (a later simulator may then take it up)."""
        if self.journal is not None:
            self.journal.close()

    def settle(self) -> None:
        """Run the simulated controllers to a fixed point now (handy after bulk seeding)."""
        self.controllers.settle()

    def set_node_ready(self, name: str, status: str) -> None:
        """Set node `name`'s Ready condition: "True", "False" (NotReady) or "Unknown"."""
        set_ready(self.store, name, status)

    def write_kubeconfig(self, path: str | Path, *, token: str = DEFAULT_TOKEN) -> Path:
        """A kubeconfig for this simulator; a distinct `token` makes a distinct audit user."""
        if not self.url:
            raise RuntimeError("the simulator is not serving; use `async with sim.serve()` first")
        return write_kubeconfig(self.url, path, token=token)
