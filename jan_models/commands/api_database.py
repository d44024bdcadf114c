"""The api's MongoDB for one CLI command (`keys`, `quota`), as `JAN_MODELS_MONGODB_URL` names it."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pymongo.asynchronous.database import AsyncDatabase

from services.api.settings import ApiSettings
from shared import database
from shared.names import Collection
from shared.records import Document

T = TypeVar("T")


def with_api_database(
    action: Callable[[AsyncDatabase[Document]], Awaitable[T]],
    *,
    app_name: str,
    collections: tuple[Collection, ...] = (),
) -> T:
    async def main() -> T:
        settings = ApiSettings()
        client = database.connect(settings.mongodb_url, app_name=app_name)
        try:
            db = client[settings.mongodb_database]
            await database.ensure_indexes(db, collections)
            return await action(db)
        finally:
            await client.close()

    return asyncio.run(main())
