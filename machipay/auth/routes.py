from __future__ import annotations

from fastapi import APIRouter, Request, Response

from machipay.auth import service
from machipay.auth.deps import Caller, client_ip
from machipay.auth.schemas import MeOut, RefreshRequest, TokenRequest, TokenResponse
from machipay.deps import AppSettings, Cache, DbSession

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def _pair(pair: service.TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post("/token", response_model=TokenResponse)
async def sign_in(
    body: TokenRequest, request: Request, session: DbSession, cache: Cache, settings: AppSettings
) -> TokenResponse:
    """Sign in with a phone number (residents) or login name (staff) and a password."""
    pair = await service.authenticate(
        session,
        cache,
        settings,
        username=body.username,
        password=body.password,
        ip=client_ip(request),
    )
    return _pair(pair)


@router.post("/refresh", response_model=TokenResponse)
async def refresh(body: RefreshRequest, session: DbSession, settings: AppSettings) -> TokenResponse:
    """Trade a refresh token for a new pair; using one twice closes every session of its family."""
    return _pair(await service.rotate_refresh_token(session, settings, body.refresh_token))


@router.post("/logout", status_code=204, response_class=Response)
async def logout(claims: Caller, cache: Cache) -> Response:
    """The access token stops working at once (its id is deny-listed until it expires)."""
    await service.revoke_access_token(cache, claims)
    return Response(status_code=204)


@router.get("/me", response_model=MeOut)
async def me(claims: Caller, session: DbSession) -> MeOut:
    """The signed-in user: id, login name, role and (for shop staff) the shop."""
    user = await service.user_by_id(session, claims.user_id)
    return MeOut(
        user_id=user.id, username=user.username, role=user.role, merchant_id=user.merchant_id
    )
