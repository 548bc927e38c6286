"""Liveness, readiness and metrics."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from machipay.admission import AdmissionGate
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


@router.get(
    "/readyz",
    responses={503: {"description": "A dependency is down, or this worker is saturated"}},
)
async def readyz(request: Request) -> JSONResponse:
    """Ready to serve: the database answers and so does the cache (Redis, when configured),
    and this worker is not saturated with payments (all its admission slots busy, or a
    payment refused within the last second): a load balancer steers new requests away from
    a saturated worker (503 ``"status": "saturated"``) until it has room again."""
    state = request.app.state
    checks = {
        "database": "ok" if await database_ready(state.engine) else "down",
        "cache": "ok" if await state.cache.ping() else "down",
    }
    gate: AdmissionGate | None = getattr(state, "payment_gate", None)
    saturated = gate is not None and gate.saturated()
    body: dict[str, object] = {"checks": checks}
    if gate is not None:
        body["payments"] = {
            "in_flight": gate.in_flight,
            "limit": gate.limit,
            "waiting": gate.waiting,
            "saturated": saturated,
        }
    if not all(v == "ok" for v in checks.values()):
        return JSONResponse({"status": "unavailable", **body}, status_code=503)
    if saturated:
        return JSONResponse({"status": "saturated", **body}, status_code=503)
    return JSONResponse({"status": "ready", **body}, status_code=200)


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
