"""A model's events as the api reads them back: a page of its history (`GET
/models/{id}/events`) or a live feed of new ones (`/models/events/stream`), as pure data.

Both read MODEL_EVENTS through an adapter (`adapters/event_history.py`,
`adapters/event_feed.py`) behind the ports `ModelHistory` and `EventFeeds`; what they
hand back is each CloudEvent exactly as published, never parsed into another shape.
"""

from dataclasses import dataclass
from typing import Final

import orjson

from shared.names import EVENTS_PREFIX

LAST_SEQUENCE: Final = 2**64 - 1
"""A stream sequence is unsigned 64-bit: a page or a feed starts after a sequence below it."""


@dataclass(frozen=True, slots=True)
class HistoryPage:
    events: list[orjson.Fragment]
    """Each CloudEvent exactly as published."""
    next_after: int | None


class FeedOverflowedError(Exception):
    """The client fell `capacity` events behind; its feed has stopped."""


@dataclass(frozen=True, slots=True)
class FeedEvent:
    sequence: int
    data: bytes
    """The CloudEvent exactly as published."""


@dataclass(frozen=True, slots=True)
class FeedFilter:
    """Which events a client sees: its organization's, or one model's of it."""

    organization_id: int
    model_name: str | None = None
    public_id: str | None = None

    @property
    def subject(self) -> str:
        model = self.model_name or "*"
        return f"{EVENTS_PREFIX}.{self.organization_id}.{model}.*"

    def admits(self, data: bytes) -> bool:
        """A name outlives its model (deleted, then taken again): one model's feed also
        checks the event's subject, its public id."""
        if self.public_id is None:
            return True
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            return False
        return isinstance(event, dict) and event.get("subject") == self.public_id
