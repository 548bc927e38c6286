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

import time
from collections.abc import Callable, Iterable

from machipay.cache import CacheBackend
from machipay.memo import WorkerMemo

# Sessions this worker found not ended, and until when (monotonic seconds) it believes it.
# Only the "not ended" answer is remembered: an ended session is asked about every time, so
# nothing here can let an ended session back in once its end is seen. About 100 bytes an
# entry: 2 MB at most.
_NOT_ENDED_UNTIL: WorkerMemo[str, float] = WorkerMemo(20_000)


def ended_key(session_id: str) -> str:
    return f"auth:session-ended:{session_id}"


async def session_ended(
    cache: CacheBackend,
    session_id: str,
    *,
    memo_s: float = 0.0,
    monotonic: Callable[[], float] = time.monotonic,
) -> bool:
    """Has this session ended? With ``memo_s``, a "no" is trusted for that long in this
    worker (the request path's token check); without, the deny-list is always asked (a
    refresh, which must be exact)."""
    now = monotonic()
    if memo_s > 0 and (_NOT_ENDED_UNTIL.get(session_id) or 0.0) > now:
        return False
    ended = await cache.get(ended_key(session_id)) is not None
    if memo_s > 0 and not ended:
        _NOT_ENDED_UNTIL.put(session_id, now + memo_s)
    return ended


async def deny_sessions(
    cache: CacheBackend, session_ids: Iterable[str], *, ttl_seconds: int
) -> None:
    """Refuse these sessions' access tokens from now on, for ``ttl_seconds``."""
    for session_id in session_ids:
        await cache.set(ended_key(session_id), "1", ttl_seconds=ttl_seconds)
        # Seen at once by this worker; other workers within their memo (≤ 1 s).
        _NOT_ENDED_UNTIL.forget(session_id)
