"""The pages voxgate serves: the console (sign-in, calls, History) and the API docs, with local assets."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse, HTMLResponse

__all__ = ["DOCS_ASSETS_DIR", "STATIC_DIR", "router"]

STATIC_DIR = FilePath(__file__).with_name("static")
# Swagger UI 5 (it reads OpenAPI 3.1, which FastAPI publishes), as the ``fastapi-offline`` package ships it:
# served from here, no CDN, under the strict CSP.
DOCS_ASSETS_DIR = FilePath(str(files("fastapi_offline") / "static"))

router = APIRouter(include_in_schema=False)

_DOCS = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>voxgate API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/docs-assets/swagger-ui.css">
<link rel="stylesheet" href="/static/docs.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs-assets/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script></body></html>
"""


@router.get("/")
@router.get("/signin")
@router.get("/history")
async def console() -> FileResponse:
    """The browser console (and its History view: the page picks the view from its address). The
    sign-in link's token travels in the URL fragment, never to the server."""
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/history/{call_id}")
async def call_page(call_id: Annotated[str, Path(pattern=r"^vgc_[A-Za-z0-9_]{1,96}$")]) -> FileResponse:
    """One call's transcript page: the console's page, which loads the call from the API itself."""
    return await console()


@router.get("/favicon.ico")
async def favicon() -> FileResponse:
    """Browsers ask for this path whatever the page says."""
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")


@router.get("/docs")
async def docs() -> HTMLResponse:
    """Swagger UI served from local assets: no CDN, works offline, strict CSP (no inline script)."""
    return HTMLResponse(_DOCS)
