"""The dev stack's API key, stored the way the api stores every key (SHA-256 only)."""

from datetime import UTC, datetime

from services.api.adapters.api_keys import ApiKeys
from shared.database import connect
from shared.names import DEFAULT_DATABASE


async def ensure_dev_key(
    mongodb_url: str, *, organization_id: int, key: str, database: str = DEFAULT_DATABASE
) -> None:
    client = connect(mongodb_url, app_name="jan-models-dev")
    try:
        await ApiKeys(client[database]).register(
            key, organization_id=organization_id, name="dev", now=datetime.now(UTC)
        )
    finally:
        await client.close()
