"""Reads the last lines a model's crashed container printed (`kubectl logs --previous`).

Asked once per pod, when the pod first shows a container that restarted: that is the
log that says why it crashes. A pod whose log cannot be read (gone meanwhile, no
previous container) is not asked again; its reason stays the kubelet's words.
"""

import asyncio
import logging
from collections.abc import Callable
from typing import Final

from kubernetes_asyncio.client import ApiClient, CoreV1Api

from services.inventory.objects import ObservedPod
from shared.labels import MODEL_CONTAINER
from shared.tasks import cancel_and_wait

log = logging.getLogger(__name__)

TAIL_LINES: Final = 20
LIMIT_BYTES: Final = 16_384


class CrashLogs:
    def __init__(self, client: ApiClient, *, found: Callable[[str, str], None]) -> None:
        self._core = CoreV1Api(client)
        self._found = found
        self._asked: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def consider(self, pod: ObservedPod) -> None:
        """Fetch the pod's previous log if it is a model's pod that crashed, once."""
        if not pod.public_id or pod.restart_count < 1 or pod.key in self._asked:
            return
        self._asked.add(pod.key)
        task = asyncio.ensure_future(self._fetch(pod))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def forget(self, pod_key: str) -> None:
        self._asked.discard(pod_key)

    async def _fetch(self, pod: ObservedPod) -> None:
        try:
            text = await self._core.read_namespaced_pod_log(
                pod.name,
                pod.namespace,
                container=MODEL_CONTAINER,
                previous=True,
                tail_lines=TAIL_LINES,
                limit_bytes=LIMIT_BYTES,
            )
        except Exception as exc:
            log.info(
                "crashed container's log not readable",
                extra={"pod": pod.key, "public_id": pod.public_id, "error": repr(exc)},
            )
            return
        self._found(pod.key, str(text))

    async def stop(self) -> None:
        await cancel_and_wait(list(self._tasks))
