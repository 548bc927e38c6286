"""The refresh token as a cookie for the web clients, out of reach of page scripts.

The token and refresh endpoints set the refresh token in an ``HttpOnly; Secure;
SameSite=Strict`` cookie on ``/api/v1/auth`` (besides the JSON body that outside clients
use). ``POST /auth/refresh`` without a body takes the cookie instead, and then answers
the new access token only: the refresh token never reaches a script.

CSRF for that one cookie-authenticated call is a signed double submit: a second cookie,
readable by the page (``Path=/``), holds an HMAC of the refresh token under the server key,
and the call must echo it in ``X-Machipay-CSRF``. A cross-site page can neither read the
cookie nor send the custom header without a CORS grant (we give none), SameSite=Strict keeps
the cookie off cross-site requests anyway, and because the value is bound to the refresh
token a cookie planted from a sibling domain cannot match it.

The four web clients share one origin, so each names its own cookies with
``X-Machipay-Client`` (``app``, ``merchant``, …): a resident and a shop can be signed in
side by side in one browser, as before.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from fastapi import Request, Response

from machipay.errors import Forbidden, Unauthorized
from machipay.settings import Settings

CLIENT_HEADER = "X-Machipay-Client"
CSRF_HEADER = "X-Machipay-CSRF"
REFRESH_PATH = "/api/v1/auth"
_CLIENT = re.compile(r"[a-z]{1,16}")


class CsrfCheckFailed(Forbidden):
    type_slug = "csrf-check-failed"
    title = "The request did not prove it comes from this site"


def _suffix(request: Request) -> str:
    client = request.headers.get(CLIENT_HEADER, "")
    return f"-{client}" if _CLIENT.fullmatch(client) else ""


def refresh_cookie_name(request: Request) -> str:
    return "machipay-refresh" + _suffix(request)


def csrf_cookie_name(request: Request) -> str:
    return "machipay-csrf" + _suffix(request)


def csrf_token(settings: Settings, refresh_token: str) -> str:
    return hmac.new(
        settings.secret_key.encode(), b"csrf:" + refresh_token.encode(), hashlib.sha256
    ).hexdigest()


def set_session_cookies(
    response: Response, request: Request, settings: Settings, refresh_token: str
) -> None:
    max_age = settings.refresh_token_ttl_seconds
    response.set_cookie(
        refresh_cookie_name(request),
        refresh_token,
        max_age=max_age,
        path=REFRESH_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )
    response.set_cookie(
        csrf_cookie_name(request),
        csrf_token(settings, refresh_token),
        max_age=max_age,
        path="/",
        secure=True,
        httponly=False,  # the page reads it to echo it in X-Machipay-CSRF
        samesite="strict",
    )


def clear_session_cookies(response: Response, request: Request) -> None:
    response.delete_cookie(
        refresh_cookie_name(request),
        path=REFRESH_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )
    response.delete_cookie(csrf_cookie_name(request), path="/", secure=True, samesite="strict")


def refresh_token_from_cookie(request: Request, settings: Settings) -> str:
    """The cookie's refresh token, once the request has proved it comes from our page."""
    token = request.cookies.get(refresh_cookie_name(request))
    if not token:
        raise Unauthorized("Send a refresh token in the body, or sign in again.")
    echoed = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(echoed.encode(), csrf_token(settings, token).encode()):
        raise CsrfCheckFailed(f"Echo the {csrf_cookie_name(request)} cookie in {CSRF_HEADER}.")
    return token
