"""Liveness, readiness and metrics."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from machipay.auth.deps import current_claims
from machipay.auth.roles import Role
from machipay.db import database_ready
from machipay.deps import AppSettings, Cache
from machipay.errors import Forbidden
from machipay.metrics import metrics_endpoint

router = APIRouter(tags=["operations"])
_bearer = HTTPBearer(auto_error=False)


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


async def metrics_reader(
    settings: AppSettings,
    cache: Cache,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """The scrape token (``MACHIPAY_METRICS_TOKEN``, for Prometheus) or an operator's access
    token: route names, error rates and the outbox lag are nobody else's business."""
    expected = settings.metrics_token
    if (
        expected is not None
        and credentials is not None
        and hmac.compare_digest(credentials.credentials.encode(), expected.encode())
    ):
        return
    claims = await current_claims(settings, cache, credentials)
    if claims.role != Role.OPERATOR.value:
        raise Forbidden("Only operators may read the metrics.")


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(metrics_reader)])
async def metrics(request: Request) -> Response:
    return await metrics_endpoint(request)
