"""Mounting the web clients: static files, the landing page, and each client's pages."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from web import analyst, console, merchant, resident
from web.pages import STATIC_DIR, map_json, render

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def landing(request: Request) -> HTMLResponse:
    """Where a newcomer lands: one card per client."""
    return render(request, "landing.html", client="landing", title_key="landing.title")


@router.get("/shops", response_class=HTMLResponse)
async def shops(request: Request) -> HTMLResponse:
    """The shop directory and the campaigns running now, for anyone (no account)."""
    return render(
        request, "shops.html", client="landing", title_key="shops.title", map_json=map_json(request)
    )


def install_web(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
    for client in (resident, merchant, console, analyst):
        app.include_router(client.router)
