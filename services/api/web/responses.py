"""JSON responses rendered by orjson; the seed's bodies are built as plain dicts.

A `JSONResponse` to FastAPI, so the document types these bodies by the models each
route declares (not as a string)."""

from typing import Any

import orjson
from starlette.responses import JSONResponse


class JsonResponse(JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
