"""Who is calling: the bearer token, refused once its session has ended, and role guards."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from machipay.auth.ended_sessions import session_ended
from machipay.auth.roles import Role
from machipay.auth.tokens import AccessClaims, decode_access_token
from machipay.deps import AppSettings, Cache
from machipay.errors import Forbidden, Unauthorized

_bearer = HTTPBearer(auto_error=False, description="An access token from POST /api/v1/auth/token")


async def current_claims(
    settings: AppSettings,
    cache: Cache,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AccessClaims:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Send an access token as 'Authorization: Bearer <token>'.")
    claims = decode_access_token(settings.secret_key, credentials.credentials)
    if await session_ended(cache, claims.session_id, memo_s=settings.session_check_memo_ms / 1000):
        raise Unauthorized("This session was signed out.")
    return claims


Caller = Annotated[AccessClaims, Depends(current_claims)]


async def optional_claims(
    settings: AppSettings,
    cache: Cache,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AccessClaims | None:
    """A public page that says more to a signed-in caller: no token is no caller, a bad or
    ended one is still a 401 (a client should know its session is gone)."""
    if credentials is None:
        return None
    return await current_claims(settings, cache, credentials)


MaybeCaller = Annotated[AccessClaims | None, Depends(optional_claims)]


def require_roles(*roles: Role) -> Callable[[AccessClaims], Awaitable[AccessClaims]]:
    allowed = frozenset(role.value for role in roles)

    async def guard(claims: Caller) -> AccessClaims:
        if claims.role not in allowed:
            raise Forbidden("Your role may not do this.")
        return claims

    return guard


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
