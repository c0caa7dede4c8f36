"""The operations page: its static files (``services/audit/web/``) served with a strict policy.

The page is three static files (no build step, nothing fetched from
elsewhere); its extra read endpoints live in ``services/audit/api/operations.py``.

The page needs no token to load; everything it shows comes from the
authenticated API with the operator's own bearer token, so the page itself
holds nothing worth protecting. A strict Content-Security-Policy keeps it
from loading or sending anything outside this service.
"""

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

router = APIRouter()
HERE = Path(__file__).parent.parent / "web"
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';"
    " img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
ASSETS = {
    "app.js": "text/javascript",
    "app.css": "text/css",
    "favicon.svg": "image/svg+xml",
}


@router.get("/ops", include_in_schema=False)
async def page() -> FileResponse:
    """The operations page."""
    return FileResponse(HERE / "index.html", media_type="text/html", headers=HEADERS)


@router.get("/ops/{name}", include_in_schema=False)
async def asset(name: str) -> FileResponse:
    """The page's script, stylesheet and icon, by exact name only (no paths)."""
    if name not in ASSETS:
        raise HTTPException(404, "no such asset")
    return FileResponse(HERE / name, media_type=ASSETS[name], headers=HEADERS)
