"""The rate limits DESIGN §7 promises, as dependencies a route declares.

Each limit counts per account *and* per address, both in one cache round trip
(:func:`machipay.cache.enforce`), before the route does any work: a refused call costs no
database query and no password hash. Per-address allowances scale with
``MACHIPAY_REQUESTS_PER_IP_PER_MINUTE``, which operators raise behind a NAT or for a load
test; the per-account ones are the settings API.md names.
"""

from __future__ import annotations

from fastapi import Request

from machipay.auth import Caller, client_ip
from machipay.cache import RateLimit, enforce
from machipay.deps import AppSettings, Cache
from machipay.settings import Settings

# Applying as a shop hashes the owner's password with argon2 (tens of milliseconds of CPU):
# a tenth of the general per-address allowance keeps that from being a lever to burn CPU.
APPLICATION_SHARE_OF_ADDRESS_LIMIT = 10


def per_address(settings: Settings, name: str, share: int = 1) -> RateLimit:
    return RateLimit(f"{name}-ip", max(1, settings.requests_per_ip_per_minute // share))


def account_of(claims: Caller) -> str:
    # A shop's staff move the shop's money: they share the shop's allowance.
    if claims.merchant_id is not None:
        return f"merchant:{claims.merchant_id}"
    return f"user:{claims.user_id}"


async def limit_money_moves(
    request: Request, claims: Caller, cache: Cache, settings: AppSettings
) -> None:
    """Payments, transfers, refunds and one-time codes: one allowance per account."""
    await enforce(
        cache,
        (
            RateLimit("money-move", settings.money_moves_per_account_per_minute),
            account_of(claims),
        ),
        (per_address(settings, "money-move"), client_ip(request)),
    )


# A household or an office shares one address: ten senders' worth of look-ups a day.
RECIPIENT_LOOKUP_ACCOUNTS_PER_ADDRESS = 10
DAY_SECONDS = 86_400


async def limit_recipient_lookups(
    request: Request, claims: Caller, cache: Cache, settings: AppSettings
) -> None:
    """受取人名義の確認 tells a signed-in resident whether a number is registered: every
    look-up counts, found or not, per account and per address, over a day."""
    per_day = settings.p2p_recipient_lookups_per_day
    await enforce(
        cache,
        (RateLimit("recipient-lookup", per_day, DAY_SECONDS), account_of(claims)),
        (
            RateLimit(
                "recipient-lookup-ip", per_day * RECIPIENT_LOOKUP_ACCOUNTS_PER_ADDRESS, DAY_SECONDS
            ),
            client_ip(request),
        ),
    )


async def limit_applications(request: Request, cache: Cache, settings: AppSettings) -> None:
    """Public shop applications, per address (there is no account yet)."""
    await enforce(
        cache,
        (
            per_address(settings, "application", APPLICATION_SHARE_OF_ADDRESS_LIMIT),
            client_ip(request),
        ),
    )


async def limit_analytics_queries(
    request: Request, claims: Caller, cache: Cache, settings: AppSettings
) -> None:
    """Each query reads the facts and is logged: per analyst and per address."""
    await enforce(
        cache,
        (
            RateLimit("analytics-query", settings.analytics_queries_per_minute),
            f"user:{claims.user_id}",
        ),
        (per_address(settings, "analytics-query"), client_ip(request)),
    )
