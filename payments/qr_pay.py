"""Paying by QR: a shop's sticker (static: the resident types the amount) or a dynamic
code for one charge (its amount is fixed).

Resolving shows the resident whom they pay before they confirm; paying resolves again,
locks the charge if there is one, and pays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from machipay.errors import ValidationFailed
from machipay.settings import Settings
from merchant_api import MerchantView, ParsedQr, resolve_shop_qr
from payments.charges import mark_charge_paid, open_charge
from payments.models import Charge
from payments.rewards import CampaignRewards, no_campaign_rewards
from payments.service import PaymentDone, pay


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
    lock_charge: bool = False,
    now: datetime | None = None,
) -> ResolvedQr:
    """Who a scanned code pays, and for a dynamic code the open charge it names."""
    scanned = await resolve_shop_qr(session, settings, payload)
    charge = None
    if scanned.parsed.dynamic:
        charge = await open_charge(
            session, scanned.parsed, scanned.view.id, lock=lock_charge, now=now
        )
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


async def pay_by_qr(
    session: AsyncSession,
    settings: Settings,
    *,
    resident_id: int,
    payload: str,
    amount: int | None,
    idempotency_key: str,
    rewards: CampaignRewards = no_campaign_rewards,
    use_points: bool = True,
) -> PaymentDone:
    """Pay the shop a scanned code names: points first (oldest expiry first, unless the
    resident keeps them), then money."""
    resolved = await resolve_qr(session, settings, payload, lock_charge=True)
    charge = resolved.charge
    done = await pay(
        session,
        settings,
        resident_id=resident_id,
        merchant=resolved.view,
        amount=amount_to_pay(charge, amount),
        method="dynamic" if charge else "static",
        idempotency_key=idempotency_key,
        charge_id=charge.id if charge else None,
        charge_reference=charge.reference if charge else None,
        # A dynamic code is the till's: whoever showed it took the payment.
        taken_by=charge.created_by if charge else None,
        rewards=rewards,
        use_points=use_points,
    )
    if charge is not None:
        await mark_charge_paid(session, charge, done.payment.id)
    return done
