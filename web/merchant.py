"""The merchant client's pages (/merchant)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from machipay.deps import AppSettings
from web.pages import render

router = APIRouter(include_in_schema=False)


@router.get("/merchant", response_class=HTMLResponse)
async def shell(request: Request) -> HTMLResponse:
    return render(request, "merchant/index.html", client="merchant", title_key="merchant.title")


@router.get("/merchant/apply", response_class=HTMLResponse)
async def apply(request: Request, settings: AppSettings) -> HTMLResponse:
    """The public application form: the shop, its place on the map, its bank, its owner."""
    return render(
        request,
        "merchant/apply.html",
        client="apply",
        title_key="ap.title",
        view="form",
        tile_url=settings.map_tile_url,
        tile_attribution=settings.map_tile_attribution,
    )


@router.get("/merchant/apply/status", response_class=HTMLResponse)
async def application_status(request: Request) -> HTMLResponse:
    """The applicant signs in with the name and password they chose and reads the decision."""
    return render(
        request, "merchant/apply.html", client="apply", title_key="ap.title", view="status"
    )
