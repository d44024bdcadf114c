"""Several document writes, one commit: a bulk write inside a multi-document transaction.

Every statement of a bulk write is a transaction of its own and pays its own commit: on
the embedded MongoDB-compatible server (which syncs its log on every commit, so that an
acknowledged write survives a crash) that commit is a large share of what an update
costs. Inside one transaction the statements share one commit, and either all of them
are stored or none is. A server without transactions (a standalone mongod) gets the
plain unordered bulk write, statement by statement, as before.
"""

import weakref
from collections.abc import Sequence
from typing import Any, Final

from pymongo import DeleteOne, InsertOne, ReplaceOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import ConfigurationError, OperationFailure
from pymongo.results import BulkWriteResult

Write = InsertOne[Any] | UpdateOne | ReplaceOne[Any] | DeleteOne
_ILLEGAL_OPERATION: Final = 20
""""Transaction numbers are only allowed on a replica set member or mongos"."""
_without_transactions: "weakref.WeakSet[Any]" = weakref.WeakSet()


async def bulk_write_in_one_commit(
    collection: AsyncCollection[Any], operations: Sequence[Write]
) -> BulkWriteResult:
    """All of `operations` or none of them: any failure aborts the transaction and is
    raised, a write conflict too (the caller retries as it would any failed write; the
    embedded server labels even a duplicate key transient, so nothing retries here)."""
    client = collection.database.client
    if client in _without_transactions:
        return await collection.bulk_write(list(operations), ordered=False)

    try:
        async with client.start_session() as session, await session.start_transaction():
            return await collection.bulk_write(list(operations), ordered=False, session=session)
    except (ConfigurationError, OperationFailure) as exc:
        if isinstance(exc, OperationFailure) and exc.code != _ILLEGAL_OPERATION:
            raise
        _without_transactions.add(client)
        return await collection.bulk_write(list(operations), ordered=False)
