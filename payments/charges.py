"""Dynamic charges: a shop asks for one amount, shows a QR for it, and it is paid once.

A charge expires after a few minutes; the payment that pays it locks its row first, so
two residents scanning the same code cannot both pay it.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from machipay.settings import Settings
from machipay.timeutil import utcnow
from merchant_api import InvalidQr, ParsedQr, charge_payload
from payments.models import Charge


class ChargeUnusable(InvalidQr):
    type_slug = "charge-unusable"
    title = "This payment code has expired or was already paid"


async def create_charge(
    session: AsyncSession,
    settings: Settings,
    merchant_id: int,
    amount: int,
    *,
    created_by: int | None = None,
) -> tuple[Charge, str]:
    """A new open charge and its QR payload."""
    now = utcnow()
    charge = Charge(
        reference="ch" + secrets.token_hex(10),
        merchant_id=merchant_id,
        amount=amount,
        status="open",
        expires_at=now + timedelta(seconds=settings.charge_ttl_seconds),
        created_at=now,
        created_by=created_by,
    )
    session.add(charge)
    await session.flush()
    payload = await charge_payload(
        session, settings, merchant_id, amount=amount, reference=charge.reference
    )
    return charge, payload


async def open_charge(
    session: AsyncSession,
    parsed: ParsedQr,
    merchant_id: int,
    *,
    lock: bool = False,
    now: datetime | None = None,
) -> Charge:
    """The open charge a dynamic code names, issued by the shop the code names."""
    query = select(Charge).where(Charge.reference == parsed.charge_reference)
    found = await session.execute(query.with_for_update() if lock else query)
    charge = found.scalar_one_or_none()
    if charge is None or charge.merchant_id != merchant_id or charge.amount != parsed.amount:
        raise InvalidQr("This payment code was not issued by this shop.")
    if charge.status != "open":
        raise ChargeUnusable("This payment code was already paid.")
    if charge.expires_at <= (now or utcnow()):
        raise ChargeUnusable("This payment code has expired; ask the shop for a new one.")
    return charge


async def mark_charge_paid(session: AsyncSession, charge: Charge, payment_id: int) -> None:
    charge.status, charge.payment_id = "paid", payment_id
    await session.flush()
