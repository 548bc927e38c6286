"""Render :class:`~machipay.errors.MachipayError` and framework errors as problem+json."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from machipay.errors import (
    TYPE_BASE,
    MachipayError,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
    ValidationFailed,
)

PROBLEM_MEDIA_TYPE = "application/problem+json"

log = logging.getLogger("machipay.errors")


def problem_response(
    error: MachipayError, request: Request, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        error.to_problem(instance=request.url.path),
        status_code=error.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def field_errors(errors: Sequence[Any], *prefix: str) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        loc = [*prefix, *(str(p) for p in err.get("loc", ()))]
        # A JSON pointer into the request, e.g. /body/amount.
        out.append({"pointer": "/" + "/".join(loc), "message": err.get("msg", "invalid")})
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MachipayError)
    async def _machipay(request: Request, exc: MachipayError) -> JSONResponse:
        if exc.status >= 500:
            log.error("request failed", exc_info=exc)
        headers = None
        if isinstance(exc, Unauthorized):
            headers = {"WWW-Authenticate": "Bearer"}
        elif isinstance(exc, RateLimited):
            headers = {"Retry-After": str(exc.extra.get("retry_after", 60))}
        elif isinstance(exc, ServiceUnavailable) and "retry_after" in exc.extra:
            headers = {"Retry-After": str(exc.extra["retry_after"])}
        return problem_response(exc, request, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        error = ValidationFailed(
            "The request does not match the schema.", errors=field_errors(exc.errors())
        )
        return problem_response(error, request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = MachipayError(str(exc.detail))
        body = error.to_problem(instance=request.url.path)
        body.update(
            status=exc.status_code,
            title=_reason(exc.status_code),
            type=TYPE_BASE + "http-" + str(exc.status_code),
        )
        return JSONResponse(
            body, status_code=exc.status_code, media_type=PROBLEM_MEDIA_TYPE, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return problem_response(MachipayError("An unexpected error occurred."), request)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
