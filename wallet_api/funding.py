"""The funding network's webhook signature: ``X-Machipay-Signature: t=<unix>,v1=<hex>``.

v1 is HMAC-SHA256 over ``"<t>.<raw body>"`` with the shared secret. A signature outside
the tolerance window is refused so that a captured request cannot be replayed later
(the event id makes a replay inside the window harmless).
"""

from __future__ import annotations

import hashlib
import hmac
import time

from machipay.errors import Unauthorized

HEADER = "X-Machipay-Signature"


class BadSignature(Unauthorized):
    type_slug = "bad-signature"
    title = "Bad webhook signature"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(
        secret.encode("utf-8"), f"{t}.".encode("ascii") + body, hashlib.sha256
    ).hexdigest()
    return f"t={t},v1={digest}"


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    tolerance_seconds: int,
    now: float | None = None,
) -> None:
    if not header:
        raise BadSignature(f"The {HEADER} header is missing.")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError) as exc:
        raise BadSignature("The signature has no valid timestamp.") from exc
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise BadSignature("The signature timestamp is outside the allowed window.")
    expected = hmac.new(
        secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256
    ).hexdigest()
    # Several v1 values are allowed so the secret can be rotated without downtime.
    if not any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])):
        raise BadSignature("The signature does not match.")
