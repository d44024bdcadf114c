"""Child processes of a run: the load generator and the direct baseline, and waiting on
HTTP readiness with a deadline."""

import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from jan_models.bench.loadgen import LOADS, AnyLoad
from jan_models.embedded import free_port


class BenchError(RuntimeError):
    """A run could not measure what it set out to (a part did not start or answer)."""


async def load(spec: AnyLoad, *, timeout: float) -> dict[str, Any]:
    """Runs one load in a fresh `python -m jan_models.bench.loadgen` process."""
    return (await load_many([spec], timeout=timeout))[0]


async def load_many(specs: Sequence[AnyLoad], *, timeout: float) -> list[dict[str, Any]]:
    """Runs the loads one after the other in one fresh load generator process."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "jan_models.bench.loadgen",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(
            process.communicate(LOADS.dump_json(list(specs))), timeout
        )
    except TimeoutError as exc:
        process.kill()
        await process.wait()
        raise BenchError(f"load generator ran past {timeout:.0f} s") from exc
    if process.returncode != 0:
        raise BenchError(f"load generator failed: {err.decode(errors='replace')[-2000:]}")
    results: list[dict[str, Any]] = orjson.loads(out)
    return results


async def wait_http(url: str, *, timeout: float, expect: int = 200) -> float:
    """Seconds until `url` answers `expect`; BenchError after `timeout`."""
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        while time.monotonic() - started < timeout:
            try:
                async with session.get(url) as response:
                    await response.read()
                    if response.status == expect:
                        return time.monotonic() - started
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.1)
    raise BenchError(f"{url} did not answer {expect} within {timeout:.0f} s")


class DirectBaseline:
    """`python -m jan_models.bench.direct` as its own process, on a free port."""

    def __init__(self, *, kubeconfig: Path, nats_url: str, organization_id: int, log: Path):
        self.port = free_port()
        self.args = [
            sys.executable,
            "-m",
            "jan_models.bench.direct",
            "--kubeconfig",
            str(kubeconfig),
            "--port",
            str(self.port),
            "--nats-url",
            nats_url,
            "--organization-id",
            str(organization_id),
        ]
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> "DirectBaseline":
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.args, stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL
            )
        await wait_http(f"{self.url}/readyz", timeout=60)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
