"""Points lots: granted by campaigns and ward benefits, spent oldest-expiry first, expired
lot by lot.

Points are not a prepaid instrument (they are free, from a campaign's or benefit's budget), so
they live in their own ledger account and never move between residents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, bindparam, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

import ledger
from ledger import credit, debit
from machipay.db import UTCDateTime, table_of
from machipay.hotsql import HotStatement
from machipay.timeutil import as_utc, utcnow
from wallet_api.errors import InsufficientPoints, wallet_lock_refusals
from wallet_api.history import history_row, write_history
from wallet_api.models import PointsLot, WalletTransaction

# The payer's lock and the lots it may spend, then the spend: the wallet's own SQL functions
# (wallet_api/sql), the same ones a payment's single call uses.
_LOCK_LOTS = HotStatement(
    text("SELECT lot_id, remaining FROM wallet_lock_lots(:resident, :now)").bindparams(
        bindparam("resident", type_=BigInteger()), bindparam("now", type_=UTCDateTime)
    )
)
_SPEND_LOTS = HotStatement(
    text("SELECT wallet_spend_lots(:reference, :lot_ids, :takes)").bindparams(
        bindparam("lot_ids", type_=ARRAY(BigInteger())),
        bindparam("takes", type_=ARRAY(BigInteger())),
    )
)
_lots = table_of(PointsLot)
_INSERT_LOT_RETURNING_ID = insert(_lots).returning(_lots.c.id)


@dataclass(frozen=True, slots=True)
class LotTake:
    lot_id: int
    amount: int


async def grant_points(
    session: AsyncSession,
    *,
    resident_id: int,
    amount: int,
    campaign_id: int,
    expires_at: datetime,
    idempotency_key: str,
    counterparty: str,
) -> int | None:
    """Credit points from the campaign's budget as a new lot (its id); None if the key was
    posted before."""
    posted = await ledger.post_entry(
        session,
        idempotency_key=idempotency_key,
        kind="points_grant",
        legs=[
            debit(ledger.campaign_budget(campaign_id), amount),
            credit(ledger.resident_points(resident_id), amount),
        ],
    )
    if not posted.created:
        return None
    lot_id = await add_points_lot(
        session,
        resident_id=resident_id,
        amount=amount,
        campaign_id=campaign_id,
        expires_at=expires_at,
        entry_id=posted.id,
        counterparty=counterparty,
        at=utcnow(),
    )
    return lot_id


def lot_row(
    *,
    resident_id: int,
    amount: int,
    campaign_id: int,
    expires_at: datetime,
    entry_id: int,
    at: datetime,
    source_reference: str | None = None,
) -> dict[str, Any]:
    """The row of a new lot, for points already credited by ``entry_id``."""
    return {
        "resident_id": resident_id,
        "amount": amount,
        "remaining": amount,
        "granted_at": at,
        "expires_at": expires_at,
        "campaign_id": campaign_id,
        "entry_id": entry_id,
        "source_reference": source_reference,
    }


async def add_points_lot(
    session: AsyncSession,
    *,
    resident_id: int,
    amount: int,
    campaign_id: int,
    expires_at: datetime,
    entry_id: int,
    counterparty: str,
    at: datetime,
    reference: str | None = None,
    source_reference: str | None = None,
) -> int:
    """Record points already credited by ``entry_id`` as a lot, and show it in the history.

    Returns the lot's id.
    """
    lot = lot_row(
        resident_id=resident_id,
        amount=amount,
        campaign_id=campaign_id,
        expires_at=expires_at,
        entry_id=entry_id,
        at=at,
        source_reference=source_reference,
    )
    lot_id = (await session.execute(_INSERT_LOT_RETURNING_ID, lot)).scalar_one()
    line = history_row(
        resident_id=resident_id,
        reference=reference or f"pg_{entry_id}",
        kind="points_grant",
        amount=amount,
        points_change=amount,
        counterparty=counterparty,
        entry_id=entry_id,
        at=at,
    )
    await write_history(session, [line])
    return int(lot_id)


async def points_credited_for(
    session: AsyncSession, *, resident_id: int, source_reference: str
) -> bool:
    """Whether a lot of points earned by ``source_reference`` (a payment) was written: a
    deferred campaign's grant writes it when the campaign closes."""
    found = await session.execute(
        select(PointsLot.id)
        .where(
            PointsLot.resident_id == resident_id,
            PointsLot.source_reference == source_reference,
        )
        .limit(1)
    )
    return found.first() is not None


async def take_back_from_lot(
    session: AsyncSession, *, resident_id: int, source_reference: str, amount: int, now: datetime
) -> tuple[int, bool]:
    """Take up to ``amount`` unspent points back from the lot a payment's reward granted (a
    revoked reward; ``source_reference`` is the payment's reference).

    Returns what was taken and whether the lot had already expired (its points then went
    to the campaign's breakage; they were not the resident's to spend any more).
    """
    row = (
        await session.execute(
            select(PointsLot.id, PointsLot.remaining, PointsLot.expires_at)
            .where(
                PointsLot.resident_id == resident_id,
                PointsLot.source_reference == source_reference,
            )
            .with_for_update()
        )
    ).first()
    if row is None:
        return 0, False
    expired = as_utc(row.expires_at) <= now
    taken = min(int(row.remaining), amount)
    if taken:
        await session.execute(
            update(PointsLot)
            .where(PointsLot.id == row.id)
            .values(remaining=PointsLot.remaining - taken)
            .execution_options(synchronize_session=False)
        )
    return taken, expired


