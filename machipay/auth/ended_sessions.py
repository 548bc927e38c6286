"""The deny-list of ended sessions, which every request's token check reads.

A session is a refresh family (the chain of refresh tokens one sign-in rotates through)
and every access token issued along it carries its id (``sid``). Access tokens are checked
without a database round trip: when identity ends a session it records the id here, in the
cache, and :func:`machipay.auth.deps.current_claims` refuses every token that carries it.
An entry lives as long as a refresh token can: a rotation that raced with the logout (it
claimed its token before the revocation and inserted the successor after it) is still
refused by the same lookup.
"""

from __future__ import annotations

from collections.abc import Iterable

from machipay.cache import CacheBackend


def ended_key(session_id: str) -> str:
    return f"auth:session-ended:{session_id}"


async def session_ended(cache: CacheBackend, session_id: str) -> bool:
    return await cache.get(ended_key(session_id)) is not None


async def deny_sessions(
    cache: CacheBackend, session_ids: Iterable[str], *, ttl_seconds: int
) -> None:
    """Refuse these sessions' access tokens from now on, for ``ttl_seconds``."""
    for session_id in session_ids:
        await cache.set(ended_key(session_id), "1", ttl_seconds=ttl_seconds)
