"""The counter's day-end cash-up (精算・現金照合): taking cash is one clerk's act, so at the
end of the day one member of desk staff declares the cash counted at their counter and a
*different* person — another desk member or an officer — confirms it. The confirmation
adds up that day's counter top-ups at that counter (``desk_top_ups``, by the office on
their receipts, Tokyo day) and records the difference (過不足: counted − expected), in the
cash-up's row and in the append-only ``desk_audit``. The declarer does not see the
expected sum before declaring (a blind count). Nothing here commits.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from desk.errors import CashUpConflict, CashUpDayInvalid, CashUpNotFound, CashUpSelfConfirm
from desk.models import DeskCashUp, DeskTopUp
from desk.service import audit, staff_card
from machipay.text import nfkc
from machipay.timeutil import to_tokyo, tokyo_day_bounds, utcnow

# The oldest day a cash-up may still be declared for (a counter closed over a long holiday
# is counted on its next working day).
MAX_DAYS_BACK = 31


def _checked_day(day: date) -> date:
    today = to_tokyo(utcnow()).date()
    if day > today:
        raise CashUpDayInvalid("A cash-up is declared at the end of the day, not before.")
    if (today - day).days > MAX_DAYS_BACK:
        raise CashUpDayInvalid(f"A cash-up is declared within {MAX_DAYS_BACK} days.")
    return day


async def declare(
    session: AsyncSession, *, staff_id: int, day: date, counted: int, note: str | None
) -> DeskCashUp:
    """The cash counted at the declarer's counter (their staff card's office) for ``day``.
    One cash-up per counter and day: a second is 409 (the difference, if any, is what the
    confirmation records)."""
    _checked_day(day)
    _name, office = await staff_card(session, staff_id)
    text = nfkc(note or "").strip() or None
    existing = (
        await session.execute(
            select(DeskCashUp.id).where(DeskCashUp.office == office, DeskCashUp.day == day)
        )
    ).scalar_one_or_none()
    if existing is not None:
        raise CashUpConflict(
            f"{office} の {day.isoformat()} の精算は申告済みです（No.{existing}）。"
        )
    cash_up = DeskCashUp(
        office=office,
        day=day,
        status="declared",
        counted=counted,
        note=text,
        declared_by=staff_id,
        declared_at=utcnow(),
    )
    session.add(cash_up)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:  # declared at the same moment by a colleague
        raise CashUpConflict(f"{office} の {day.isoformat()} の精算は申告済みです。") from None
    await audit(
        session,
        staff_id=staff_id,
        action="cash_declare",
        reason=text or "精算の申告",
        resident_id=None,
        detail={
            "cash_up_id": cash_up.id,
            "office": office,
            "day": day.isoformat(),
            "counted": counted,
        },
    )
    return cash_up


async def expected_cash(session: AsyncSession, office: str, day: date) -> tuple[int, int]:
    """(sum, number) of the counter top-ups taken at ``office`` on the Tokyo ``day``."""
    start, end = tokyo_day_bounds(day)
    total, count = (
        await session.execute(
            select(func.coalesce(func.sum(DeskTopUp.amount), 0), func.count()).where(
                DeskTopUp.office == office,
                DeskTopUp.created_at >= start,
                DeskTopUp.created_at < end,
            )
        )
    ).one()
    return int(total), int(count)


async def confirm(session: AsyncSession, *, staff_id: int, cash_up_id: int) -> DeskCashUp:
    """The second person's confirmation: whoever declared it cannot (403). Compares the
    count with the day's top-ups at the counter and records the difference."""
    cash_up = (
        await session.execute(
            select(DeskCashUp).where(DeskCashUp.id == cash_up_id).with_for_update()
        )
    ).scalar_one_or_none()
    if cash_up is None:
        raise CashUpNotFound(f"No cash-up {cash_up_id}.")
    if cash_up.declared_by == staff_id:
        raise CashUpSelfConfirm("Whoever declared a cash-up cannot confirm it: ask a colleague.")
    if cash_up.status != "declared":
        raise CashUpConflict(f"Cash-up {cash_up_id} is already {cash_up.status}.")
    expected, top_ups = await expected_cash(session, cash_up.office, cash_up.day)
    cash_up.status = "confirmed"
    cash_up.confirmed_by = staff_id
    cash_up.confirmed_at = utcnow()
    cash_up.expected = expected
    cash_up.top_ups = top_ups
    cash_up.difference = cash_up.counted - expected
    await session.flush()
    await audit(
        session,
        staff_id=staff_id,
        action="cash_confirm",
        reason="精算の確認" if not cash_up.difference else "精算の確認（過不足あり）",
        resident_id=None,
        detail={
            "cash_up_id": cash_up.id,
            "office": cash_up.office,
            "day": cash_up.day.isoformat(),
            "counted": cash_up.counted,
            "expected": expected,
            "top_ups": top_ups,
            "difference": cash_up.difference,
            "declared_by": cash_up.declared_by,
        },
    )
    return cash_up


async def list_cash_ups(
    session: AsyncSession, *, status: str | None, limit: int
) -> list[DeskCashUp]:
    query = select(DeskCashUp).order_by(DeskCashUp.id.desc()).limit(limit)
    if status is not None:
        query = query.where(DeskCashUp.status == status)
    return list((await session.execute(query)).scalars())