def choose_takes(
    lots: Sequence[Sequence[Any]], amount: int, *, at_most: bool = False
) -> list[LotTake]:
    """Which live lots (``(id, remaining)``, oldest expiry first) pay ``amount`` points.

    With ``at_most`` it takes what there is, up to ``amount``, instead of refusing.
    """
    takes: list[LotTake] = []
    needed = amount
    for lot_id, remaining in lots:
        if needed == 0:
            break
        used = min(int(remaining), needed)
        takes.append(LotTake(int(lot_id), used))
        needed -= used
    if needed and not at_most:
        raise InsufficientPoints(f"Only {amount - needed} points are available.")
    return takes


async def take_points(
    session: AsyncSession, resident_id: int, amount: int, *, now: datetime, at_most: bool = False
) -> list[LotTake]:
    """Use ``amount`` points from live lots, oldest expiry first (the caller posts the entry).

    With ``at_most`` it takes what there is, up to ``amount``, instead of refusing. The
    statements are built once: this runs on every payment.
    """
    with wallet_lock_refusals():
        lots = await _LOCK_LOTS.rows(session, {"resident": resident_id, "now": now})
    takes = choose_takes(lots, amount, at_most=at_most)
    if takes:
        await _SPEND_LOTS.row(
            session,
            {
                "reference": f"resident {resident_id}",
                "lot_ids": [take.lot_id for take in takes],
                "takes": [take.amount for take in takes],
            },
        )
    return takes


async def give_points_back(
    session: AsyncSession, room: Mapping[int, int], points: int
) -> dict[int, int]:
    """Return up to ``points`` refunded points to the lots they were spent from (``room``:
    how many each lot may take back), latest expiry first, so that no lot is extended.

    Returns what each lot got (the caller checks that it is all).
    """
    latest_expiry_first = (
        select(PointsLot.id)
        .where(PointsLot.id.in_(list(room)))
        .order_by(PointsLot.expires_at.desc(), PointsLot.id.desc())
    )
    order = (await session.execute(latest_expiry_first)).scalars().all()
    given: dict[int, int] = {}
    left = points
    for lot_id in order:
        give = min(room[lot_id], left)
        if give <= 0:
            continue
        await session.execute(
            update(PointsLot)
            .where(PointsLot.id == lot_id)
            .values(remaining=PointsLot.remaining + give)
            .execution_options(synchronize_session=False)
        )
        given[lot_id] = give
        left -= give
        if left == 0:
            break
    return given


async def live_lots(session: AsyncSession, resident_id: int, *, now: datetime) -> list[PointsLot]:
    return list(
        (
            await session.execute(
                select(PointsLot)
                .where(
                    PointsLot.resident_id == resident_id,
                    PointsLot.remaining > 0,
                    PointsLot.expires_at > now,
                )
                .order_by(PointsLot.expires_at, PointsLot.id)
            )
        ).scalars()
    )


async def expire_points(session: AsyncSession, *, now: datetime, limit: int = 10_000) -> int:
    """Expire lots past their date: Dr resident points / Cr the campaign's breakage, per lot."""
    lots = (
        await session.execute(
            select(
                PointsLot.id,
                PointsLot.resident_id,
                PointsLot.remaining,
                PointsLot.campaign_id,
                PointsLot.benefit_id,
            )
            .where(PointsLot.remaining > 0, PointsLot.expires_at <= now)
            .order_by(PointsLot.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for lot_id, resident_id, remaining, campaign_id, benefit_id in lots:
        # The points go back to whoever paid for them: the campaign's or the benefit's
        # breakage (a lot has exactly one source, a CHECK on the table).
        breakage = (
            ledger.campaign_breakage(campaign_id)
            if campaign_id is not None
            else ledger.benefit_breakage(benefit_id)
        )
        await ledger.open_account(session, breakage)
        posted = await ledger.post_entry(
            session,
            idempotency_key=f"points-expiry:{lot_id}",
            kind="points_expiry",
            legs=[
                debit(ledger.resident_points(resident_id), int(remaining)),
                credit(breakage, int(remaining)),
            ],
        )
        await session.execute(
            update(PointsLot)
            .where(PointsLot.id == lot_id)
            .values(remaining=0, expired=PointsLot.expired + int(remaining))
            .execution_options(synchronize_session=False)
        )
        session.add(
            WalletTransaction(
                resident_id=resident_id,
                reference=f"px_{lot_id}",
                kind="points_expiry",
                amount=int(remaining),
                money_change=0,
                points_change=-int(remaining),
                counterparty=None,
                entry_id=posted.id,
                created_at=now,
            )
        )
    await session.flush()
    return len(lots)
