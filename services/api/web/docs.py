"""`/docs` (Swagger UI) and `/redoc` from assets shipped in the package, never a CDN: an
air-gapped cluster shows them too. No key is needed to read the document or its pages."""

from pathlib import Path
from typing import Final

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.responses import FileResponse, HTMLResponse, Response

from services.api.web.errors import error_response

ASSETS: Final = Path(__file__).with_name("docs_assets")
SERVED: Final = frozenset(
    {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "redoc.standalone.js"}
)
_CACHE: Final = {"Cache-Control": "public, max-age=86400"}
TITLE: Final = "jan-models"

router = APIRouter(include_in_schema=False)


def _root(request: Request) -> str:
    root: str = request.scope.get("root_path", "")
    return root


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    assets = f"{_root(request)}/docs/assets"
    return get_swagger_ui_html(
        openapi_url=f"{_root(request)}/openapi.json",
        title=f"{TITLE} - Swagger UI",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None},  # no call to a public validator
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=f"{_root(request)}/openapi.json",
        title=f"{TITLE} - ReDoc",
        redoc_js_url=f"{_root(request)}/docs/assets/redoc.standalone.js",
        redoc_favicon_url=f"{_root(request)}/docs/assets/favicon-32x32.png",
        with_google_fonts=False,
    )


@router.get("/docs/assets/{name}")
async def asset(name: str) -> Response:
    if name not in SERVED:
        return error_response(404, f"documentation file {name[:80]!r} not found")
    return FileResponse(ASSETS / name, headers=_CACHE)
