"""The details body of the models recently asked, rendered once per version of each.

A model's details (`GET /models/{id}`, ~2.3 KB with its conditions and desired deployment
config) cost ~40 µs to build, on every request, although a model changes far less often
than it is read. The registry cache hands out the same record object until the model
changes, so a body is kept with the record it was rendered from and the config it
showed, and served again while both are still those. A model read from MongoDB (before
the cache is ready) is a new object each time: rendered afresh.
"""

from collections import OrderedDict
from typing import Any, Final

import orjson

from services.api.records import ModelDetails, ModelRecord
from services.api.views import detail_view

HELD: Final = 4096
"""Bodies kept, least recently asked dropped first (~10 MB at most)."""


class RenderedDetails:
    def __init__(self, held: int = HELD) -> None:
        self._limit = held
        self._held: OrderedDict[str, tuple[ModelRecord, dict[str, Any], bytes]] = OrderedDict()

    def body(self, details: ModelDetails) -> bytes:
        key = details.model.public_id
        held = self._held.get(key)
        if held is not None and held[0] is details.model and held[1] == details.deployment_config:
            self._held.move_to_end(key)
            return held[2]
        body = orjson.dumps(detail_view(details))
        self._held[key] = (details.model, details.deployment_config, body)
        self._held.move_to_end(key)
        if len(self._held) > self._limit:
            self._held.popitem(last=False)
        return body


DETAILS: Final = RenderedDetails()
