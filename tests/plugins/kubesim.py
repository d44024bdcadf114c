"""pytest fixtures for kubesim: a running simulated cluster on a free loopback port.

- `kubesim`: default scenario, `ready_delay=0.05`, function-scoped.
- `kubeconfig_path`: a kubeconfig for `kubesim`, written to `tmp_path`.
- `kubesim_factory`: `async with kubesim_factory(scenario=..., ready_delay=..., ...) as sim:`.
- `KubesimControl(url)`: the control endpoints from a test (works for a kubesim in another
  process too): targeted fault rules, the ordered audit log, node readiness.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubesim import KubeSim, Scenario

SimFactory = Callable[..., AbstractAsyncContextManager[KubeSim]]


@asynccontextmanager
async def _running(scenario: Scenario | None = None, **options: Any) -> AsyncIterator[KubeSim]:
    options.setdefault("ready_delay", 0.05)
    async with KubeSim(scenario, **options).serve(host="127.0.0.1", port=0) as sim:
        yield sim


@pytest.fixture
def kubesim_factory() -> SimFactory:
    return _running


@pytest.fixture
async def kubesim() -> AsyncIterator[KubeSim]:
    async with _running() as sim:
        yield sim


@pytest.fixture
def kubeconfig_path(kubesim: KubeSim, tmp_path: Path) -> Path:
    return kubesim.write_kubeconfig(tmp_path / "kubeconfig")


class KubesimControl:
    """`/_kubesim/` control endpoints: `async with KubesimControl(sim.url) as control:`."""

    def __init__(self, url: str) -> None:
        self._http = httpx.AsyncClient(base_url=url, timeout=10.0)

    async def __aenter__(self) -> KubesimControl:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._http.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json()

    async def add_fault_rule(self, *, code: int, **match: Any) -> dict[str, Any]:
        """Fail matching requests (verb, resource, namespace, name) with `code`, for
        `count` requests and/or `seconds`; answers the rule with its `id` and `hits`."""
        rule: dict[str, Any] = await self._json(
            "POST", "/_kubesim/fault-rules", json={"code": code, **match}
        )
        return rule

    async def fault_rules(self) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = await self._json("GET", "/_kubesim/fault-rules")
        return rules

    async def remove_fault_rule(self, rule_id: int) -> None:
        await self._json("DELETE", f"/_kubesim/fault-rules/{rule_id}")

    async def clear_fault_rules(self) -> None:
        await self._json("DELETE", "/_kubesim/fault-rules")

    async def audit_log(self, since: int = 0) -> list[dict[str, Any]]:
        """Requests in arrival order after sequence number `since`."""
        entries: list[dict[str, Any]] = await self._json(
            "GET", "/_kubesim/audit/log", params={"since": since}
        )
        return entries

    async def clear_audit(self) -> None:
        await self._json("DELETE", "/_kubesim/audit")

    async def set_node_ready(self, name: str, status: str) -> dict[str, Any]:
        """Ready condition "True", "False" (NotReady) or "Unknown" (unreachable)."""
        node: dict[str, Any] = await self._json(
            "POST", f"/_kubesim/nodes/{name}/ready", json={"status": status}
        )
        return node
