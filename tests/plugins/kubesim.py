"""pytest fixtures for kubesim: a running simulated cluster on a free loopback port.

- `kubesim`: default scenario, `ready_delay=0.05`, function-scoped.
- `kubeconfig_path`: a kubeconfig for `kubesim`, written to `tmp_path`.
- `kubesim_factory`: `async with kubesim_factory(scenario=..., ready_delay=..., ...) as sim:`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

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
