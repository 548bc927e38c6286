"""Sign-in lockout per account *and* address, with a back-off that doubles (DESIGN.md 7).

The unit is the pair (login name, client address): failures from an attacker's address
hold back that address only, so the right password from anywhere else still signs in,
staff included. Each pair may fail ``login_attempts_per_account_per_minute`` times; every
failure from then on locks it for ``base · 2^(failures − limit)`` seconds (capped). When an
account fails more than ``login_failures_per_account_per_hour`` times in all (guessing
spread over many addresses), every address that fails for it is locked at once, from its
first failure; an address that has never failed is still not held back.

Keys carry a digest of name and address, not the phone number itself.
"""

from __future__ import annotations

import hashlib
import math

from machipay.cache import CLEAN_UP_GRACE_SECONDS, CacheBackend
from machipay.errors import RateLimited
from machipay.settings import Settings
from machipay.timeutil import utcnow

ACCOUNT_WINDOW_SECONDS = 3_600


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:32]


def _pair(name: str, ip: str) -> str:
    return _digest(name, ip)


async def refuse_if_locked(cache: CacheBackend, name: str, ip: str) -> None:
    """429 while this address is locked out of this account; the password is not checked."""
    until = await cache.get(f"auth:lock:{_pair(name, ip)}")
    if until is None:
        return
    retry_after = math.ceil(float(until) - utcnow().timestamp())
    if retry_after > 0:
        raise RateLimited(
            f"Too many failed sign-ins from here; try again in {retry_after} s.",
            retry_after=retry_after,
        )


async def record_failure(cache: CacheBackend, settings: Settings, name: str, ip: str) -> None:
    pair = _pair(name, ip)
    failures = await cache.incr_window(f"auth:fail:{pair}", settings.login_failure_memory_seconds)
    account_failures = await cache.incr_window(
        f"auth:fail-account:{_digest(name)}", ACCOUNT_WINDOW_SECONDS
    )
    limit = settings.login_attempts_per_account_per_minute
    if account_failures > settings.login_failures_per_account_per_hour:
        failures = max(failures, limit)
    if failures < limit:
        return
    lock_seconds = min(
        settings.login_backoff_max_seconds,
        settings.login_backoff_base_seconds * 2 ** min(failures - limit, 32),
    )
    until = utcnow().timestamp() + lock_seconds
    await cache.set(f"auth:lock:{pair}", repr(until), lock_seconds + CLEAN_UP_GRACE_SECONDS)


async def record_success(cache: CacheBackend, name: str, ip: str) -> None:
    """The right password forgets this address's earlier failures for the account."""
    await cache.delete(f"auth:fail:{_pair(name, ip)}")
