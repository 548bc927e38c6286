"""The merchant client's pages (/merchant)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from web.pages import render

router = APIRouter(include_in_schema=False)


@router.get("/merchant", response_class=HTMLResponse)
async def shell(request: Request) -> HTMLResponse:
    return render(request, "merchant/index.html", client="merchant", title_key="merchant.title")
