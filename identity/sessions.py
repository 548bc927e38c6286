"""Ending sessions: logout ends one sign-in, sign-out-everywhere ends all of a user's.

Ending a session revokes its refresh family in the database and puts its id on the
cache's deny-list (``machipay.auth.ended_sessions``), which every request's token check
reads: access tokens stop working at once, without a database lookup per request.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import RefreshToken
from machipay.auth.ended_sessions import deny_sessions
from machipay.cache import CacheBackend
from machipay.settings import Settings
from machipay.timeutil import utcnow


async def end_sessions(
    session: AsyncSession, cache: CacheBackend, settings: Settings, session_ids: set[str]
) -> None:
    """Revoke these refresh families and refuse their access tokens from now on."""
    if not session_ids:
        return
    await deny_sessions(cache, session_ids, ttl_seconds=settings.refresh_token_ttl_seconds)
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
