"""The OpenAPI UI at ``/docs``, under a policy of its own.

Swagger UI loads from its CDN and starts with one inline script, which the site-wide policy
(:mod:`machipay.security_headers`) forbids. This page alone allows the CDN and that one
script by its hash (never ``'unsafe-inline'``); framing stays forbidden. In production the
page, ``/openapi.json`` and ReDoc are off unless ``MACHIPAY_DOCS_ENABLED=true``.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

SWAGGER_CDN = "https://cdn.jsdelivr.net"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def _hash_source(script: bytes) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"


def docs_policy(page: bytes) -> str:
    hashes = " ".join(_hash_source(script) for script in _INLINE_SCRIPT.findall(page))
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' {SWAGGER_CDN} {hashes}",
            f"style-src 'self' {SWAGGER_CDN}",
            "img-src 'self' data: https://fastapi.tiangolo.com",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` for the app's ``openapi_url`` (the app is built with docs_url=None)."""
    assert app.openapi_url is not None, "no OpenAPI schema to document"
    page = bytes(get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} API").body)
    headers = {"Content-Security-Policy": docs_policy(page)}

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(page, headers=headers)
