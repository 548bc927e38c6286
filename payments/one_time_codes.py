"""Consumer-presented codes (CPM): the resident shows a one-time number, the shop captures it.

An 18-digit code lives in the cache for 60 seconds, bound to one resident, and is taken
(get-and-delete) by the first capture, so it can pay once at most. The code's deadline is
stored with its owner and judged by the product's clock; the cache's TTL clears it later.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from machipay.cache import CLEAN_UP_GRACE_SECONDS, CacheBackend, RateLimit
from machipay.errors import ValidationFailed
from machipay.settings import Settings
from machipay.timeutil import utcnow
from merchant_api import MerchantView
from payments.rewards import CampaignRewards, no_campaign_rewards
from payments.service import PaymentDone, pay
from wallet_api import require_wallet_can_move_money

CODE_PREFIX = "98"  # keeps codes apart from other schemes' numbers at a shared till


class CodeUnusable(ValidationFailed):
    type_slug = "code-unusable"
    title = "This payment code is unknown, expired or already used"


_MONEY_ONLY = "@money"


def _key(code: str) -> str:
    return f"cpm:{code}"


async def issue_code(
    session: AsyncSession,
    cache: CacheBackend,
    settings: Settings,
    resident_id: int,
    *,
    use_points: bool = True,
) -> tuple[str, datetime]:
    """A code for the till; ``use_points=False``: the payment it makes spends money only
    (the resident decided before showing it, the shop cannot)."""
    # A frozen wallet gets no code: the code is a payment waiting to happen (the capture
    # passes the gate again, in pay).
    await require_wallet_can_move_money(session, resident_id)
    await RateLimit("one-time-code", settings.one_time_codes_per_minute).hit(
        cache, str(resident_id)
    )
    ttl = settings.one_time_code_ttl_seconds
    expires_at = utcnow() + timedelta(seconds=ttl)
    value = f"{resident_id}@{expires_at.timestamp()!r}" + ("" if use_points else _MONEY_ONLY)
    while True:
        code = CODE_PREFIX + f"{secrets.randbelow(10**16):016d}"
        if await cache.set_if_absent(_key(code), value, ttl + CLEAN_UP_GRACE_SECONDS):
            return code, expires_at


async def take_code(cache: CacheBackend, code: str) -> tuple[int, bool]:
    """The resident a code belongs to, and whether its payment may spend points; the code
    is gone afterwards."""
    if not (len(code) == 18 and code.isdigit()):
        raise CodeUnusable("A payment code is 18 digits.")
    taken = await cache.take(_key(code))
    use_points = not (taken or "").endswith(_MONEY_ONLY)
    if not use_points:
        taken = (taken or "").removesuffix(_MONEY_ONLY)
    owner, _, expires_at = (taken or "").partition("@")
    # A code stored without its deadline (issued by a worker of the previous release during
    # a rolling deploy) is judged by its TTL alone.
    if not owner or (expires_at and float(expires_at) <= utcnow().timestamp()):
        raise CodeUnusable("This payment code is unknown, has expired or was already used.")
    return int(owner), use_points


async def pay_by_code(
    session: AsyncSession,
    cache: CacheBackend,
    settings: Settings,
    *,
    shop: MerchantView,
    code: str,
    amount: int,
    idempotency_key: str,
    taken_by: int | None = None,
    rewards: CampaignRewards = no_campaign_rewards,
) -> PaymentDone:
    """The shop takes ``amount`` from the resident whose code it scanned or typed;
    ``taken_by`` is the shop's user at the till."""
    resident_id, use_points = await take_code(cache, code)
    return await pay(
        session,
        settings,
        resident_id=resident_id,
        merchant=shop,
        amount=amount,
        method="cpm",
        idempotency_key=f"cpm:{shop.id}:{idempotency_key}",
        taken_by=taken_by,
        rewards=rewards,
        use_points=use_points,
    )
