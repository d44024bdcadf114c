"""A process that opens a transaction on one document and then waits to be killed.

`python -m tests.shared.transaction_holder URL DATABASE COLLECTION ID` registers its
session as the services do, writes the document inside a transaction, prints `holding`
and sleeps: the test SIGKILLs it there, between the write and the commit.
"""

import asyncio
import sys

from shared.database import connect
from shared.transactions import TransactionSessions


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


if __name__ == "__main__":
    asyncio.run(hold(*sys.argv[1:5]))
