"""Reading payments back: a shop's day, and the payments and refunds that ledger entries
recorded (the lines of a settlement statement), as plain values for other contexts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from payments.models import Payment, Refund

_CHUNK = 1000  # ids per IN (...): well under every driver's parameter limit


async def payments_on(
    session: AsyncSession, merchant_id: int, start: datetime, end: datetime
) -> list[Payment]:
    return list(
        (
            await session.execute(
                select(Payment)
                .where(
                    Payment.merchant_id == merchant_id,
                    Payment.created_at >= start,
                    Payment.created_at < end,
                )
                .order_by(Payment.id.desc())
            )
        ).scalars()
    )


@dataclass(frozen=True, slots=True)
class PaymentLine:
    reference: str
    amount: int
    points_used: int
    money_used: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RefundLine:
    reference: str
    payment_reference: str
    amount: int
    points_back: int
    money_back: int
    created_at: datetime


async def payments_by_entries(
    session: AsyncSession, entry_ids: Sequence[int]
) -> dict[int, PaymentLine]:
    """The payments that the given ledger entries recorded, by entry id."""
    found: dict[int, PaymentLine] = {}
    for start in range(0, len(entry_ids), _CHUNK):
        chunk = list(entry_ids[start : start + _CHUNK])
        rows = await session.execute(
            select(
                Payment.entry_id,
                Payment.reference,
                Payment.amount,
                Payment.points_used,
                Payment.money_used,
                Payment.created_at,
            ).where(Payment.entry_id.in_(chunk))
        )
        found.update({int(entry_id): PaymentLine(*line) for entry_id, *line in rows})
    return found


async def refunds_by_entries(
    session: AsyncSession, entry_ids: Sequence[int]
) -> dict[int, RefundLine]:
    """The refunds that the given ledger entries recorded, by entry id."""
    found: dict[int, RefundLine] = {}
    for start in range(0, len(entry_ids), _CHUNK):
        chunk = list(entry_ids[start : start + _CHUNK])
        rows = await session.execute(
            select(
                Refund.entry_id,
                Refund.reference,
                Payment.reference,
                Refund.amount,
                Refund.points_back,
                Refund.money_back,
                Refund.created_at,
            )
            .join(Payment, Payment.id == Refund.payment_id)
            .where(Refund.entry_id.in_(chunk))
        )
        found.update({int(entry_id): RefundLine(*line) for entry_id, *line in rows})
    return found
