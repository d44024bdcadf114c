"""A process that opens a transaction on one document and then waits to be killed.

`python -m tests.shared.transaction_holder URL DATABASE COLLECTION ID [SIZE]` registers
its SIZE sessions (1) as the services do, writes the document inside a transaction of the
last of them, prints `holding` and sleeps: the test SIGKILLs it there, between the write
and the commit.
"""

import asyncio
import os
import signal
import sys
from contextlib import AsyncExitStack, suppress
from pathlib import Path

from shared.database import connect
from shared.transactions import TransactionSessions

REPO = Path(__file__).resolve().parents[2]


async def hold(url: str, database: str, collection: str, document_id: str, size: str) -> None:
    client = connect(url, app_name="tests-transaction-holder")
    db = client[database]
    sessions = TransactionSessions(
        db, service="holder", heartbeat_seconds=0.2, lease_seconds=1.0, size=int(size)
    )
    await sessions.start()
    async with AsyncExitStack() as taken:
        for _ in range(int(size)):
            session = await taken.enter_async_context(sessions.session())
        await session.start_transaction()
        await db[collection].update_one(
            {"_id": document_id}, {"$set": {"held_by": "holder"}}, session=session
        )
        print("holding", flush=True)
        await asyncio.sleep(3600)


async def killed_while_holding(
    url: str, database: str, collection: str, document_id: str, *, size: int = 1
) -> None:
    """Run this module as its own process until it holds the document, then SIGKILL it:
    its transaction stays open on the server, as a crashed service's would."""
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.shared.transaction_holder",
        url,
        database,
        collection,
        document_id,
        str(size),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert holder.stdout is not None
        assert await asyncio.wait_for(holder.stdout.readline(), timeout=30) == b"holding\n"
    finally:
        with suppress(ProcessLookupError):
            holder.send_signal(signal.SIGKILL)
        await holder.wait()


if __name__ == "__main__":
    asyncio.run(hold(*sys.argv[1:5], *(sys.argv[5:6] or ["1"])))
