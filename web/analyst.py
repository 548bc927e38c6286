"""The analytics client's pages (/analytics)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from web.pages import render

router = APIRouter(include_in_schema=False)


@router.get("/analytics", response_class=HTMLResponse)
async def shell(request: Request) -> HTMLResponse:
    return render(request, "analytics/index.html", client="analytics", title_key="analytics.title")
