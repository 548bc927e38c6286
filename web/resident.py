"""The residents' app (/app/): an installable PWA, one page shell with hash routes.

Besides the shell this module serves what makes the app installable and usable on a bad
connection: the web app manifest, its PNG icons (drawn with Pillow from the same shape as
``static/img/icon.svg``), the service worker and the page it shows when the network is
down. The service worker lives at ``/app/sw.js`` so that its scope is ``/app/``; its cache
name carries a hash of the files it precaches, so a deploy replaces the old copies.
"""

from __future__ import annotations

import hashlib
import io
import json
from functools import cache
from typing import Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from PIL import Image, ImageDraw

from web.pages import STATIC_DIR, language_of, map_json, messages, render

router = APIRouter(include_in_schema=False)

BRAND_GREEN = "#0a7d4f"
ICON_SIZES = (192, 512)
IconPurpose = Literal["any", "maskable"]

# The shell's own files and the shared ones it loads: precached by the service worker.
SHARED_ASSETS = (
    "css/machipay.css",
    "js/core.js",
    "js/qr.js",
    "img/icon.svg",
    "vendor/jsqr-1.4.0/jsQR.js",
    "vendor/qrcode-generator-1.4.4/qrcode.js",
)


@router.get("/app", response_class=RedirectResponse)
async def app_root(request: Request) -> RedirectResponse:
    """The canonical shell is /app/ (inside the service worker's scope)."""
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"/app/{query}", status_code=308)


@router.get("/app/", response_class=HTMLResponse)
async def shell(request: Request) -> HTMLResponse:
    return render(
        request, "app/index.html", client="app", title_key="app.title", map_json=map_json(request)
    )


@router.get("/app/offline", response_class=HTMLResponse)
async def offline(request: Request) -> HTMLResponse:
    """Shown by the service worker when a page cannot be loaded (precached at install)."""
    return render(request, "app/offline.html", client="app", title_key="app.offline.title")


@router.get("/app/manifest.webmanifest")
async def manifest(request: Request) -> Response:
    strings = messages("app", language_of(request))
    icons = [
        {"src": "/static/img/icon.svg", "sizes": "any", "type": "image/svg+xml"},
        *(
            {
                "src": f"/app/icons/{purpose}-{size}.png",
                "sizes": f"{size}x{size}",
                "type": "image/png",
                "purpose": purpose,
            }
            for purpose in ("any", "maskable")
            for size in ICON_SIZES
        ),
    ]
    body = {
        "name": strings["brand"],
        "short_name": strings["brand"],
        "description": strings["app.manifest.description"],
        "lang": language_of(request),
        "id": "/app/",
        "start_url": "/app/#/home",
        "scope": "/app/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#f5f7f6",
        "theme_color": BRAND_GREEN,
        "icons": icons,
    }
    return Response(
        json.dumps(body, ensure_ascii=False),
        media_type="application/manifest+json",
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/app/icons/{purpose}-{size}.png")
async def icon(purpose: str, size: int) -> Response:
    if size not in ICON_SIZES or purpose not in ("any", "maskable"):
        raise HTTPException(status_code=404)
    return Response(
        draw_icon(size, "maskable" if purpose == "maskable" else "any"),
        media_type="image/png",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/app/sw.js")
async def service_worker() -> Response:
    version, precache = _service_worker_manifest()
    source = (STATIC_DIR / "app" / "sw.js").read_text(encoding="utf-8")
    source = source.replace('"__VERSION__"', json.dumps(version)).replace(
        '["__PRECACHE__"]', json.dumps(precache)
    )
    return Response(
        source,
        media_type="text/javascript; charset=utf-8",
        # The browser must see a new worker as soon as it is deployed.
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/app/"},
    )


@cache
def _service_worker_manifest() -> tuple[str, list[str]]:
    """The precache list and a version hashed from those files' bytes."""
    files = sorted(
        path.relative_to(STATIC_DIR).as_posix()
        for path in (STATIC_DIR / "app").rglob("*")
        if path.is_file() and path.name != "sw.js"
    )
    assets = [*SHARED_ASSETS, *files]
    digest = hashlib.sha256()
    for name in assets:
        digest.update(name.encode())
        digest.update((STATIC_DIR / name).read_bytes())
    urls = ["/app/offline", "/app/manifest.webmanifest", *(f"/static/{a}" for a in assets)]
    urls += [f"/app/icons/any-{size}.png" for size in ICON_SIZES]
    return digest.hexdigest()[:16], urls


@cache
def draw_icon(size: int, purpose: IconPurpose) -> bytes:
    """The brand mark (a white zigzag "M" on green) as a PNG, drawn 4x and scaled down.

    A maskable icon fills the square and keeps the mark inside the central safe zone,
    because the launcher cuts its own shape out of it.
    """
    scale = 4
    big = size * scale
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    if purpose == "maskable":
        pen.rectangle((0, 0, big, big), fill=BRAND_GREEN)
        unit, offset = big * 0.7 / 64, big * 0.15
    else:
        pen.rounded_rectangle((0, 0, big - 1, big - 1), radius=big * 14 / 64, fill=BRAND_GREEN)
        unit, offset = big / 64, 0.0
    points = [(14, 46), (14, 20), (23, 34), (32, 20), (41, 34), (50, 20), (50, 46)]
    xy = [(offset + x * unit, offset + y * unit) for x, y in points]
    width = round(6 * unit)
    pen.line(xy, fill="white", width=width, joint="curve")
    radius = width / 2
    for x, y in xy:  # round caps and joins
        pen.ellipse((x - radius, y - radius, x + radius, y + radius), fill="white")
    out = io.BytesIO()
    image.resize((size, size), Image.Resampling.LANCZOS).save(out, format="PNG", optimize=True)
    return out.getvalue()
