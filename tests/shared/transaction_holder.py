"""A process that opens a transaction on one document and then waits to be killed.

`python -m tests.shared.transaction_holder URL DATABASE COLLECTION ID` registers its
session as the services do, writes the document inside a transaction, prints `holding`
and sleeps: the test SIGKILLs it there, between the write and the commit.
"""

import asyncio
import os
import signal
import sys
from contextlib import suppress
from pathlib import Path

from shared.database import connect
from shared.transactions import TransactionSessions

REPO = Path(__file__).resolve().parents[2]


async def hold(url: str, database: str, collection: str, document_id: str) -> None:
    client = connect(url, app_name="tests-transaction-holder")
    db = client[database]
    sessions = TransactionSessions(db, service="holder", heartbeat_seconds=0.2, lease_seconds=1.0)
    await sessions.start()
    async with sessions.session() as session:
        await session.start_transaction()
        await db[collection].update_one(
            {"_id": document_id}, {"$set": {"held_by": "holder"}}, session=session
        )
        print("holding", flush=True)
        await asyncio.sleep(3600)


async def killed_while_holding(url: str, database: str, collection: str, document_id: str) -> None:
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
    asyncio.run(hold(*sys.argv[1:5]))
