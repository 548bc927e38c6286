"""Ending sessions: logout ends one sign-in, sign-out-everywhere ends all of a user's.

A session is a refresh family (the chain of refresh tokens one sign-in rotates through)
and every access token issued along it carries its id (``sid``). Ending a session revokes
the family's refresh tokens in the database and records the session id in the cache, where
:func:`current_claims` looks it up on every request. The cache entry lives as long as a
refresh token can: a rotation that raced with the logout (it claimed its token before the
revocation and inserted the successor after it) is still refused by the same lookup.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from machipay.auth.models import RefreshToken
from machipay.cache import CacheBackend
from machipay.settings import Settings
from machipay.timeutil import utcnow


def ended_key(session_id: str) -> str:
    return f"auth:session-ended:{session_id}"


async def session_ended(cache: CacheBackend, session_id: str) -> bool:
    return await cache.get(ended_key(session_id)) is not None


async def end_sessions(
    session: AsyncSession, cache: CacheBackend, settings: Settings, session_ids: set[str]
) -> None:
    """Revoke these refresh families and refuse their access tokens from now on."""
    if not session_ids:
        return
    for session_id in session_ids:
        await cache.set(ended_key(session_id), "1", ttl_seconds=settings.refresh_token_ttl_seconds)
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id.in_(session_ids), RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )


async def end_all_sessions(
    session: AsyncSession, cache: CacheBackend, settings: Settings, user_id: int
) -> None:
    """Sign out everywhere: every family that may still hold a live refresh or access token.
    A family whose last token was issued longer ago than a refresh token lives has none."""
    since = utcnow() - timedelta(seconds=settings.refresh_token_ttl_seconds)
    families = (
        await session.execute(
            select(RefreshToken.family_id)
            .where(RefreshToken.user_id == user_id, RefreshToken.issued_at > since)
            .distinct()
        )
    ).scalars()
    await end_sessions(session, cache, settings, set(families))
