"""The stylesheet, the polling script and the bundled CJK font (so Chinese renders on a machine
without a CJK system font, e.g. a fresh server's browser or a kiosk)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from console.state import STATIC
from console.webfont import common_subset
from dashboards.fonts import CJKFontNotFound, cjk_font_path

FILES = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}
CACHE = "public, max-age=86400"
FONT_MEDIA = {".otf": "font/otf", ".ttf": "font/ttf", ".ttc": "font/collection", ".woff2": "font/woff2"}


async def static_file(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in FILES:
        raise HTTPException(404)
    return FileResponse(STATIC / name, media_type=FILES[name], headers={"Cache-Control": CACHE})


async def common_font(request: Request) -> Response:
    try:
        data = await run_in_threadpool(common_subset)
    except CJKFontNotFound:
        raise HTTPException(404) from None
    return Response(data, media_type="font/otf", headers={"Cache-Control": "public, max-age=31536000, immutable"})


async def font(request: Request) -> Response:
    try:
        path = cjk_font_path()
    except CJKFontNotFound:
        raise HTTPException(404) from None
    media = FONT_MEDIA.get(path.suffix.lower(), "application/octet-stream")
    return FileResponse(path, media_type=media, headers={"Cache-Control": "public, max-age=31536000, immutable"})


ROUTES = [
    Route("/static/cjk-common", common_font, methods=["GET"]),
    Route("/static/cjk-font", font, methods=["GET"]),
    Route("/static/{name}", static_file, methods=["GET"]),
]
