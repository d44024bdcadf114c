"""One stack per scenario group: the MongoDB-compatible server started first (so the
registry can be seeded before the services read it), then `LocalStack` with every other
part as its own process, on free ports, kubesim's readiness delay 0."""

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from jan_models.bench.clusters import write_scenario
from jan_models.embedded import EmbeddedMongo, free_port
from jan_models.stack import LocalStack, ServiceName, StackConfig

Prepare = Callable[[str], Awaitable[None]]


@asynccontextmanager
async def bench_stack(
    *,
    work: Path,
    scenario: dict[str, Any],
    start_timeout: float,
    prepare: Prepare | None = None,
    replicas: dict[ServiceName, int] | None = None,
) -> AsyncIterator[LocalStack]:
    """The stack on `scenario`; `prepare(mongodb_url)` runs before any service starts."""
    mongo = EmbeddedMongo(
        name="mongodb",
        port=free_port(),
        log_path=work / "logs" / "mongodb.log",
        storage_path=str(work / "mongodb"),
        sync_on_commit=True,  # as the stack runs it: acknowledged writes survive SIGKILL
    )
    await mongo.astart(timeout=60)
    try:
        if prepare is not None:
            await prepare(mongo.url)
        config = StackConfig(
            data_dir=work,
            mongodb_url=mongo.url,
            scenario=write_scenario(scenario, work / "scenario.yaml"),
            ready_delay=0,
            extra_env={
                "JAN_MODELS_LOG_LEVEL": os.environ.get("JAN_MODELS_BENCH_LOG_LEVEL", "WARNING")
            },
            kubesim_ready_timeout=start_timeout,
            service_ready_timeout=start_timeout,
            replicas=replicas or {},
        ).with_free_ports()
        async with LocalStack(config).running_async() as stack:
            yield stack
    finally:
        await mongo.astop()
