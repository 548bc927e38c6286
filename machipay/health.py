"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from machipay.db import database_ready

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up. Does not touch dependencies (that is /readyz)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "A dependency is down"}})
async def readyz(request: Request) -> JSONResponse:
    """Ready to serve: the database answers and so does the cache (Redis, when configured)."""
    state = request.app.state
    checks = {
        "database": "ok" if await database_ready(state.engine) else "down",
        "cache": "ok" if await state.cache.ping() else "down",
    }
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )
