"""`/console`: the web console's page and assets, served without a key.

The files ship inside the package and are read once; only those names are served, so a
path never reaches the file system. Each carries an entity tag of its content, so a
browser that has it revalidates (304) instead of reading it again. Everything the page
shows comes from the public API with the key the user types; the policy below lets it
load nothing but these files and talk to nothing but this origin.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final

from fastapi import APIRouter, Header, Response

from services.api.web.errors import error_response

ASSETS_DIR: Final = Path(__file__).parent / "console_assets"
MEDIA_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str

    @property
    def etag(self) -> str:
        return f'"{hashlib.sha256(self.body).hexdigest()[:32]}"'


def _load() -> dict[str, Asset]:
    return {
        path.name: Asset(path.read_bytes(), MEDIA_TYPES[path.suffix])
        for path in sorted(ASSETS_DIR.iterdir())
        if path.suffix in MEDIA_TYPES
    }


ASSETS: Final = _load()
ETAGS: Final = {name: asset.etag for name, asset in ASSETS.items()}

router = APIRouter(prefix="/console", include_in_schema=False)
IfNoneMatch = Annotated[str | None, Header()]


def _asset(name: str, if_none_match: str | None) -> Response:
    found = ASSETS.get(name)
    if found is None:
        return error_response(404, f"console file {name[:80]!r} not found")
    headers = {**HEADERS, "ETag": ETAGS[name]}
    if if_none_match and ETAGS[name] in (tag.strip() for tag in if_none_match.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=found.media_type, headers=headers)


@router.get("")
@router.get("/")
async def page(if_none_match: IfNoneMatch = None) -> Response:
    return _asset("index.html", if_none_match)


@router.get("/{name}")
async def asset(name: str, if_none_match: IfNoneMatch = None) -> Response:
    return _asset(name, if_none_match)
