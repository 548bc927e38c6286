"""Security headers on every response: a strict Content-Security-Policy, nosniff, no referrer,
no framing, the camera for this origin only, and HSTS when the request came over HTTPS.

The policy fits what the four clients really do: ES modules and stylesheets from this
origin (no inline script or style: a JSON ``<script type="application/json">`` block is data,
not script), QR codes as ``data:`` and ``blob:`` images, the shop directory's map tiles
from the one host ``MACHIPAY_MAP_TILE_URL`` names (none when it is empty), the camera
(getUserMedia, read on a canvas), a service worker and a manifest, the API and the
dashboard's live events (``EventSource``) on this origin. A response that brings its own
policy (the API docs page) keeps it; every other header is added only where the response
has none.

HTTPS is what the request's scheme says: uvicorn rewrites it from ``X-Forwarded-Proto`` when
the peer is in ``MACHIPAY_FORWARDED_ALLOW_IPS`` (the TLS-terminating proxy), so a plain-HTTP
request never gets HSTS and a spoofed header from elsewhere is ignored.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _policy(img_sources: str = "") -> str:
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: blob:{img_sources}",
            "font-src 'self'",
            "connect-src 'self'",
            "media-src 'self' blob:",
            "worker-src 'self'",
            "manifest-src 'self'",
            "frame-src 'none'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


CONTENT_SECURITY_POLICY = _policy()


# A year, the floor of browsers' preload lists. No includeSubDomains: other hosts of the
# ward's domain are not ours to force onto HTTPS.
HSTS = b"max-age=31536000"

_HOST = re.compile(r"[A-Za-z0-9*][A-Za-z0-9.-]*(:[0-9]{1,5})?")


def content_security_policy(map_tile_url: str = "") -> str:
    """The policy, with the map tile server's origin (MACHIPAY_MAP_TILE_URL) allowed for
    images only: the maps load tiles from it and nothing else from anywhere."""
    parts = urlsplit(map_tile_url.replace("{s}", "*"))
    if parts.scheme != "https" or not _HOST.fullmatch(parts.netloc):
        return CONTENT_SECURITY_POLICY
    return _policy(f" https://{parts.netloc}")


_CSP = b"content-security-policy"
_OTHER_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    # Tokens never travel in URLs, but paths carry ids (/app/#/pay/…): tell nobody.
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers that predate it
    (b"permissions-policy", b"camera=(self), microphone=(), geolocation=(), payment=(), usb=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


class SecurityHeadersMiddleware:
    """Pure ASGI and cheap: a few byte tuples appended to the response start."""

    def __init__(self, app: ASGIApp, *, map_tile_url: str = "") -> None:
        self.app = app
        self.headers = ((_CSP, content_security_policy(map_tile_url).encode()), *_OTHER_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in self.headers if h[0] not in present)
                if https:
                    headers.append((b"strict-transport-security", HSTS))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
