"""Aggregate spending for campaign estimates and effect reports (never one resident)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from payments.models import Payment


@dataclass(frozen=True, slots=True)
class MerchantSpend:
    merchant_id: int
    payments: int
    amount: int  # net of refunds
    money_used: int


async def spend_by_merchant(
    session: AsyncSession, start: datetime, end: datetime
) -> list[MerchantSpend]:
    rows = await session.execute(
        select(
            Payment.merchant_id,
            func.count(),
            func.sum(Payment.amount - Payment.refunded_amount),
            func.sum(Payment.money_used),
        )
        .where(Payment.created_at >= start, Payment.created_at < end)
        .group_by(Payment.merchant_id)
    )
    return [MerchantSpend(int(m), int(n), int(a or 0), int(mu or 0)) for m, n, a, mu in rows]


async def distinct_payers(
    session: AsyncSession, merchant_ids: Collection[int], start: datetime, end: datetime
) -> int:
    if not merchant_ids:
        return 0
    return int(
        (
            await session.execute(
                select(func.count(func.distinct(Payment.resident_id))).where(
                    Payment.merchant_id.in_(merchant_ids),
                    Payment.created_at >= start,
                    Payment.created_at < end,
                )
            )
        ).scalar_one()
    )


async def new_to_shop(
    session: AsyncSession, merchant_ids: Collection[int], start: datetime, end: datetime
) -> int:
    """Distinct residents who paid at one of these shops for the first time ever in
    [start, end): a person new to three shops counts once (a count of residents, so never
    more than the residents who paid)."""
    if not merchant_ids:
        return 0
    earlier = aliased(Payment)
    newcomers = (
        select(Payment.resident_id)
        .where(
            Payment.merchant_id.in_(merchant_ids),
            Payment.created_at >= start,
            Payment.created_at < end,
            ~exists().where(
                and_(
                    earlier.resident_id == Payment.resident_id,
                    earlier.merchant_id == Payment.merchant_id,
                    earlier.created_at < start,
                )
            ),
        )
        .distinct()
        .subquery()
    )
    return int((await session.execute(select(func.count()).select_from(newcomers))).scalar_one())
