from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request, Response

from identity import recovery, service, sessions
from identity.schemas import (
    AccessTokenResponse,
    MeOut,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshRequest,
    TokenRequest,
    TokenResponse,
)
from machipay.auth import cookies
from machipay.auth.deps import Caller, client_ip
from machipay.deps import AppSettings, Cache, DbSession
from machipay.sms import Sms, send_after_response

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def _pair(pair: service.TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post("/token", response_model=TokenResponse)
async def sign_in(
    body: TokenRequest,
    request: Request,
    response: Response,
    session: DbSession,
    cache: Cache,
    settings: AppSettings,
) -> TokenResponse:
    """Sign in with a phone number (residents) or login name (staff) and a password. The
    refresh token is also set as an HttpOnly cookie for the web clients."""
    pair = await service.authenticate(
        session,
        cache,
        settings,
        username=body.username,
        password=body.password,
        ip=client_ip(request),
    )
    cookies.set_session_cookies(response, request, settings, pair.refresh_token)
    return _pair(pair)


@router.post("/refresh", response_model=TokenResponse | AccessTokenResponse)
async def refresh(
    request: Request,
    response: Response,
    session: DbSession,
    cache: Cache,
    settings: AppSettings,
    body: RefreshRequest | None = None,
) -> TokenResponse | AccessTokenResponse:
    """Trade a refresh token for a new pair; using one twice ends the session it belongs to.

    Without a body the refresh token comes from the cookie (web clients; the call must echo
    the CSRF cookie in ``X-Machipay-CSRF``) and the answer holds the access token only."""
    from_cookie = body is None
    token = (
        cookies.refresh_token_from_cookie(request, settings) if body is None else body.refresh_token
    )
    pair = await service.rotate_refresh_token(session, cache, settings, token)
    cookies.set_session_cookies(response, request, settings, pair.refresh_token)
    if from_cookie:
        return AccessTokenResponse(access_token=pair.access_token, expires_in=pair.expires_in)
    return _pair(pair)


@router.post("/logout", status_code=204, response_class=Response)
async def logout(
    claims: Caller, request: Request, session: DbSession, cache: Cache, settings: AppSettings
) -> Response:
    """End this session: its access tokens and its refresh tokens stop working at once."""
    await sessions.end_sessions(session, cache, settings, {claims.session_id})
    return _signed_out(request)


@router.post("/logout-all", status_code=204, response_class=Response)
async def logout_all(
    claims: Caller, request: Request, session: DbSession, cache: Cache, settings: AppSettings
) -> Response:
    """Sign out everywhere: every session of the caller ends, on every device."""
    await sessions.end_all_sessions(session, cache, settings, claims.user_id)
    return _signed_out(request)


def _signed_out(request: Request) -> Response:
    response = Response(status_code=204)
    cookies.clear_session_cookies(response, request)
    return response


@router.get("/me", response_model=MeOut)
async def me(claims: Caller, session: DbSession) -> MeOut:
    """The signed-in user: id, login name, role and (for shop staff) the shop."""
    user = await service.user_by_id(session, claims.user_id)
    return MeOut(
        user_id=user.id, username=user.username, role=user.role, merchant_id=user.merchant_id
    )


@router.post("/password-reset", status_code=202, response_class=Response)
async def password_reset(
    body: PasswordResetRequest,
    request: Request,
    tasks: BackgroundTasks,
    session: DbSession,
    cache: Cache,
    settings: AppSettings,
    sms: Sms,
) -> Response:
    """Send a reset code to the account's phone. 202 whatever the username: the answer never
    tells whether an account exists. The text goes out after the response, so its time does
    not tell either. Residents and shop owners only; staff ask their shop owner, and ward
    logins are reset by an operator (``machipay users``)."""
    to_send = await recovery.request_password_reset(
        session, cache, settings, username=body.username, ip=client_ip(request)
    )
    if to_send is not None:
        tasks.add_task(send_after_response, sms, to_send.to, to_send.text)
    return Response(status_code=202)


@router.post("/password-reset/confirm", status_code=204, response_class=Response)
async def password_reset_confirm(
    body: PasswordResetConfirm,
    request: Request,
    session: DbSession,
    cache: Cache,
    settings: AppSettings,
) -> Response:
    """Set a new password with the code from the SMS; every session of the account ends."""
    await recovery.confirm_password_reset(
        session,
        cache,
        settings,
        username=body.username,
        code=body.code,
        new_password=body.new_password,
        ip=client_ip(request),
    )
    return Response(status_code=204)
