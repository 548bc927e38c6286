"""The console client's pages (/console)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from web.pages import render

router = APIRouter(include_in_schema=False)


@router.get("/console", response_class=HTMLResponse)
async def shell(request: Request) -> HTMLResponse:
    return render(request, "console/index.html", client="console", title_key="console.title")
