"""`/console`: the web console's page and assets (DESIGN section 12), served without a key.

The files ship inside the package and are read once; only those names are served, so a
path never reaches the file system. Everything the page shows comes from the public API
with the key the user types; the policy below lets it load nothing but these files and
talk to nothing but this origin.
"""

from pathlib import Path
from typing import Final

from fastapi import APIRouter, Response

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


def _load() -> dict[str, tuple[bytes, str]]:
    return {
        path.name: (path.read_bytes(), MEDIA_TYPES[path.suffix])
        for path in sorted(ASSETS_DIR.iterdir())
        if path.suffix in MEDIA_TYPES
    }


ASSETS: Final = _load()

router = APIRouter(prefix="/console", include_in_schema=False)


def _asset(name: str) -> Response:
    found = ASSETS.get(name)
    if found is None:
        return error_response(404, f"console file {name[:80]!r} not found")
    body, media_type = found
    return Response(body, media_type=media_type, headers=HEADERS)


@router.get("")
@router.get("/")
async def page() -> Response:
    return _asset("index.html")


@router.get("/{name}")
async def asset(name: str) -> Response:
    return _asset(name)
