"""The app client's pages (/app)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from web.pages import render

router = APIRouter(include_in_schema=False)


@router.get("/app", response_class=HTMLResponse)
async def shell(request: Request) -> HTMLResponse:
    return render(request, "app/index.html", client="app", title_key="app.title")
