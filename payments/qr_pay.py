"""Paying by QR: a shop's sticker (static: the resident types the amount) or a dynamic
code for one charge (its amount is fixed).

Resolving shows the resident whom they pay before they confirm; paying reads the shop again
in its first call (with the key's claim and the payer's lock), locks the charge if there is
one, and pays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from machipay.db import UTCDateTime
from machipay.errors import ValidationFailed
from machipay.hotsql import HotStatement
from machipay.settings import Settings
from machipay.timeutil import utcnow
from merchant_api import (
    MerchantView,
    ParsedQr,
    ScannedShop,
    parse_shop_qr,
    resolve_shop_qr,
    scanned_shop,
)
from payments.charges import mark_charge_paid, open_charge
from payments.models import Charge
from payments.rewards import CampaignRewards, no_campaign_rewards
from payments.service import LockedPayer, PaymentClaim, PaymentDone, pay
from wallet_api import wallet_lock_refusals


@dataclass(frozen=True, slots=True)
class ResolvedQr:
    parsed: ParsedQr
    charge: Charge | None
    view: MerchantView  # what the resident sees, and what a campaign looks at


async def resolve_qr(
    session: AsyncSession,
    settings: Settings,
    payload: str,
    *,
    now: datetime | None = None,
) -> ResolvedQr:
    """Who a scanned code pays, and for a dynamic code the open charge it names."""
    scanned = await resolve_shop_qr(session, settings, payload)
    charge = None
    if scanned.parsed.dynamic:
        charge = await open_charge(session, scanned.parsed, scanned.view.id, lock=False, now=now)
    return ResolvedQr(scanned.parsed, charge, scanned.view)


def amount_to_pay(charge: Charge | None, amount: int | None) -> int:
    """A dynamic code fixes the amount (the resident may send it again, or nothing); a
    sticker needs the resident's own."""
    if charge is not None:
        if amount is not None and amount != charge.amount:
            raise ValidationFailed(
                "This code is for a fixed amount; omit amount or send that amount.",
                field="amount",
            )
        return charge.amount
    if amount is None:
        raise ValidationFailed("Enter the amount to pay this shop.", field="amount")
    return amount


# The claim, the shop and the payer's lock in one round trip (payments/sql/payment_open.sql).
_OPEN = HotStatement(
    text(
        "SELECT record_id, stored_hash, stored_status, stored_body, merchant_id, merchant_name,"
        " shopping_street_id, category, store_type, merchant_status, street_name, district_id,"
        " lot_ids, lot_remaining FROM payment_open(:scope, :key, :request_hash, :created_at,"
        " :public_id, :resident, :now)"
    ).bindparams(
        bindparam("created_at", type_=UTCDateTime),
        bindparam("now", type_=UTCDateTime),
        bindparam("resident", type_=BigInteger()),
    )
)


async def open_qr_payment(
    session: AsyncSession,
    settings: Settings,
    *,
    resident_id: int,
    payload: str,
    claim: PaymentClaim,
) -> tuple[ScannedShop, LockedPayer]:
    """The payment's first call: claim the key (a replay stops here), read the shop the code
    names (refused if it cannot take payments) and lock the payer with their live lots."""
    parsed = parse_shop_qr(settings, payload)
    now = utcnow()
    with wallet_lock_refusals():
        found = await _OPEN.row(
            session,
            {
                **claim.request.claim_arguments(),
                "public_id": parsed.merchant_public_id,
                "resident": resident_id,
                "now": now,
            },
        )
    assert found is not None
    claim.request.claimed(found[:4])
    scanned = scanned_shop(parsed, found[4:12])
    # The lots as wallet_lock_lots returned them, in two arrays (lot ids, remaining).
    return scanned, LockedPayer(now, list(zip(found[12], found[13], strict=True)))


async def pay_by_qr(
    session: AsyncSession,
    settings: Settings,
    *,
    resident_id: int,
    payload: str,
    amount: int | None,
    claim: PaymentClaim,
    rewards: CampaignRewards = no_campaign_rewards,
    use_points: bool = True,
) -> PaymentDone:
    """Pay the shop a scanned code names: points first (oldest expiry first, unless the
    resident keeps them), then money. The resident's Idempotency-Key is claimed by the first
    call and answered by the last (``claim``)."""
    scanned, locked = await open_qr_payment(
        session, settings, resident_id=resident_id, payload=payload, claim=claim
    )
    charge = None
    if scanned.parsed.dynamic:
        # After the payer's lock, as every path that takes both takes them.
        charge = await open_charge(session, scanned.parsed, scanned.view.id, lock=True)
    done = await pay(
        session,
        settings,
        resident_id=resident_id,
        merchant=scanned.view,
        amount=amount_to_pay(charge, amount),
        method="dynamic" if charge else "static",
        idempotency_key=claim.request.key,
        charge_id=charge.id if charge else None,
        charge_reference=charge.reference if charge else None,
        # A dynamic code is the till's: whoever showed it took the payment.
        taken_by=charge.created_by if charge else None,
        rewards=rewards,
        use_points=use_points,
        locked=locked,
        claim=claim,
    )
    if charge is not None:
        await mark_charge_paid(session, charge, done.payment.id)
    return done
